package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// TestTxPublisher: events and state are committed together or not at all. A publisher that
// crashes between the two writes leaves neither (read committed) once the next instance of its
// source has started; that instance reads no state, publishes again and both are there; a
// third instance fences the second, whose publish then fails and leaves nothing.
func TestTxPublisher(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	cfg.Kafka.Retention = 100000 * time.Hour // records stamped at a pinned instant months ago
	testenv.DeleteTopicsWithPrefix(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := EnsureTopics(ctx, testenv.Kafka(t, cfg), cfg.Kafka, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	topics := TopicsFor(cfg.Kafka.TopicPrefix)
	at := clock.Instants[2]
	source := usage.PollerSource("test") + "/1"
	newPublisher := func() *TxPublisher {
		t.Helper()
		p, err := NewTxPublisher(ctx, TxConfig{Brokers: cfg.Kafka.Brokers, Topics: topics, Source: source,
			Prefix: cfg.Kafka.TopicPrefix, Clock: clock.NewManual(at)}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	events := func(from, to int) []*meterlinev1.UsageEvent {
		var evs []*meterlinev1.UsageEvent
		for i := from; i < to; i++ {
			end := at.Add(-time.Hour).UnixMilli()
			d := usage.Document{Start: end, End: end, OrganizationID: fmt.Sprintf("org-%d", i%3), SpaceID: "s",
				ResourceID: "r", PlanID: "p", ResourceInstanceID: "ri", DedupID: fmt.Sprintf("test:%d", i),
				MeasuredUsage: []usage.Measure{{Measure: "m", Quantity: decimal.NewFromInt(int64(i))}}}
			ev, err := usage.NewEvent(d, source, at, "")
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		return evs
	}
	adm := kadm.NewClient(testenv.Kafka(t, cfg))
	check := func(wantState string, want []*meterlinev1.UsageEvent) {
		t.Helper()
		if err := Settled(ctx, adm, topics.Collected, topics.PollerState); err != nil {
			t.Fatal(err)
		}
		state, ok, err := LastState(ctx, cfg.Kafka.Brokers, topics.PollerState, source, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		if got := string(state); ok != (wantState != "") || got != wantState {
			t.Errorf("state %q (found %v), want %q", got, ok, wantState)
		}
		var got, wantIDs []string
		recs, err := Committed(ctx, cfg.Kafka.Brokers, topics.Collected)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			var ev meterlinev1.UsageEvent
			if err := DecodeEvent(r, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.GetStoredMs() != at.UnixMilli() {
				t.Errorf("event %s stored at %d, want the clock's %d", ev.GetId(), ev.GetStoredMs(), at.UnixMilli())
			}
			got = append(got, ev.GetId())
		}
		for _, ev := range want {
			wantIDs = append(wantIDs, ev.GetId())
		}
		slices.Sort(got)
		slices.Sort(wantIDs)
		if !slices.Equal(got, wantIDs) {
			t.Errorf("committed events %q, want %q", got, wantIDs)
		}
	}

	first := newPublisher()
	first.afterEvents = testenv.CrashAt(1)
	if err := first.Publish(ctx, events(0, 5), []byte("cursor-5")); !errors.Is(err, testenv.ErrCrash) {
		t.Fatalf("first publish: %v, want the simulated crash", err)
	}
	// The first instance is gone without ending its transaction; the next one starts.
	second := newPublisher()
	if state, ok, err := second.LastState(ctx); err != nil || ok {
		t.Fatalf("state after the crash: %q (found %v, %v), want none", state, ok, err)
	}
	check("", nil)

	if err := second.Publish(ctx, events(0, 5), []byte("cursor-5")); err != nil {
		t.Fatal(err)
	}
	check("cursor-5", events(0, 5))

	third := newPublisher()
	if err := second.Publish(ctx, events(5, 8), []byte("cursor-8")); !errors.Is(err, ErrFenced) {
		t.Fatalf("publish of a fenced instance: %v, want ErrFenced", err)
	}
	check("cursor-5", events(0, 5))
	if state, ok, err := third.LastState(ctx); err != nil || !ok || string(state) != "cursor-5" {
		t.Fatalf("third instance reads state %q (found %v, %v), want cursor-5", state, ok, err)
	}
	if err := third.Publish(ctx, events(5, 8), []byte("cursor-8")); err != nil {
		t.Fatal(err)
	}
	if err := third.Publish(ctx, nil, []byte("cursor-9")); err != nil { // a cursor moved past nothing
		t.Fatal(err)
	}
	check("cursor-9", events(0, 8))
}
