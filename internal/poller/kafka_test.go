package poller

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
)

// TestRejectsThroughKafka: on the real broker, an undecodable answer is set aside to the
// rejects topic once, with its request and error in the headers, and the documents and state
// of the period read afterwards are committed.
func TestRejectsThroughKafka(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	cfg.Kafka.Retention = 100000 * time.Hour
	testenv.DeleteTopicsWithPrefix(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, testenv.Kafka(t, cfg), cfg.Kafka, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	topics := kafka.TopicsFor(cfg.Kafka.TopicPrefix)
	source := usage.PollerSource("test") + "/" + cfg.Kafka.TopicPrefix
	tx, err := kafka.NewTxPublisher(ctx, kafka.TxConfig{Brokers: cfg.Kafka.Brokers, Topics: topics, Source: source,
		Prefix: cfg.Kafka.TopicPrefix, Clock: clock.NewManual(clock.Instants[0])}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	bad := &DecodeError{Request: "GET http://nova/os-simple-tenant-usage", Payload: []byte("<html>oops"), Err: errors.New("invalid character '<'")}
	p := &script{steps: []step{{err: bad}, {err: bad}, {b: Batch{Docs: []usage.Document{doc("a")}, State: []byte("s1")}}}}
	pub := TxPublisher{P: tx}
	if _, err := runWith(t, p, pub); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if err := kafka.Settled(ctx, kadm.NewClient(testenv.Kafka(t, cfg)), topics.PollerRejects, topics.Collected, topics.PollerState); err != nil {
		t.Fatal(err)
	}
	recs, err := kafka.Committed(ctx, cfg.Kafka.Brokers, topics.PollerRejects)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || string(recs[0].Value) != "<html>oops" || string(recs[0].Key) != source {
		t.Fatalf("rejects %v, want the payload once", recs)
	}
	headers := map[string]string{}
	for _, h := range recs[0].Headers {
		headers[h.Key] = string(h.Value)
	}
	if headers[kafka.HeaderPollerRequest] != bad.Request || headers[kafka.HeaderError] != "invalid character '<'" || headers[kafka.HeaderPollerSource] != source {
		t.Errorf("headers %v", headers)
	}
	events, err := kafka.Committed(ctx, cfg.Kafka.Brokers, topics.Collected)
	if err != nil || len(events) != 1 {
		t.Errorf("events %d (%v), want 1", len(events), err)
	}
	if st, ok, err := pub.LastState(ctx); err != nil || !ok || string(st) != "s1" {
		t.Errorf("state %q (%v, %v), want s1", st, ok, err)
	}
}
