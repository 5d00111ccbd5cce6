// Package pollertest holds test helpers shared by the pollers' tests.
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
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// ExactlyOnce is what ExactlyOnceThroughKafka runs.
type ExactlyOnce struct {
	// Provider is read at Clock; Start is where its first run starts.
	Provider poller.Provider
	Clock    *clock.Manual
	Start    time.Time
	// Source names the poller (its transactional id and state key); Prefix is appended.
	Source string
	// Due is the clock at which Periods periods are due; Later is when one more is.
	Due, Later time.Time
	Periods    int
}

// ExactlyOnceThroughKafka runs a provider on the real broker: an instance that dies between
// the second period's events and its state leaves nothing of that period visible; the next
// instance reads the first period's state, polls on, and the committed events are every
// period's documents exactly once. A third instance fences the second, whose Run then stops
// with ErrFenced without publishing.
func ExactlyOnceThroughKafka(t *testing.T, x ExactlyOnce) {
	t.Helper()
	cfg := testenv.Get(t).Config(t)
	cfg.Kafka.Retention = 100000 * time.Hour // records stamped at a pinned instant months ago
	testenv.DeleteTopicsWithPrefix(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, testenv.Kafka(t, cfg), cfg.Kafka, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	topics := kafka.TopicsFor(cfg.Kafka.TopicPrefix)
	x.Clock.Set(x.Due)
	source := x.Source + "-" + cfg.Kafka.TopicPrefix
	poll := func(st []byte) poller.Batch {
		t.Helper()
		b, err := x.Provider.Poll(ctx, st, x.Clock.Now())
		if err != nil || b.Idle {
			t.Fatalf("poll at %s: %v (idle %v)", x.Clock.Now(), err, b.Idle)
		}
		return b
	}
	var want []string
	st, err := x.Provider.Initial(x.Start)
	if err != nil {
		t.Fatal(err)
	}
	for range x.Periods {
		b := poll(st)
		for _, d := range b.Docs {
			want = append(want, d.ID())
		}
		st = b.State
	}
	slices.Sort(want)

	newPublisher := func() *kafka.TxPublisher {
		t.Helper()
		p, err := kafka.NewTxPublisher(ctx, kafka.TxConfig{Brokers: cfg.Kafka.Brokers, Topics: topics, Source: source,
			Prefix: cfg.Kafka.TopicPrefix, Clock: x.Clock}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	run := func(pub *kafka.TxPublisher) error {
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		pcfg := poller.Config{Source: source, Interval: time.Minute, Start: x.Start, Slack: 48 * time.Hour, Clock: x.Clock,
			Sleep: func(ctx context.Context, _ time.Duration) error {
				stop() // the first wait: caught up, or a failure; either ends this run
				return ctx.Err()
			}}
		return poller.Run(rctx, pcfg, x.Provider, poller.TxPublisher{P: pub}, zaptest.NewLogger(t))
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
	if state, ok, err := second.LastState(ctx); err != nil || !ok || string(state) != string(st) {
		t.Errorf("state %s (found %v, %v), want %s", state, ok, err, st)
	}
	x.Clock.Set(x.Later)
	third := newPublisher()
	if err := run(second); !errors.Is(err, poller.ErrFenced) {
		t.Fatalf("second instance after the third started: %v, want ErrFenced", err)
	}
	check()
	if err := run(third); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	for _, d := range poll(st).Docs {
		want = append(want, d.ID())
	}
	slices.Sort(want)
	check()
}
