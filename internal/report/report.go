// Package report is the as-of report core: it reads the window cells the metering processor
// committed as they were at a time, places them in the periods and slots of a report, runs the
// plans' summarize and charge formulas at report time and rolls charges up as exact decimals.
// The report APIs are views over it, one package each beside it (abacus, and later nova,
// elasticbox, vcloudair, cloudfoundry); a view imports this core and never another view.
//
// A report for time t is as of t: it reads, for each cell, the value with the greatest
// processed time at or before t (of two processed in the same millisecond, the later in the
// rated topic), among the values written by t, so asking again later for the same t gives the
// same report even after late usage was processed. Its windows show, per level, slot 0 = the
// period holding t, slot 1 = the one before, and so on (metering.Slots); a slot without usage
// is null. Quantities and costs are the cells' values; summaries and charges are computed at
// report time. Every number is rounded once, on output, to plans.Round's 12 decimal places.
//
// The cells come through the Store port, declared here: the ClickHouse one is
// clickhouse.Cells (beside the table's writer), the in-memory one reporttest.Memory, and
// reporttest.Store is the behaviour suite both pass.
package report

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/usage"
)

// Cell is a window cell's value as of a report's time.
type Cell struct {
	Scope     metering.Scope
	Space     string // "" above space scope
	Consumer  string // "" above consumer scope
	Instance  string // "" above instance scope
	Resource  string
	Plan      string // metering.PlanKey of the plans, "" for the resource-level cell
	Metric    string
	Level     metering.Level
	From      int64 // the start of the level's period holding the cell (epoch ms)
	Quantity  Value
	Cost      Value // nothing for resource-level and unrated cells
	Processed int64 // when the value was committed (epoch ms)
}

// Period is a window cell's level and the start of its period.
type Period struct {
	Level metering.Level
	From  int64
}

// Query selects the cells of one organization as of a time.
type Query struct {
	Org  string
	AsOf int64 // only values processed and written at or before AsOf (epoch ms)
	// Scopes and Periods select the cells of those scopes and periods; empty selects all.
	Scopes  []metering.Scope
	Periods []Period
	// Instance and Consumer narrow the query to one resource instance's cells. Plan narrows it
	// to one plan key; PlanID instead of Plan takes every plan key of that plan id.
	Instance, Consumer, Plan, PlanID string
}

// Store reads window cells: for each cell q selects, its value as of q.AsOf, in no order.
// A cell without a value by then is left out.
type Store interface {
	Read(ctx context.Context, q Query) ([]Cell, error)
}

// Plans gives the compiled plans a report's formulas come from.
type Plans interface {
	MeteringPlan(id string) (*plans.Metering, bool)
	RatingPlan(id string) (*plans.Rating, bool)
}

// Reporter is what every view builds its reports with.
type Reporter struct {
	Store Store
	Plans Plans
	Slots metering.Slots
	// Future is how far after the present a report's time may be; a report for a later time
	// could still change, so it is refused.
	Future time.Duration
	// Settle is how long after a time the cells processed by then are surely in the store
	// (the processor's transaction and the cell sink's flush); a report of a later time may
	// still grow and is marked unsettled.
	Settle time.Duration
	// Clock is the present of reports without a time and of the settle and future bounds; nil
	// is the wall clock.
	Clock clock.Clock
}

// Settled reports whether a report of time t can no longer change.
func (r *Reporter) Settled(t int64) bool { return t <= r.now()-r.Settle.Milliseconds() }

func (r *Reporter) now() int64 { return clock.Or(r.Clock).Now().UnixMilli() }

// ParseTime reads a report time: epoch milliseconds, as Abacus names times, or RFC 3339. An
// empty string is the present. A time before 1970, beyond usage.MaxMillis or more than Future
// after the present is fault.Invalid with a problem on the field "time", which echoes a short
// prefix of the text (a time of 900,000 digits was echoed whole).
func (r *Reporter) ParseTime(s string) (int64, error) {
	now := r.now()
	if s == "" {
		return now, nil
	}
	t, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		tm, terr := time.Parse(time.RFC3339Nano, s)
		if terr != nil {
			return 0, fault.Invalid("invalid report time", fault.Problem{Field: "time", Value: usage.Echo(s),
				Reason: "not epoch milliseconds nor an RFC 3339 time"})
		}
		t = tm.UnixMilli()
	}
	switch {
	case t < 0 || t > usage.MaxMillis:
		return 0, fault.Invalid("invalid report time", fault.Problem{Field: "time", Value: usage.Echo(s),
			Reason: fmt.Sprintf("not between 0 and %d", int64(usage.MaxMillis))})
	case t > now+r.Future.Milliseconds():
		return 0, fault.Invalid("invalid report time", fault.Problem{Field: "time", Value: usage.Echo(s),
			Reason: "in the future: a report of a time not yet passed could still change"})
	}
	return t, nil
}

// Periods lists the periods of the slots a report for t shows, level by level, and the start
// of the earliest.
func (r *Reporter) Periods(t int64) ([]Period, int64) {
	var out []Period
	start := t
	for l := metering.Level(0); l < metering.Levels; l++ {
		cur, _ := l.Period(t)
		for i := 0; i < r.Slots[l]; i++ {
			from, _ := l.Shift(cur, i)
			out = append(out, Period{Level: l, From: from})
			start = min(start, from)
		}
	}
	return out, start
}

// Slot returns the level and slot of a cell in a report for t; ok is false for a cell of a
// period the report does not show.
func (r *Reporter) Slot(c *Cell, t int64) (level, slot int, ok bool) {
	s, ok := r.Slots.Slot(c.Level, t, c.From)
	return int(c.Level), s, ok
}

// PlanIDs are the ids of a plan key's parts.
type PlanIDs struct {
	PlanID         string `json:"plan_id"`
	MeteringPlanID string `json:"metering_plan_id"`
	RatingPlanID   string `json:"rating_plan_id"`
	PricingPlanID  string `json:"pricing_plan_id"`
}

// Key is the plan key of the ids, metering.PlanKey.
func (p PlanIDs) Key() string {
	return metering.PlanKey(p.PlanID, p.MeteringPlanID, p.RatingPlanID, p.PricingPlanID)
}

// SplitPlanKey reads a metering.PlanKey, the inverse of PlanIDs.Key. The metering, rating
// and pricing plan ids have no '/' (plans refuse it); the plan id of usage documents may, so
// it is all before the last three. A key of fewer parts leaves the last ids empty.
func SplitPlanKey(k string) PlanIDs {
	p := strings.Split(k, "/")
	for len(p) < 4 {
		p = append(p, "")
	}
	n := len(p)
	return PlanIDs{PlanID: strings.Join(p[:n-3], "/"), MeteringPlanID: p[n-3], RatingPlanID: p[n-2], PricingPlanID: p[n-1]}
}
