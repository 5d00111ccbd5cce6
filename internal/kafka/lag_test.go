package kafka

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meterline/meterline/internal/testenv"
)

// TestLagCollector: the lag of a group is the end offset less its commit, per partition, as
// records are produced and the group commits; a group Kafka does not answer for reads as down.
func TestLagCollector(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	testenv.DeleteTopicsWithPrefix(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := testenv.Kafka(t, cfg, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	topic := cfg.Kafka.TopicPrefix + ".lag.v1"
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(strconv.Itoa(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	group := testenv.Name("lag")
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewLagCollector(group, "test", func() *kgo.Client { return cl }))
	commit := func(p0, p1 int64) {
		t.Helper()
		var o kadm.Offsets
		o.AddOffset(topic, 0, p0, -1)
		o.AddOffset(topic, 1, p1, -1)
		if err := adm.CommitAllOffsets(ctx, group, o); err != nil {
			t.Fatal(err)
		}
	}
	// A scrape asks the broker under lagTimeout; on a loaded broker one may time out (and
	// read as down), so the scrape is repeated, up to 30 times, until it shows want.
	check := func(want0, want1 float64) {
		t.Helper()
		var problems []string
		for tries := 1; ; tries++ {
			problems = problems[:0]
			for p, want := range []float64{want0, want1} {
				g, err := Gauge(reg, "meterline_kafka_consumer_lag_records", map[string]string{"group": group, "consumer": "test", "topic": topic, "partition": strconv.Itoa(p)})
				if err != nil || g != want {
					problems = append(problems, fmt.Sprintf("partition %d: lag %v (%v), want %v", p, g, err, want))
				}
			}
			if up, err := Gauge(reg, "meterline_kafka_consumer_lag_up", map[string]string{"group": group, "consumer": "test"}); err != nil || up != 1 {
				problems = append(problems, fmt.Sprintf("up %v (%v), want 1", up, err))
			}
			if len(problems) == 0 || tries == 30 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		for _, p := range problems {
			t.Error(p)
		}
	}
	commit(1, 0) // partition 0 holds 4 records, partition 1 three
	check(3, 3)
	commit(4, 2)
	check(0, 1)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("more")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	check(1, 1)
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("the lag metrics do not lint: %v %v", problems, err)
	}

	down, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	dreg := prometheus.NewRegistry()
	dreg.MustRegister(NewLagCollector(group, "test", func() *kgo.Client { return down }))
	if up, err := Gauge(dreg, "meterline_kafka_consumer_lag_up", map[string]string{"group": group, "consumer": "test"}); err != nil || up != 0 {
		t.Errorf("up %v (%v) without Kafka, want 0", up, err)
	}
}
