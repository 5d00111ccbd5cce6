package kafka

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// lagTimeout bounds the Kafka requests of one scrape of a LagCollector.
const lagTimeout = 5 * time.Second

// LagCollector exports a consumer group's lag, per topic and partition, as Kafka itself knows
// it: the partition's end offset (its high watermark) less the offset the group committed.
// It is computed at scrape time with kadm (describe the group, fetch its commits, list the end
// offsets), the way kafka-consumer-groups does, not from the consumer's own fetch positions:
// what the group committed is what a restart resumes from, so the lag counts what is neither
// processed nor safe yet, and it is known for partitions no member of this process owns (a
// crashed member's, during a rebalance) and while the consumer is stuck. End offsets count
// transaction markers, so a group caught up on a transactional topic may show a few offsets.
type LagCollector struct {
	group  string
	client func() *kgo.Client
	lag    *prometheus.Desc
	up     *prometheus.Desc
}

// NewLagCollector returns the collector of group's lag, labelled with the group and the
// consumer's name (processor, rawsink, ...: the sink label of the sinks' metrics), asking
// Kafka through client (a func: the processor replaces its client after a Kafka failure).
func NewLagCollector(group, consumer string, client func() *kgo.Client) *LagCollector {
	constLabels := prometheus.Labels{"group": group, "consumer": consumer}
	return &LagCollector{group: group, client: client,
		lag: prometheus.NewDesc("meterline_kafka_consumer_lag_records",
			"Records of the partition the consumer group has not committed yet: the partition's end offset less the group's committed offset.",
			[]string{"topic", "partition"}, constLabels),
		up: prometheus.NewDesc("meterline_kafka_consumer_lag_up",
			"1 when the last scrape could compute the consumer group's lag, 0 when Kafka did not answer.",
			nil, constLabels),
	}
}

// Describe implements prometheus.Collector.
func (c *LagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.lag; ch <- c.up }

// Collect implements prometheus.Collector.
func (c *LagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	up := 0.0
	if cl := c.client(); cl != nil {
		c.collect(ctx, cl, ch, &up)
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
}

func (c *LagCollector) collect(ctx context.Context, cl *kgo.Client, ch chan<- prometheus.Metric, up *float64) {
	lags, err := kadm.NewClient(cl).Lag(ctx, c.group)
	if l, ok := lags[c.group]; err == nil && ok && l.Error() == nil {
		*up = 1
		for topic, parts := range l.Lag {
			for p, ml := range parts {
				if ml.Err != nil || ml.Lag < 0 {
					continue
				}
				ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(ml.Lag), topic, strconv.Itoa(int(p)))
			}
		}
	}
}
