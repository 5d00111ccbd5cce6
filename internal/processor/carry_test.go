package processor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

const gib = 1073741824

// containerDoc is a linux container document: instance of org started running gb GB of
// memory at at.
func containerDoc(org, instance string, at time.Time, gb int64) usage.Document {
	ms := at.UnixMilli()
	return usage.Document{Start: ms, End: ms, OrganizationID: org, SpaceID: "space", ConsumerID: "app:1",
		ResourceID: "linux-container", PlanID: "basic", ResourceInstanceID: instance,
		MeasuredUsage: []usage.Measure{
			{Measure: "current_instance_memory", Quantity: decimal.NewFromInt(gb * gib)},
			{Measure: "current_running_instances", Quantity: decimal.NewFromInt(1)},
			{Measure: "previous_instance_memory", Quantity: decimal.Zero},
			{Measure: "previous_running_instances", Quantity: decimal.Zero},
		}}
}

// TestCarryThroughKafka: on the real broker, instances started late in a month, with no
// further document in their partition, get the month's remaining hours and every hour, day
// and month cell of the next month once the pinned clock passes it: the processor's own tick
// records carry them. The carry goes in batches (a small CarryBatch, so that a pass takes
// several transactions, some of no input), and the processor crashes between two batches
// (the second's records produced, never committed); a new processor with the same
// transactional id fences it, restores the pass's progress from the changelog and finishes:
// every cell ends at its exact value. Across Jan→Feb and Dec→Jan.
func TestCarryThroughKafka(t *testing.T) {
	for _, c := range []struct {
		name  string
		start time.Time // the instances start, half an hour before the month's last hour
	}{
		{"jan-feb", time.Date(2026, 1, 31, 22, 30, 0, 0, time.UTC)},
		{"dec-jan", time.Date(2025, 12, 31, 22, 30, 0, 0, time.UTC)},
	} {
		t.Run(c.name, func(t *testing.T) { testCarryThroughKafka(t, c.start) })
	}
}

func testCarryThroughKafka(t *testing.T, start time.Time) {
	const instances, gb = 8, 2
	f := newFixture(t, start)
	next := time.Date(start.Year(), start.Month()+1, 1, 0, 0, 0, 0, time.UTC) // the next month
	after := next.AddDate(0, 1, 0)                                            // and the one after
	org := "org-carry"
	for i := range instances {
		d := containerDoc(org, fmt.Sprintf("app-%d", i), start, gb)
		f.publish(t, &meterlinev1.UsageEvent{Id: d.ID(), Source: "test", Document: d.Proto()}, start.UnixMilli())
	}
	group := testenv.Name("processor")
	cfg := f.config(group, 0)
	cfg.CarryBatch = 10 // an instance's carry into a new month changes a few cells at each of 7 scopes
	newService := func() *Service {
		s, err := New(cfg, f.cat, f.cat, zaptest.NewLogger(t), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// run runs s until stop, or until it fails: stop(false) waits for that.
	run := func(s *Service) (stop func(cancel bool) error) {
		ctx, cancel := context.WithCancel(f.ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		return func(stop bool) error {
			if stop {
				cancel()
			}
			defer cancel()
			return <-done
		}
	}

	first := newService()
	var armed atomic.Bool
	var produced atomic.Int32
	first.afterProduce = func() error {
		// Transactions produced while the pass of the next month is under way (as the
		// transaction before left it): the first two batches commit, the third crashes.
		if armed.Load() && first.carryPending() && produced.Add(1) == 2 {
			return testenv.ErrCrash
		}
		return nil
	}
	stopFirst := run(first)
	quiet(t, f, first, group, start)
	armed.Store(true)
	f.clock.Set(next.Add(30 * time.Second))
	if err := stopFirst(false); !errors.Is(err, testenv.ErrCrash) {
		t.Fatalf("first processor: %v, want the simulated crash", err)
	}
	if produced.Load() < 2 {
		t.Fatal("the first processor did not crash between batches")
	}

	// The crash came between batches: the committed state holds the pass under way, and how
	// far it went, which the next processor resumes from.
	second := newService()
	pending := 0
	for p := range f.cfg.Kafka.Partitions {
		st, err := second.restore(f.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if pr := st.cells.CarryProgress(); pr.Pending && pr.After != "" && pr.Hour == next.UnixMilli() {
			pending++
		}
	}
	if pending != 1 {
		t.Fatalf("%d partitions with a carry pass into %s under way after the crash, want the organization's", pending, next)
	}
	stopSecond := run(second)
	quiet(t, f, second, group, next)
	f.clock.Set(after.Add(30 * time.Second))
	quiet(t, f, second, group, after)
	if err := stopSecond(true); err != nil {
		t.Fatalf("second processor: %v", err)
	}

	// The newest rated value of each memory cell of the linux container plan, as GB-hours.
	meter, ok := f.cat.MeteringPlan("basic-linux-container")
	if !ok {
		t.Fatal("no basic-linux-container plan")
	}
	type cell struct {
		scope, instance, level string
		from                   int64
	}
	latest := map[cell]*meterlinev1.RatedUsage{}
	readRated(t, f.ctx, f.cfg.Kafka.Brokers, f.topics.RatedBatch, func(ru *meterlinev1.RatedUsage) {
		if ru.OrganizationId == org && ru.Metric == "memory" && ru.Plan != "" {
			latest[cell{ru.Scope, ru.ResourceInstanceId, ru.Level, ru.PeriodStartMs}] = ru
		}
	})
	report := after.Add(time.Hour).UnixMilli()
	gbHours := func(c cell) string {
		t.Helper()
		ru, ok := latest[c]
		if !ok {
			return "none"
		}
		v, err := metering.ValueFromProto(ru.Quantity)
		if err != nil {
			t.Fatal(err)
		}
		s, err := meter.Summarize(meter.Metric("memory"), report, v, ru.PeriodStartMs, ru.PeriodEndMs)
		if err != nil {
			t.Fatal(err)
		}
		return plans.Round(s).(decimal.Decimal).String()
	}
	check := func(c cell, want int64) {
		t.Helper()
		if got := gbHours(c); got != fmt.Sprint(want) {
			t.Errorf("%s %s %s from %s = %s GB-hours, want %d", c.scope, c.instance, c.level,
				time.UnixMilli(c.from).UTC().Format(time.RFC3339), got, want)
		}
	}
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	for i := range instances {
		inst := fmt.Sprintf("app-%d", i)
		// The start's month: from 22:30 to its end, 1.5 hours.
		check(cell{"instance", inst, "hour", ms(start.Truncate(time.Hour))}, gb/2)
		check(cell{"instance", inst, "hour", ms(next.Add(-time.Hour))}, gb)
		check(cell{"instance", inst, "month", ms(time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC))}, 3)
		// Every hour and day of the next month, and the month, with no document.
		for h := next; h.Before(after); h = h.Add(time.Hour) {
			check(cell{"instance", inst, "hour", ms(h)}, gb)
			if h.Hour() == 0 {
				check(cell{"instance", inst, "day", ms(h)}, 24*gb)
			}
		}
		check(cell{"instance", inst, "month", ms(next)}, int64(after.Sub(next)/time.Hour)*gb)
		// Carried into the month after by the last tick, and no further.
		check(cell{"instance", inst, "hour", ms(after)}, gb)
		if got := gbHours(cell{"instance", inst, "hour", ms(after.Add(time.Hour))}); got != "none" {
			t.Errorf("%s: an hour past the stream time = %s, want none", inst, got)
		}
	}
	check(cell{"organization", "", "month", ms(next)}, instances*int64(after.Sub(next)/time.Hour)*gb)
	check(cell{"organization", "", "day", ms(next.AddDate(0, 0, 9))}, instances*24*gb)

}

// quiet waits until every partition of f's collected topic has a tick of at least at's
// minute (written by s's tick writer), s's group has consumed them all, and no carry pass of
// s is under way: the processor has carried everything up to that tick.
func quiet(t *testing.T, f fixture, s *Service, group string, at time.Time) {
	t.Helper()
	want := at.Truncate(time.Minute).UnixMilli()
	ticked := map[int32]bool{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.cfg.Kafka.Brokers...), kgo.ConsumeTopics(f.topics.Collected),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for len(ticked) < int(f.cfg.Kafka.Partitions) {
		fetches := cl.PollFetches(f.ctx)
		if f.ctx.Err() != nil {
			t.Fatalf("no tick of %s in every partition (%v)", at, ticked)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if ms, err := kafka.TickTime(r); kafka.IsTick(r) && err == nil && ms >= want {
				ticked[r.Partition] = true
			}
		})
	}
	adm := kadm.NewClient(f.cl)
	for {
		lags, err := adm.Lag(f.ctx, group)
		if l, ok := lags[group]; err == nil && ok && l.Error() == nil && len(l.Lag) > 0 && l.Lag.Total() == 0 &&
			!s.carryPending() && !committedPending(t, f, s) {
			return
		}
		if f.ctx.Err() != nil {
			t.Fatalf("the processor did not catch up with the tick of %s", at)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// committedPending reports whether the committed state of a partition of f, as a restore
// reads it, has a carry pass under way.
func committedPending(t *testing.T, f fixture, s *Service) bool {
	t.Helper()
	for p := range f.cfg.Kafka.Partitions {
		st, err := s.restore(f.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if st.cells.CarryPending() {
			return true
		}
	}
	return false
}
