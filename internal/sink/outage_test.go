package sink

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/testenv"
)

// TestRawSinkRidesOutABrokerOutage: the broker goes away right after the sink wrote its first
// batch (before the batch's offsets are committed), for longer than the group's session
// timeout (15s) and the commit's 30s, and comes back. Run does not return; Ready names the
// broker meanwhile; the sink then writes what is published after the return, copies of
// documents it had written among them: usage_events holds every document once, even without
// FINAL, and the sink is ready again.
func TestRawSinkRidesOutABrokerOutage(t *testing.T) {
	f := newSinkFixture(t)
	ctx, cl, topics := f.ctx, f.cl, f.topics
	pub := kafka.NewPublisher(cl, topics.Collected)
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			ev := event(i)
			if _, err := pub.PublishAt(ctx, ev, storedAt(ev)); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(0, 1000)

	group := testenv.Name("sink")
	outage := &testenv.Outage{}
	events := clickhouse.NewEvents(f.conn)
	s, err := NewRaw(Config{Brokers: f.cfg.Kafka.Brokers, Topic: topics.Collected, Group: group, DeadLetter: topics.DeadLetter,
		BatchSize: 200, FlushInterval: 200 * time.Millisecond, KafkaOpts: []kgo.Opt{outage.Dialer()}},
		events, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	cut := make(chan struct{})
	var once sync.Once
	s.afterWrite = func() error {
		once.Do(func() { outage.Cut(); close(cut) })
		return nil
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()

	select {
	case <-cut:
	case err := <-done:
		t.Fatalf("Run returned before the outage: %v", err)
	}
	if err := s.Ready(ctx); err == nil {
		t.Error("ready while the broker is cut")
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned during the outage: %v", err)
	case <-time.After(35 * time.Second): // past the session timeout and the commit's timeout
	}
	outage.Restore()
	publish(800, 2000) // 200 copies of documents written before

	testenv.CaughtUp(t, ctx, cl, group, done)
	if err := s.Ready(ctx); err != nil {
		t.Errorf("not ready after catching up: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v, want nil", err)
	}
	checkOnce(t, ctx, events, 2000)
}
