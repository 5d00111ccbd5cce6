package vcloudair

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/clickhouse/vcarows"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/usage"
)

// This file is the metering and billing views' model: vCloud Air's billable usage (rated usage
// of the periods not yet billed) and billed usage (a closed billing month, read as of its
// close) computed with the report core from the window cells of resource vcloudair, whether the
// vCloud Air poller or a client through the collector posted the documents. The hierarchy
// (docs/pollers.md): organization = service instance, space = L2 entity (a virtual data
// center), consumer = L1 entity (a VM, a gateway; UNKNOWN for an L2's own usage), resource
// instance = the entity.

// Directory is what the views read of an account beside the usage: its service groups and
// instances and the cost items of its billed months, as the poller's billing loop stored them.
type Directory interface {
	Groups(ctx context.Context) ([]vcarows.Group, error)
	Instances(ctx context.Context) ([]vcarows.Instance, error)
	// BilledCosts returns the cost items of group's billing month (year, month), and whether
	// any is stored.
	BilledCosts(ctx context.Context, group string, year, month int) ([]vcarows.Cost, bool, error)
	// BilledMonths lists the months vCloud Air billed the group (costs or usage stored), the
	// latest first.
	BilledMonths(ctx context.Context, group string) ([][2]int, error)
}

// Prices gives a metric's price (a billable's rate) in the pricing plan of a service instance.
type Prices interface {
	Price(pricingPlan, metric, org string) (decimal.Decimal, bool)
}

// DefaultClose is how long after its end a billing month closes when View.Close is 0: usage of
// the month processed later (a late document) is not billed, and the month's billed usage,
// read as of its close, never changes afterwards.
const DefaultClose = time.Hour

// View computes the billable and billed usage.
type View struct {
	r      *report.Reporter
	dir    Directory
	prices Prices
	// Close is how long after its end a billing month closes (DefaultClose when 0).
	Close time.Duration
}

// NewView returns the view over r's cells, the directory and the prices.
func NewView(r *report.Reporter, dir Directory, prices Prices) *View {
	return &View{r: r, dir: dir, prices: prices}
}

func (v *View) close() time.Duration {
	if v.Close > 0 {
		return v.Close
	}
	return DefaultClose
}

// BillingMonth is billing month (year, month) of a group with anniversary day ann: from that
// day of the month, 00:00 UTC, to the same day of the next.
func BillingMonth(ann, year, month int) (time.Time, time.Time) {
	from := time.Date(year, time.Month(month), max(ann, 1), 0, 0, 0, 0, time.UTC)
	return from, from.AddDate(0, 1, 0)
}

// monthOf is the billing month holding t: its (year, month) and period.
func monthOf(ann int, t time.Time) (int, int, time.Time, time.Time) {
	t = t.UTC()
	from, to := BillingMonth(ann, t.Year(), int(t.Month()))
	if t.Before(from) {
		from, to = from.AddDate(0, -1, 0), from
	}
	return from.Year(), int(from.Month()), from, to
}

// Closed reports whether the billing month ending at end is closed at now: its close (end +
// Close) has passed and the cells processed by then are surely stored.
func (v *View) Closed(end time.Time) bool { return v.r.Settled(end.Add(v.close()).UnixMilli()) }

// asOf is the time a billing month ending at end is read as of.
func (v *View) asOf(end time.Time) int64 { return end.Add(v.close()).UnixMilli() }

// Unbilled is where the billable usage of a group with anniversary ann starts at now: the
// start of its earliest billing month not closed.
func (v *View) Unbilled(ann int, now time.Time) time.Time {
	_, _, from, _ := monthOf(ann, now)
	if v.Closed(from) {
		return from
	}
	return from.AddDate(0, -1, 0)
}

// LastClosed is the latest closed billing month of a group with anniversary ann at now.
func (v *View) LastClosed(ann int, now time.Time) (int, int) {
	u := v.Unbilled(ann, now).AddDate(0, -1, 0)
	return u.Year(), int(u.Month())
}

// Rollup is how billable usage is rolled up over time.
type Rollup string

// The rollups: one total over the span asked, or per hour, per UTC day, per billing month.
const (
	Span  Rollup = "span"
	Hour  Rollup = "hour"
	Day   Rollup = "day"
	Month Rollup = "month"
)

// Select is the entities an answer lists.
type Select struct {
	// Group lists every entity of the group's instances (L1s, and each L2's own usage) with
	// their instance and L2; else the service instance SID, or its L2 or L1 entity ID.
	Group     bool
	SID       string
	L2, L1    string
	RollupOne bool // one level down: an instance's L2s, an L2's L1s; else the entity itself
}

// node is the entity a cell's usage is counted under.
func (s Select) node(c *report.Cell, sid string) (Node, bool) {
	l1 := c.Consumer
	if l1 == usage.UnknownConsumer {
		l1 = ""
	}
	switch {
	case s.Group:
		if l1 == "" {
			return Node{ID: c.Instance, Type: "vdc", SID: sid, L2: c.Space}, true
		}
		return Node{ID: c.Instance, Type: "vm", SID: sid, L2: c.Space}, true
	case s.L1 != "":
		return Node{ID: s.L1, Type: "vm"}, l1 == s.L1
	case s.L2 != "":
		if c.Space != s.L2 {
			return Node{}, false
		}
		if s.RollupOne {
			return Node{ID: l1, Type: "vm"}, l1 != ""
		}
		return Node{ID: s.L2, Type: "vdc"}, true
	case s.RollupOne:
		return Node{ID: c.Space, Type: "vdc"}, true
	default:
		return Node{ID: sid, Type: "serviceInstance"}, true
	}
}

// Node is an entity of an answer.
type Node struct {
	ID, Type string
	SID, L2  string // with Select.Group
}

// Piece is a stretch of time [From, To) (whole hours) read as of AsOf.
type Piece struct {
	From, To time.Time
	AsOf     int64
}

// Rated is one billable of one entity in one period.
type Rated struct {
	Period   time.Time // the rollup period's start
	Node     Node
	Metric   string
	Unit     string
	Quantity decimal.Decimal
	Cost     decimal.Decimal
	Rate     *decimal.Decimal
}

// cover lists the periods of cells that cover [from, to) (whole hours): whole UTC days as day
// cells, the other hours as hour cells; every hour when hourly.
func cover(from, to time.Time, hourly bool) []report.Period {
	var out []report.Period
	for t := from; t.Before(to); {
		if !hourly && t.Equal(t.Truncate(24*time.Hour)) && !t.Add(24*time.Hour).After(to) {
			out = append(out, report.Period{Level: metering.Day, From: t.UnixMilli()})
			t = t.Add(24 * time.Hour)
			continue
		}
		out = append(out, report.Period{Level: metering.Hour, From: t.UnixMilli()})
		t = t.Add(time.Hour)
	}
	return out
}

// MaxLines bounds the lines of one answer (entities × billables × periods).
const MaxLines = 2_000_000

// Lines reads and rates the usage of the service instances sids in the pieces, counted under
// sel's entities and rolled up by rollup (periods from the pieces' start; billing months of
// anniversary ann).
func (v *View) Lines(ctx context.Context, sids []string, sel Select, pieces []Piece, rollup Rollup, ann int) ([]Rated, error) {
	type key struct {
		period int64
		node   Node
		metric string
	}
	acc := map[key]*Rated{}
	sets := map[string]report.PlanSet{}
	for _, sid := range sids {
		for _, p := range pieces {
			cells, err := v.r.Store.Read(ctx, report.Query{Org: sid, AsOf: p.AsOf, Scopes: []metering.Scope{metering.ScopeInstance},
				Periods: cover(p.From, p.To, rollup == Hour)})
			if err != nil {
				return nil, err
			}
			for i := range cells {
				c := &cells[i]
				if c.Resource != Resource || c.Plan == "" {
					continue
				}
				n, ok := sel.node(c, sid)
				if !ok {
					continue
				}
				mm, ps, err := planOf(v.r, sets, c)
				if err != nil {
					return nil, err
				}
				summary, charge, err := ps.Rate(mm, c, p.AsOf)
				if err != nil {
					return nil, err
				}
				k := key{period: bucket(rollup, c.From, p.From, ann), node: n, metric: c.Metric}
				l, ok := acc[k]
				if !ok {
					if len(acc) >= MaxLines {
						return nil, fmt.Errorf("more than %d lines in one answer", MaxLines)
					}
					l = &Rated{Period: time.UnixMilli(k.period).UTC(), Node: n, Metric: c.Metric, Unit: mm.Unit}
					if ps.IDs.PricingPlanID != "" && v.prices != nil {
						if price, ok := v.prices.Price(ps.IDs.PricingPlanID, c.Metric, sid); ok {
							l.Rate = &price
						}
					}
					acc[k] = l
				}
				l.Quantity = l.Quantity.Add(summary)
				l.Cost = l.Cost.Add(charge)
			}
		}
	}
	sorted := make([]*Rated, 0, len(acc))
	for _, l := range acc {
		sorted = append(sorted, l)
	}
	slices.SortFunc(sorted, func(a, b *Rated) int {
		return cmp.Or(a.Period.Compare(b.Period), strings.Compare(a.Node.SID, b.Node.SID), strings.Compare(a.Node.L2, b.Node.L2),
			strings.Compare(a.Node.ID, b.Node.ID), strings.Compare(a.Metric, b.Metric))
	})
	out := make([]Rated, len(sorted))
	for i, l := range sorted {
		out[i] = *l
	}
	return out, nil
}

// bucket is the start of the rollup period holding a cell of period start from (epoch ms).
func bucket(r Rollup, from int64, start time.Time, ann int) int64 {
	t := time.UnixMilli(from).UTC()
	switch r {
	case Hour:
		return from
	case Day:
		return t.Truncate(24 * time.Hour).UnixMilli()
	case Month:
		_, _, m, _ := monthOf(ann, t)
		return m.UnixMilli()
	}
	return start.UnixMilli()
}

// planOf is the plans of cell c and its metric, compiled once per plan key in sets.
func planOf(r *report.Reporter, sets map[string]report.PlanSet, c *report.Cell) (*plans.Metric, report.PlanSet, error) {
	ps, seen := sets[c.Plan]
	if !seen {
		var err error
		if ps, err = r.PlanSet(report.SplitPlanKey(c.Plan)); err != nil {
			return nil, ps, err
		}
		sets[c.Plan] = ps
	}
	if i := slices.IndexFunc(ps.Metering.Metrics, func(m *plans.Metric) bool { return m.Name == c.Metric }); i >= 0 {
		return ps.Metering.Metrics[i], ps, nil
	}
	return nil, ps, fmt.Errorf("cell of metric %s, which metering plan %s does not have", c.Metric, ps.IDs.MeteringPlanID)
}

// BilledPieces splits [from, to) at the billing months of anniversary ann, each piece read as
// of its month's close.
func (v *View) BilledPieces(ann int, from, to time.Time) []Piece {
	var out []Piece
	for t := from; t.Before(to); {
		_, _, _, end := monthOf(ann, t)
		stop := end
		if to.Before(stop) {
			stop = to
		}
		out = append(out, Piece{From: t, To: stop, AsOf: v.asOf(end)})
		t = stop
	}
	return out
}
