// Package report builds Abacus' usage reports (seed 001) from the window cells the metering
// processor committed: the usage summary report of an organization, the resource instance
// report, and GraphQL queries over them.
//
// A report for time t is as of t: it reads, for each cell, the value with the greatest
// processed time at or before t, so asking again later for the same t gives the same report
// even after late usage was processed. Its windows show, per level, slot 0 = the period
// holding t, slot 1 = the one before, and so on (metering.Slots); a slot without usage is
// null. Quantities and costs are the cells' values; summaries and charges are computed at
// report time with the plans' summarize and charge formulas, and charges are summed up every
// level (plan, resource, consumer, space, organization) as exact decimals. Every number is
// rounded once, on output, to plans.Round's 12 decimal places.
package report

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/usage"
)

// Cell is a window cell's value as of a report's time.
type Cell struct {
	Scope     metering.Scope
	Space     string
	Consumer  string
	Instance  string
	Resource  string
	Plan      string // metering.PlanKey of the plans, "" for the resource-level cell
	Metric    string
	Level     metering.Level
	From      int64
	Quantity  any
	Cost      any
	Processed int64 // when the value was committed (epoch ms)
}

// Period is a window cell's level and the start of its period.
type Period struct {
	Level metering.Level
	From  int64
}

// Query selects the cells of one organization as of a time.
type Query struct {
	Org     string
	AsOf    int64 // only values processed at or before AsOf (epoch ms)
	Scopes  []metering.Scope
	Periods []Period
	// Instance, Consumer and Plan narrow the query to one resource instance's cells; a
	// PlanID instead of Plan takes every plan key of that plan id.
	Instance, Consumer, Plan, PlanID string
}

// Store reads window cells.
type Store interface {
	Cells(ctx context.Context, q Query) ([]Cell, error)
}

// Plans gives the compiled plans a report's formulas come from.
type Plans interface {
	MeteringPlan(id string) (*plans.Metering, bool)
	RatingPlan(id string) (*plans.Rating, bool)
}

// Reporter builds reports.
type Reporter struct {
	Store Store
	Plans Plans
	Slots metering.Slots
	// Future is how far after the present a report's time may be; a report for a later time
	// could still change, so it is refused.
	Future time.Duration
	// Settle is how long after a time the cells processed by then are surely in ClickHouse
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
// empty string is the present.
func (r *Reporter) ParseTime(s string) (int64, error) {
	now := r.now()
	if s == "" {
		return now, nil
	}
	t, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		tm, terr := time.Parse(time.RFC3339Nano, s)
		if terr != nil {
			return 0, fault.Invalid("invalid report time", fault.Problem{Field: "time", Value: s,
				Reason: "not epoch milliseconds nor an RFC 3339 time"})
		}
		t = tm.UnixMilli()
	}
	switch {
	case t < 0 || t > usage.MaxMillis:
		return 0, fault.Invalid("invalid report time", fault.Problem{Field: "time", Value: s,
			Reason: fmt.Sprintf("not between 0 and %d", int64(usage.MaxMillis))})
	case t > now+r.Future.Milliseconds():
		return 0, fault.Invalid("invalid report time", fault.Problem{Field: "time", Value: s,
			Reason: "in the future: a report of a time not yet passed could still change"})
	}
	return t, nil
}

// periods lists the periods a report for t shows, and the start of the earliest.
func (r *Reporter) periods(t int64) ([]Period, int64) {
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

// Window is one slot of a window: the fields a report shows at its level (nil ones are left
// out). A nil *Window is a slot without usage and reads as null.
type Window struct {
	Quantity any `json:"quantity,omitempty"`
	Summary  any `json:"summary,omitempty"`
	Cost     any `json:"cost,omitempty"`
	Charge   any `json:"charge,omitempty"`
}

// Windows are a node's windows: one array per level, one slot per period shown.
type Windows [][]*Window

func (r *Reporter) newWindows() Windows {
	w := make(Windows, metering.Levels)
	for l := range w {
		w[l] = make([]*Window, r.Slots[l])
	}
	return w
}

// addCharge adds charge into the slot's charge, creating the slot.
func (w Windows) addCharge(l, s int, charge decimal.Decimal) {
	if w[l][s] == nil {
		w[l][s] = &Window{Charge: Number(decimal.Zero)}
	}
	w[l][s].Charge = Number(decimal.Decimal(w[l][s].Charge.(Number)).Add(charge))
}

// sumInto adds every slot's charge of w into into.
func (w Windows) sumInto(into Windows) {
	for l := range w {
		for s, win := range w[l] {
			if win != nil {
				into.addCharge(l, s, decimal.Decimal(win.Charge.(Number)))
			}
		}
	}
}

// Number is a decimal written as a JSON number, rounded to plans.Round's precision.
type Number decimal.Decimal

// MarshalJSON writes the number rounded.
func (n Number) MarshalJSON() ([]byte, error) {
	return []byte(plans.Round(decimal.Decimal(n)).(decimal.Decimal).String()), nil
}

// jsonValue turns a cell or formula value into what a report writes: numbers as Number, maps
// of them as objects.
func jsonValue(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case decimal.Decimal:
		return Number(x), nil
	case int64:
		return Number(decimal.NewFromInt(x)), nil
	case bool:
		return x, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			j, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = j
		}
		return out, nil
	default:
		return nil, fmt.Errorf("a value of type %T has no JSON form", v)
	}
}

// number returns a summary's or charge's value as a decimal: nil counts as 0, as Abacus'
// reports show a missing charge.
func number(v any) (decimal.Decimal, error) {
	switch x := v.(type) {
	case nil:
		return decimal.Zero, nil
	case decimal.Decimal:
		return x, nil
	case int64:
		return decimal.NewFromInt(x), nil
	default:
		return decimal.Zero, fmt.Errorf("not a number: %s", jsonString(v))
	}
}

func jsonString(v any) string {
	j, err := jsonValue(v)
	if err != nil {
		return fmt.Sprintf("%T", v)
	}
	b, _ := json.Marshal(j)
	return string(b)
}

// PlanIDs are the ids of a plan key's parts.
type PlanIDs struct {
	PlanID         string `json:"plan_id"`
	MeteringPlanID string `json:"metering_plan_id"`
	RatingPlanID   string `json:"rating_plan_id"`
	PricingPlanID  string `json:"pricing_plan_id"`
}

// SplitPlanKey reads a metering.PlanKey. The metering, rating and pricing plan ids have no '/'
// (plans refuse it); the plan id of usage documents may, so it is all before the last three.
func SplitPlanKey(k string) PlanIDs {
	p := strings.Split(k, "/")
	for len(p) < 4 {
		p = append(p, "")
	}
	n := len(p)
	return PlanIDs{PlanID: strings.Join(p[:n-3], "/"), MeteringPlanID: p[n-3], RatingPlanID: p[n-2], PricingPlanID: p[n-1]}
}
