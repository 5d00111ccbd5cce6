package sink

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/testenv"
)

// TestRawSinkSkipsTicks: the processor's tick records, between documents and alone in
// partitions with no usage, are no usage: usage_events holds the documents only, nothing is
// set aside, and the sink commits its offsets past every tick (its group has no lag).
func TestRawSinkSkipsTicks(t *testing.T) {
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
	const docs = 10 // of one organization: one partition; the others get ticks only
	for i := range docs {
		ev := event(7 * i)
		if _, err := pub.PublishAt(ctx, ev, storedAt(ev)); err != nil {
			t.Fatal(err)
		}
		for p := range cfg.Kafka.Partitions {
			if err := cl.ProduceSync(ctx, kafka.TickRecord(topics.Collected, p, storedAt(ev).UnixMilli())).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	group := testenv.Name("sink")
	reg := prometheus.NewRegistry()
	events := clickhouse.NewEvents(conn)
	s, err := NewRaw(Config{Brokers: cfg.Kafka.Brokers, Topic: topics.Collected, Group: group, DeadLetter: topics.DeadLetter,
		BatchSize: 4, FlushInterval: 100 * time.Millisecond}, events, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, ctx, s.Run)
	adm := kadm.NewClient(cl)
	for {
		lags, err := adm.Lag(ctx, group)
		if l, ok := lags[group]; err == nil && ok && l.Error() == nil && len(l.Lag[topics.Collected]) == int(cfg.Kafka.Partitions) && l.Lag.Total() == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the raw sink did not commit past the ticks: %v %v", lags, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	checkOnce(t, ctx, events, docs)
	if n := deadLettered(t, reg, "rawsink"); n != 0 {
		t.Errorf("%v records set aside, want none: a tick is no bad record", n)
	}
}
