package sink

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/testenv"
)

// TestRawSinkLagMetrics: the sink's group shows its lag per partition, at 0 once every record
// is written, and the write lag of each row (a tick has none) is the pinned clock's time less
// the record's stored time.
func TestRawSinkLagMetrics(t *testing.T) {
	env := testenv.Get(t)
	cfg := env.Config(t)
	cfg.Kafka.Retention = 100000 * time.Hour // records stamped months before today
	testenv.DeleteTopicsWithPrefix(t, cfg)
	conn := testenv.ClickHouse(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := testenv.Kafka(t, cfg)
	if err := kafka.EnsureTopics(ctx, cl, cfg.Kafka, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	topics := kafka.TopicsFor(cfg.Kafka.TopicPrefix)
	pub := kafka.NewPublisher(cl, topics.Collected)
	const docs = 5
	var last time.Time
	var stored []time.Time
	for i := range docs {
		ev := event(3 * i)
		at := storedAt(ev)
		if _, err := pub.PublishAt(ctx, ev, at); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, at)
		if at.After(last) {
			last = at
		}
	}
	// A tick is no usage: it has no row, and no write lag.
	if err := cl.ProduceSync(ctx, kafka.TickRecord(topics.Collected, 0, last.UnixMilli())).FirstErr(); err != nil {
		t.Fatal(err)
	}
	now := last.Add(90 * time.Second)
	group := testenv.Name("sink")
	reg := prometheus.NewPedanticRegistry()
	events := clickhouse.NewEvents(conn)
	s, err := NewRaw(Config{Brokers: cfg.Kafka.Brokers, Topic: topics.Collected, Group: group, DeadLetter: topics.DeadLetter,
		BatchSize: 2, FlushInterval: 100 * time.Millisecond, Clock: clock.NewManual(now)}, events, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, ctx, s.Run)
	defer stop()
	for {
		total, parts := 0.0, 0
		for p := range cfg.Kafka.Partitions {
			l, err := kafka.Gauge(reg, "meterline_kafka_consumer_lag_records", map[string]string{"group": group, "consumer": "rawsink", "topic": topics.Collected, "partition": strconv.Itoa(int(p))})
			if err != nil {
				t.Fatal(err)
			}
			if l >= 0 {
				parts++
				total += l
			}
		}
		if parts == int(cfg.Kafka.Partitions) && total == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the sink's lag never reached 0 on every partition: %v over %d partitions", total, parts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	checkOnce(t, ctx, events, docs)
	count, sum := histogramOf(t, reg, "meterline_sink_write_lag_seconds", "rawsink")
	want := 0.0
	for _, at := range stored {
		want += now.Sub(at).Seconds()
	}
	if count != docs || sum != want {
		t.Errorf("write lag: %d observations summing %vs, want %d summing %vs", count, sum, docs, want)
	}
}

// histogramOf is the count and sum of the histogram name of the sink.
func histogramOf(t *testing.T, reg prometheus.Gatherer, name, sink string) (uint64, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if mf.GetName() == name && l.GetName() == "sink" && l.GetValue() == sink {
					return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
				}
			}
		}
	}
	t.Fatalf("no %s{sink=%q}", name, sink)
	return 0, 0
}
