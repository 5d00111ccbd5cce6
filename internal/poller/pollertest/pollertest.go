// Package pollertest holds what the tests of every provider package share: reading a
// provider without Kafka, and the exactly-once check of a provider through the real broker.
package pollertest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// Poll polls p once from st at clk's now, failing the test on an error.
func Poll(t testing.TB, p poller.Provider, st []byte, clk clock.Clock) poller.Batch {
	t.Helper()
	b, err := p.Poll(context.Background(), st, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// IDs returns the ids of docs.
func IDs(docs []usage.Document) []string {
	out := make([]string, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.ID())
	}
	return out
}

// ExactlyOnce is a provider to run through the real broker.
type ExactlyOnce struct {
	Provider poller.Provider
	Clock    *clock.Manual
	// Initial is the provider's state of a first run (what Provider.Initial(Start) gives).
	Initial []byte
	// Start is where the poller's first run starts.
	Start time.Time
	// Slack is the metering slack the poller runs with.
	Slack time.Duration
	// Source names the poller: its source, with the test's topic prefix appended.
	Source func(suffix string) string
	// Due and Periods: at Due, Periods periods are due; at Later, one more.
	Due     time.Time
	Periods int
	Later   time.Time
}

// Run checks e: an instance that dies between a period's events and its state (the second
// period) leaves nothing of that period visible; the next instance reads the first period's
// state, polls on, and the committed events are every period's documents exactly once. A
// third instance fences the second, whose Run then stops with ErrFenced without publishing.
func (e ExactlyOnce) Run(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	cfg.Kafka.Retention = 100000 * time.Hour // records stamped at a pinned instant months ago
	testenv.DeleteTopicsWithPrefix(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, testenv.Kafka(t, cfg), cfg.Kafka, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	topics := kafka.TopicsFor(cfg.Kafka.TopicPrefix)
	e.Clock.Set(e.Due)
	source := e.Source("sim-" + cfg.Kafka.TopicPrefix)

	// What the periods hold, read without Kafka.
	var want []string
	st := e.Initial
	for range e.Periods {
		b := Poll(t, e.Provider, st, e.Clock)
		want = append(want, IDs(b.Docs)...)
		st = b.State
	}
	slices.Sort(want)

	newPublisher := func() *kafka.TxPublisher {
		t.Helper()
		p, err := kafka.NewTxPublisher(ctx, kafka.TxConfig{Brokers: cfg.Kafka.Brokers, Topics: topics, Source: source,
			Prefix: cfg.Kafka.TopicPrefix, Clock: e.Clock}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	// run polls through pub until the poller waits for a period not due yet, or a crash ends it.
	run := func(pub *kafka.TxPublisher) error {
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		pcfg := poller.Config{Source: source, Interval: time.Minute, Start: e.Start, Slack: e.Slack, Clock: e.Clock,
			Sleep: func(ctx context.Context, d time.Duration) error {
				stop() // the first wait: caught up, or a failure; either ends this run
				return ctx.Err()
			}}
		return poller.Run(rctx, pcfg, e.Provider, poller.TxPublisher{P: pub}, zaptest.NewLogger(t))
	}

	first := newPublisher()
	first.CrashAfterEvents(testenv.CrashAt(2))
	if err := run(first); !errors.Is(err, context.Canceled) {
		t.Fatalf("first instance: %v, want it stopped at the crash", err)
	}
	second := newPublisher() // fences the first and aborts its open transaction
	if err := run(second); !errors.Is(err, context.Canceled) {
		t.Fatalf("second instance: %v", err)
	}
	adm := kadm.NewClient(testenv.Kafka(t, cfg))
	check := func() {
		t.Helper()
		if err := kafka.Settled(ctx, adm, topics.Collected, topics.PollerState); err != nil {
			t.Fatal(err)
		}
		recs, err := kafka.Committed(ctx, cfg.Kafka.Brokers, topics.Collected)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range recs {
			var ev meterlinev1.UsageEvent
			if err := kafka.DecodeEvent(r, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.GetSource() != source {
				t.Errorf("event %s from %q, want %q", ev.GetId(), ev.GetSource(), source)
			}
			got = append(got, ev.GetId())
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("committed events (%d)\n%q\nwant (%d)\n%q", len(got), got, len(want), want)
		}
	}
	check()
	state, ok, err := second.LastState(ctx)
	if err != nil || !ok || string(state) != string(st) {
		t.Errorf("state %s (found %v, %v), want %s", state, ok, err, st)
	}

	// A third instance takes over; the second, polling a new period, is fenced.
	e.Clock.Set(e.Later)
	third := newPublisher()
	if err := run(second); !errors.Is(err, poller.ErrFenced) {
		t.Fatalf("second instance after the third started: %v, want ErrFenced", err)
	}
	check()
	if err := run(third); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	b := Poll(t, e.Provider, st, e.Clock)
	want = append(want, IDs(b.Docs)...)
	slices.Sort(want)
	check()
}
