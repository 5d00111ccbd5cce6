package processor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/testenv"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// TestBrokerOutage: the broker goes away right after a transaction's records were produced,
// for longer than the client's request timeout, the transaction's timeout and the time the
// processor waits for a transaction to flush and end, and comes back.
// Run does not return; the processor recovers (a new session, the state restored from the
// changelog), reports the failure through Ready meanwhile, and processes what is published
// after the return, with copies of what it had before: every document counts exactly once.
func TestBrokerOutage(t *testing.T) {
	f := newFixture(t, clock.Instants[0])
	now := f.at.UnixMilli()
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			d := objectDoc("org-outage", "i1", now-int64(i+1)*1000)
			f.publish(t, &meterlinev1.UsageEvent{Id: d.ID(), Source: "test", Document: d.Proto()}, now)
		}
	}
	publish(0, 5)

	group := testenv.Name("processor")
	cut := &testenv.Outage{}
	cfg := f.config(group, 0)
	cfg.KafkaOpts = []kgo.Opt{cut.Dialer(), kgo.TransactionTimeout(5 * time.Second)}
	reg := prometheus.NewRegistry()
	s, err := New(cfg, f.cat, f.cat, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	s.endTimeout = 10 * time.Second // the outage outlasts the flush of the transaction
	restored := make(chan struct{})
	var once sync.Once
	s.afterProduce = func() error {
		once.Do(func() {
			cut.Cut()
			go func() {
				// Longer than the request timeout (10s) and than the transaction timeout, which
				// the broker enforces every 10s.
				time.Sleep(25 * time.Second)
				cut.Restore()
				close(restored)
			}()
		})
		return nil
	}
	ctx, stop := context.WithCancel(f.ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	select {
	case <-restored:
	case err := <-done:
		t.Fatalf("Run returned during the outage: %v", err)
	}
	publish(3, 10) // three copies of documents published before

	testenv.CaughtUp(t, f.ctx, f.cl, group, done)
	if err := s.Ready(f.ctx); err != nil {
		t.Errorf("not ready after catching up: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v, want nil", err)
	}
	if n := testutil.ToFloat64(s.metrics.recoveries); n < 1 {
		t.Errorf("%v Kafka failures recovered from, want the outage's", n)
	}

	checkLightCalls(t, f, "org-outage", 10)
}

// checkLightCalls checks that the committed month cell of org's thousands of light API calls
// (one per object storage document of the month before f's instant) is want.
func checkLightCalls(t *testing.T, f fixture, org string, want int64) {
	t.Helper()
	month, _ := metering.Month.Period(f.at.UnixMilli() - 1000)
	key := metering.CellKey{Scope: metering.ScopeOrganization, Org: org, Resource: "object-storage",
		Plan:   metering.PlanKey("basic", "basic-object-storage", "object-rating-plan", "object-pricing-basic"),
		Metric: "thousand_light_api_calls", Level: metering.Month, From: month}
	if v, ok := committedCells(t, f)[key].(decimal.Decimal); !ok || !v.Equal(decimal.NewFromInt(want)) {
		t.Errorf("thousands of light API calls this month = %v, want %d (the distinct documents once each)", v, want)
	}
}

// TestRestoreFailureIsRiddenOut: restoring the state of the first partition assigned fails
// (as it would with the broker gone at that moment). Run does not return: the session is
// replaced, the new one restores its partitions, and every document counts once.
func TestRestoreFailureIsRiddenOut(t *testing.T) {
	f := newFixture(t, clock.Instants[1])
	now := f.at.UnixMilli()
	for i := range 5 {
		d := objectDoc("org-restore", "i1", now-int64(i+1)*1000)
		f.publish(t, &meterlinev1.UsageEvent{Id: d.ID(), Source: "test", Document: d.Proto()}, now)
	}
	group := testenv.Name("processor")
	s, err := New(f.config(group, 0), f.cat, f.cat, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s.beforeRestore = testenv.CrashAt(1)
	ctx, stop := context.WithCancel(f.ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	testenv.CaughtUp(t, wctx, f.cl, group, done)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v, want nil", err)
	}
	if n := testutil.ToFloat64(s.metrics.recoveries); n != 1 {
		t.Errorf("%v Kafka failures recovered from, want the failed restore", n)
	}
	checkLightCalls(t, f, "org-restore", 5)
}
