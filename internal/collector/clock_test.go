package collector_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/collector"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/testenv"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

type accountsOf map[string]string

func (a accountsOf) AccountID(org string) string { return a[org] }

// TestClockPinsReceivedAndStored: the collector's clock gives a document's received time and
// the timestamp of its record (its stored time), at each of the pinned instants.
func TestClockPinsReceivedAndStored(t *testing.T) {
	for _, at := range clock.Instants {
		t.Run(at.Format(time.RFC3339Nano), func(t *testing.T) {
			clk := clock.NewManual(at)
			pub := &fakePublisher{}
			org := "us-south:54257f98-83f0-4eca-ae04-9ea35277a538"
			s := newServerWith(t, collector.Config{Clock: clk}, pub, &fakeArchive{}, accountsOf{org: "acc-1"})
			checkStatus(t, s.post(t, sampleDoc), http.StatusCreated)
			_, events := pub.published()
			if len(events) != 1 {
				t.Fatalf("%d events published, want 1", len(events))
			}
			ev := events[0]
			if ev.GetReceivedMs() != at.UnixMilli() || !pub.stamps[0].Equal(at) {
				t.Errorf("received %d, record stamped %v; want both %v", ev.GetReceivedMs(), pub.stamps[0], at)
			}
			if ev.GetAccountId() != "acc-1" || ev.GetSource() != collector.Source || ev.GetStoredMs() != 0 {
				t.Errorf("published %v, want account acc-1, source %s and no stored_ms (the record's timestamp is)", ev, collector.Source)
			}
		})
	}
}

// TestStoredTimeIsTheRecordTimestamp runs the collector on the real broker with a pinned clock:
// the record Kafka keeps carries the clock's time, which readers take as the stored time, and
// which the collector answers a GET with.
func TestStoredTimeIsTheRecordTimestamp(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	cfg.Kafka.Retention = 100000 * time.Hour // records stamped months ago must stay
	testenv.DeleteTopicsWithPrefix(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := testenv.Kafka(t, cfg)
	if err := kafka.EnsureTopics(ctx, cl, cfg.Kafka, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	topic := kafka.TopicsFor(cfg.Kafka.TopicPrefix).Collected
	pubCl, err := kafka.NewClient(cfg.Kafka.Brokers, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer pubCl.Close()
	at := clock.Instants[1]
	s := newServer(t, collector.Config{Clock: clock.NewManual(at)}, kafka.NewPublisher(pubCl, topic), nil)
	checkStatus(t, s.post(t, sampleDoc), http.StatusCreated)
	if got := s.get(t, idOf(t, sampleDoc)).header.Get("Meterline-Stored"); got != strconv.FormatInt(at.UnixMilli(), 10) {
		t.Errorf("Meterline-Stored %q, want %d", got, at.UnixMilli())
	}

	reader := testenv.Kafka(t, cfg, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var rec *kgo.Record
	for rec == nil && ctx.Err() == nil {
		reader.PollFetches(ctx).EachRecord(func(r *kgo.Record) { rec = r })
	}
	if rec == nil {
		t.Fatal("the record was not read back")
	}
	if !rec.Timestamp.Equal(at) {
		t.Errorf("record timestamp %v, want %v", rec.Timestamp, at)
	}
	var ev meterlinev1.UsageEvent
	if err := kafka.DecodeEvent(rec, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.GetStoredMs() != at.UnixMilli() || ev.GetReceivedMs() != at.UnixMilli() {
		t.Errorf("decoded received %d, stored %d; want both %d", ev.GetReceivedMs(), ev.GetStoredMs(), at.UnixMilli())
	}
}
