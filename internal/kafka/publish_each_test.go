package kafka

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// TestPublishEachAt produces events in one call through the real broker and reads them back:
// each answered on its own, stamped with the given time, decoded to the same event. A call
// whose context has ended answers each event with the context's error.
func TestPublishEachAt(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	cfg.Kafka.Retention = 100000 * time.Hour // records stamped at a pinned instant months ago
	testenv.DeleteTopicsWithPrefix(t, cfg)
	cl := testenv.Kafka(t, cfg, kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx := t.Context()
	if err := EnsureTopics(ctx, cl, cfg.Kafka, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	topic := TopicsFor(cfg.Kafka.TopicPrefix).Collected
	at := clock.Instants[2]
	var evs []*meterlinev1.UsageEvent
	for i := range 5 {
		end := at.Add(-time.Hour).UnixMilli()
		d := usage.Document{Start: end, End: end, OrganizationID: "org", SpaceID: "s", ResourceID: "r", PlanID: "p",
			ResourceInstanceID: fmt.Sprintf("ri-%d", i), MeasuredUsage: []usage.Measure{{Measure: "m", Quantity: decimal.NewFromInt(int64(i))}}}
		ev, err := usage.NewEvent(d, "test", at, "")
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	pub := NewPublisher(cl, topic)
	stored, errs := pub.PublishEachAt(ctx, evs, at)
	for i := range evs {
		if errs[i] != nil || !stored[i].Equal(at) {
			t.Fatalf("event %d: stored %v, %v; want stored at %v", i, stored[i], errs[i], at)
		}
	}
	recs, err := Committed(ctx, cfg.Kafka.Brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*meterlinev1.UsageEvent{}
	for _, r := range recs {
		var ev meterlinev1.UsageEvent
		if err := DecodeEvent(r, &ev); err != nil {
			t.Fatal(err)
		}
		byID[ev.GetId()] = &ev
	}
	if len(byID) != len(evs) {
		t.Fatalf("%d distinct events in the topic, want %d", len(byID), len(evs))
	}
	for _, want := range evs {
		got := byID[want.GetId()]
		want := proto.Clone(want).(*meterlinev1.UsageEvent)
		want.StoredMs = at.UnixMilli()
		if !proto.Equal(got, want) {
			t.Errorf("event %s read back as %v, want %v", want.GetId(), got, want)
		}
	}

	ended, stop := context.WithCancel(ctx)
	stop()
	_, errs = pub.PublishEachAt(ended, evs[:2], at)
	for i, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("event %d with an ended context: %v, want context.Canceled", i, err)
		}
	}
}
