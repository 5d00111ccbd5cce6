package kafka

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/testenv"
)

// TestProduceReturnsAtCtxEndWhileTheBrokerIsDown: with the broker cut after a first record,
// Produce returns ctx's error when ctx ends (kgo's ProduceSync, through the idempotent
// producer, would wait for the broker to come back); once it is back, a record is produced
// again, and the one produced during the outage is there at most once.
func TestProduceReturnsAtCtxEndWhileTheBrokerIsDown(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	testenv.DeleteTopicsWithPrefix(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := EnsureTopics(ctx, testenv.Kafka(t, cfg), cfg.Kafka, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	topic := TopicsFor(cfg.Kafka.TopicPrefix).DeadLetter // one partition
	outage := &testenv.Outage{}
	cl, err := NewClient(cfg.Kafka.Brokers, zap.NewNop(), outage.Dialer())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rec := func(v string) *kgo.Record { return &kgo.Record{Topic: topic, Value: []byte(v)} }
	if err := Produce(ctx, cl, rec("before")); err != nil {
		t.Fatal(err)
	}

	outage.Cut()
	dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
	err = Produce(dctx, cl, rec("during"), rec("during"))
	dcancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Produce during the outage: %v, want its context's deadline", err)
	}

	outage.Restore()
	if err := Produce(ctx, cl, rec("after")); err != nil {
		t.Fatalf("Produce once the broker is back: %v", err)
	}
	recs, err := Committed(ctx, cfg.Kafka.Brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range recs {
		got[string(r.Value)]++
	}
	if got["before"] != 1 || got["after"] != 1 || got["during"] > 2 {
		t.Errorf("records %v, want before and after once each, during twice or not at all", got)
	}
}
