package metering_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/usage"
)

const gib = 1073741824

// memoryDoc is a linux container document of instance "app" of org at time at: gb GB of
// memory running now, prevGB before.
func memoryDoc(org string, at time.Time, gb, prevGB int64) *usage.Document {
	ms := at.UnixMilli()
	return &usage.Document{Start: ms, End: ms, OrganizationID: org, SpaceID: "space", ConsumerID: "app:1",
		ResourceID: "linux-container", PlanID: "basic", ResourceInstanceID: "app",
		MeasuredUsage: []usage.Measure{
			{Measure: "current_instance_memory", Quantity: decimal.NewFromInt(gb * gib)},
			{Measure: "current_running_instances", Quantity: decimal.NewFromInt(min(gb, 1))},
			{Measure: "previous_instance_memory", Quantity: decimal.NewFromInt(prevGB * gib)},
			{Measure: "previous_running_instances", Quantity: decimal.NewFromInt(min(prevGB, 1))},
		}}
}

// carrier runs documents and stream time through an engine as the processor does: each
// document at its stored time, the carry before and after it (and of its instance first
// while a pass is under way), one transaction each.
type carrier struct {
	t      *testing.T
	cat    *catalog.Catalog
	engine *metering.Engine
	cells  *metering.Cells
}

func newCarrier(t *testing.T) *carrier {
	cat := builtinCatalog(t)
	return &carrier{t: t, cat: cat, cells: metering.NewCells(),
		engine: &metering.Engine{Plans: cat, Acceptance: metering.Acceptance{Slack: 100 * 24 * time.Hour, Future: time.Minute}}}
}

// at moves stream time to stored and applies doc (nil: a tick), then commits.
func (c *carrier) at(stored time.Time, doc *usage.Document) {
	c.t.Helper()
	through := stored.Add(time.Minute).UnixMilli()
	if err := c.engine.Carry(c.cells, through, false); err != nil {
		c.t.Fatal(err)
	}
	if doc != nil {
		if err := c.engine.CarryFor(doc, c.cells, false); err != nil {
			c.t.Fatal(err)
		}
		if err := c.engine.Meter(doc, stored.UnixMilli(), c.cells); err != nil {
			c.t.Fatal(err)
		}
		if err := c.engine.Carry(c.cells, through, false); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := c.engine.Rate(c.cells); err != nil {
		c.t.Fatal(err)
	}
	c.cells.Commit()
}

// summary returns the GB-hours of the memory cell of scope at level l whose period holds at,
// as a report at time t reads it ("none" without a cell).
func (c *carrier) summary(org string, scope metering.Scope, l metering.Level, at, t time.Time) string {
	c.t.Helper()
	from, to := l.Period(at.UnixMilli())
	got := "none"
	meter, ok := c.cat.MeteringPlan("basic-linux-container")
	if !ok {
		c.t.Fatal("no basic-linux-container plan")
	}
	c.cells.Each(func(k metering.CellKey, v any) {
		if k.Org != org || k.Scope != scope || k.Level != l || k.From != from || k.Metric != "memory" || k.Plan == "" {
			return
		}
		s, err := meter.Summarize(meter.Metric("memory"), t.UnixMilli(), v, from, to)
		if err != nil {
			c.t.Fatal(err)
		}
		got = plans.Round(s).(decimal.Decimal).String()
	})
	return got
}

func utc(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }

// TestCarryAcrossMonths: an instance that runs through a month with no document counts in
// every hour, day and month it runs in, at every scope, across Jan→Feb, Dec→Jan and a leap
// February; stopped, it is carried no further, and a late stop (within the slack) takes
// back what was carried after it.
func TestCarryAcrossMonths(t *testing.T) {
	for _, c := range []struct {
		name                string
		start, tick, report time.Time // the start, a later stream time, the report time
		month               string    // GB-hours of the month after the start's
		day                 string    // of that month's first day
	}{
		{"jan-feb", utc(2027, 1, 15, 12), utc(2027, 3, 1, 0), utc(2027, 3, 1, 0), "1344", "48"},
		{"dec-jan", utc(2026, 12, 31, 0), utc(2027, 2, 1, 0), utc(2027, 2, 1, 0), "1488", "48"},
		{"leap-feb", utc(2028, 1, 31, 12), utc(2028, 3, 1, 0), utc(2028, 3, 1, 0), "1392", "48"},
		{"mid-month", utc(2027, 1, 15, 12), utc(2027, 2, 10, 0), utc(2027, 2, 10, 0), "432", "48"}, // 9 days of February
	} {
		t.Run(c.name, func(t *testing.T) {
			cr := newCarrier(t)
			cr.at(c.start.Add(time.Second), memoryDoc("org", c.start, 2, 0))
			cr.at(c.tick.Add(30*time.Second), nil)
			next := time.Date(c.start.Year(), c.start.Month()+1, 1, 0, 0, 0, 0, time.UTC)
			startMonthEnd := next
			wantFirst := decimal.NewFromInt(2 * int64(startMonthEnd.Sub(c.start)/time.Hour)).String()
			for _, scope := range []metering.Scope{metering.ScopeInstance, metering.ScopeConsumer, metering.ScopeSpace, metering.ScopeOrganization} {
				if got := cr.summary("org", scope, metering.Month, c.start, c.report); got != wantFirst {
					t.Errorf("%v: the start's month = %s GB-hours, want %s", scope, got, wantFirst)
				}
				if got := cr.summary("org", scope, metering.Month, next, c.report); got != c.month {
					t.Errorf("%v: the next month = %s GB-hours, want %s", scope, got, c.month)
				}
				if got := cr.summary("org", scope, metering.Day, next, c.report); got != c.day {
					t.Errorf("%v: the next month's first day = %s GB-hours, want %s", scope, got, c.day)
				}
				if got := cr.summary("org", scope, metering.Hour, next.Add(5*time.Hour), c.report); got != "2" {
					t.Errorf("%v: an hour of it = %s GB-hours, want 2", scope, got)
				}
			}
			// Carried no further than the stream time.
			if got := cr.summary("org", metering.ScopeInstance, metering.Day, c.tick.AddDate(0, 0, 1), c.report); got != "none" {
				t.Errorf("a day after the stream time = %s, want none", got)
			}
		})
	}
}

// TestCarryStopsAndTakesBack: a stop ends the carry, and a late stop (after the carry ran)
// takes back what was carried after it, at the instance and in the aggregates.
func TestCarryStopsAndTakesBack(t *testing.T) {
	start := utc(2027, 1, 31, 12)
	cr := newCarrier(t)
	cr.at(start, memoryDoc("org", start, 2, 0))
	cr.at(utc(2027, 2, 2, 0), nil) // carried into February, two days of it
	report := utc(2027, 2, 3, 0)
	if got := cr.summary("org", metering.ScopeOrganization, metering.Month, utc(2027, 2, 1, 0), report); got != "96" {
		t.Fatalf("February before the stop = %s, want 96", got)
	}
	cr.at(utc(2027, 2, 2, 0).Add(time.Minute), memoryDoc("org", start.Add(6*time.Hour), 0, 2)) // late: it stopped at 18:00
	for _, c := range []struct {
		l    metering.Level
		at   time.Time
		want string
	}{
		{metering.Month, start, "12"},
		{metering.Day, start, "12"},
		{metering.Month, utc(2027, 2, 1, 0), "0"},
		{metering.Day, utc(2027, 2, 1, 0), "0"},
		{metering.Hour, utc(2027, 2, 1, 5), "0"},
	} {
		for _, scope := range []metering.Scope{metering.ScopeInstance, metering.ScopeOrganization} {
			if got := cr.summary("org", scope, c.l, c.at, report); got != c.want {
				t.Errorf("%v %v at %s = %s, want %s", scope, c.l, c.at.Format(time.RFC3339), got, c.want)
			}
		}
	}
	// Stopped: the next day is not carried.
	cr.at(utc(2027, 2, 4, 0), nil)
	if got := cr.summary("org", metering.ScopeInstance, metering.Day, utc(2027, 2, 3, 0), report); got != "none" {
		t.Errorf("after the stop = %s, want none", got)
	}
	var n int
	cr.cells.Each(func(k metering.CellKey, _ any) {
		if strings.Contains(k.Plan, "linux") && k.From >= utc(2027, 2, 3, 0).UnixMilli() {
			n++
		}
	})
	if n != 0 {
		t.Errorf("%d cells after the stop, want none", n)
	}
}
