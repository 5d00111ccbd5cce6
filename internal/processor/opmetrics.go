package processor

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meterline/meterline/internal/kafka"
)

// opMetrics are what an operator watches of the processor's transactions: how long they take,
// what they consume and produce (per input document, divided by a recording rule), and the
// group's lag.
type opMetrics struct {
	txnSeconds    *prometheus.HistogramVec
	consumed      prometheus.Counter
	producedRecs  *prometheus.CounterVec
	producedBytes *prometheus.CounterVec
}

func newOpMetrics(reg prometheus.Registerer, group string, client func() *kgo.Client) (*opMetrics, error) {
	if err := reg.Register(kafka.NewLagCollector(group, "processor", client)); err != nil {
		return nil, err
	}
	f := promauto.With(reg)
	return &opMetrics{
		txnSeconds: f.NewHistogramVec(prometheus.HistogramOpts{Name: "meterline_processor_transaction_seconds",
			Help:    "Time from beginning a transaction to its end, by outcome (committed, aborted).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"outcome"}),
		consumed: f.NewCounter(prometheus.CounterOpts{Name: "meterline_processor_consumed_records_total",
			Help: "Input records (usage documents and ticks) the processor's transactions consumed."}),
		producedRecs: f.NewCounterVec(prometheus.CounterOpts{Name: "meterline_processor_produced_records_total",
			Help: "Records the processor's transactions produced, by topic kind (rated, rejected, changelog)."}, []string{"kind"}),
		producedBytes: f.NewCounterVec(prometheus.CounterOpts{Name: "meterline_processor_produced_bytes_total",
			Help: "Bytes (key and value) the processor's transactions produced, by topic kind (rated, rejected, changelog)."}, []string{"kind"}),
	}, nil
}

// kind names the topic of the records the processor produces.
func (s *Service) kind(topic string) string {
	switch topic {
	case s.cfg.Topics.Rated, s.cfg.Topics.RatedBatch:
		return "rated"
	case s.cfg.Topics.Rejected:
		return "rejected"
	case s.cfg.Topics.Changelog:
		return "changelog"
	}
	return "other"
}

// producing counts r, produced in the open transaction.
func (s *Service) producing(r *kgo.Record) {
	k := s.kind(r.Topic)
	s.ops.producedRecs.WithLabelValues(k).Inc()
	s.ops.producedBytes.WithLabelValues(k).Add(float64(len(r.Key) + len(r.Value)))
}

// txnEnded observes the duration of the transaction begun at start (the wall clock: this is
// a speed, not a time the pipeline records).
func (s *Service) txnEnded(start time.Time, committed bool) {
	outcome := "aborted"
	if committed {
		outcome = "committed"
	}
	s.ops.txnSeconds.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
}
