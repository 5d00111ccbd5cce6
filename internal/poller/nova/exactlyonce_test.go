package nova

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/testenv"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// TestExactlyOnceThroughKafka runs the Nova poller on the real broker: an instance that dies
// between a window's events and its state (the second window) leaves nothing of that window
// visible; the next instance reads the first window's state, polls on, and the committed
// events are every window's documents exactly once. A third instance fences the second,
// whose Run then stops with ErrFenced without publishing.
func TestExactlyOnceThroughKafka(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	cfg.Kafka.Retention = 100000 * time.Hour // records stamped at a pinned instant months ago
	testenv.DeleteTopicsWithPrefix(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, testenv.Kafka(t, cfg), cfg.Kafka, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	topics := kafka.TopicsFor(cfg.Kafka.TopicPrefix)
	c := newCloud(t, fleet(), 2)
	c.clk.Set(h0.Add(4*time.Hour + 15*time.Minute)) // windows h0 … h0+3h are due
	source := Source("sim-" + cfg.Kafka.TopicPrefix)

	// What the windows hold, read without Kafka.
	var want []string
	st := c.initial(t)
	for range 4 {
		b := c.poll(t, st)
		for _, d := range b.Docs {
			want = append(want, d.ID())
		}
		st = b.State
	}
	slices.Sort(want)

	newPublisher := func() *kafka.TxPublisher {
		t.Helper()
		p, err := kafka.NewTxPublisher(ctx, kafka.TxConfig{Brokers: cfg.Kafka.Brokers, Topics: topics, Source: source,
			Prefix: cfg.Kafka.TopicPrefix, Clock: c.clk}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	// run polls through pub until the poller waits for a window not due yet, or crash ends it.
	run := func(pub *kafka.TxPublisher) error {
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		pcfg := poller.Config{Source: source, Interval: time.Minute, Start: h0.Add(-time.Minute), Slack: 48 * time.Hour, Clock: c.clk,
			Sleep: func(ctx context.Context, d time.Duration) error {
				stop() // the first wait: caught up, or a failure; either ends this run
				return ctx.Err()
			}}
		return poller.Run(rctx, pcfg, c.p, poller.TxPublisher{P: pub}, zaptest.NewLogger(t))
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

	// A third instance takes over; the second, polling a new window, is fenced.
	c.clk.Set(h0.Add(5*time.Hour + 15*time.Minute))
	third := newPublisher()
	if err := run(second); !errors.Is(err, poller.ErrFenced) {
		t.Fatalf("second instance after the third started: %v, want ErrFenced", err)
	}
	check()
	if err := run(third); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	b := c.poll(t, st)
	for _, d := range b.Docs {
		want = append(want, d.ID())
	}
	slices.Sort(want)
	check()
}
