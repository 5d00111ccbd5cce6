package metering

import (
	"errors"
	"slices"
	"strings"

	"github.com/meterline/meterline/internal/plans"
)

// The carry: usage that runs on with no document. A cell of a time-based metric whose plan
// has a carry formula, at the hour, day or month level, is carried into the period after its
// own once that period has begun in the partition's stream time (the stored times of its
// input, never the wall clock): the next cell gets the carry formula's value of it, and the
// change is aggregated up the hierarchy and rated like a document's. Only what differs from
// the carry of nothing (a nil cell: for the linux container, an instance no longer
// consuming) is carried, so a stopped instance's cells end with its period.
//
// A document that changes a cell with carried successors (late usage, within the slack)
// carries its change along: each following cell whose value is still exactly what the
// cell's old value carried into it (no document changed it since) takes the carry of the
// new value, an idle one included, so that the aggregates lose what the instance no longer
// consumes. The first successor a document changed stops that: its own document set it.
//
// Second and minute cells are not carried: a running instance would make one cell per
// second, and the hour, day and month cells hold its usage.

// carried reports whether cells of level l are carried.
func carried(l Level) bool { return l == Hour || l == Day || l == Month }

// change is an instance cell a document changed, with its value before the document.
type change struct {
	cell *Cell
	prev any
	mm   *plans.Metric
	plan *plans.Metering
}

// Carry carries, in the open transaction of cells, every running instance cell of a carried
// metric into the periods after it that begin at or before through (epoch ms), and the
// changes of the last document Process or Meter applied along their carried successors.
// The cells of every instance are visited when through enters an hour not visited yet,
// else only those of the last document. Each carried cell is changed in the transaction,
// with its aggregates; the plan cells are rated by Rate (or, when the engine rates as it
// applies, here). A series whose carry fails (a *plans.EvalError) is not carried; the errors
// are returned, joined, after the others were carried.
func (p *Engine) Carry(cells *Cells, through int64, rate bool) error {
	changes := p.changes
	p.changes = p.changes[:0]
	hour, _ := Hour.Period(through)
	full := hour > cells.carriedHour
	if !full && len(changes) == 0 {
		return nil
	}
	cells.beginDoc()
	var errs []error
	for _, ch := range changes {
		if err := p.carryFrom(cells, ch.plan, ch.mm, ch.cell, ch.prev, ch.cell.read(cells.doc), through); err != nil {
			errs = append(errs, err)
		}
	}
	if full {
		cells.carriedHour = hour
		ids := make([]string, 0, len(cells.groups))
		for id, g := range cells.groups {
			if g.key.Scope == ScopeInstance {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			g := cells.groups[id]
			meter := p.meteringOf(g)
			if meter == nil {
				continue
			}
			for _, sr := range slices.Clone(g.series) {
				mm := meter.Metric(sr.metric)
				if mm == nil || mm.Carry == nil || !carried(sr.level) || len(sr.cells) == 0 {
					continue
				}
				last := sr.cells[len(sr.cells)-1]
				v := last.read(cells.doc)
				if err := p.carryFrom(cells, meter, mm, last, v, v, through); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if len(cells.docCells) > 0 {
		if rate {
			if err := p.rateDoc(cells); err != nil {
				errs = append(errs, err)
			}
		}
		cells.applyDoc()
	}
	return errors.Join(errs...)
}

// carryFrom carries cell c, whose value went from old to now, into the cells after it: see
// Carry.
func (p *Engine) carryFrom(cells *Cells, meter *plans.Metering, mm *plans.Metric, c *Cell, old, now any, through int64) error {
	sr := c.s
	for pred := c; ; {
		from, to := sr.level.Period(pred.to)
		if from > through {
			return nil
		}
		next, run, err := meter.CarryOf(mm, now, from, to)
		if err != nil {
			return err
		}
		var succ *Cell
		if i, ok := sr.find(from); ok {
			succ = sr.cells[i]
		}
		var before any
		if succ != nil {
			before = succ.read(cells.doc)
		}
		if before != nil {
			was, _, err := meter.CarryOf(mm, old, from, to)
			if err != nil {
				return err
			}
			if !plans.Equal(before, was) {
				return nil // a document changed it
			}
			if plans.Equal(before, next) {
				return nil // and so every carried cell after it
			}
		} else {
			if !run {
				return nil
			}
			succ = cells.cell(sr, from)
		}
		if err := p.carryInto(cells, meter, mm, succ, before, next); err != nil {
			return err
		}
		pred, old, now = succ, before, next
	}
}

// carryInto gives instance cell c the carried value curr (it had prev) and aggregates the
// change into the consumer, space and organization cells of its plan and resource.
func (p *Engine) carryInto(cells *Cells, meter *plans.Metering, mm *plans.Metric, c *Cell, prev, curr any) error {
	g := c.s.g
	rating, pricing := planIDs(g.key.Plan)
	if g.rating == "" {
		g.rating, g.pricing = rating, pricing
	}
	k := g.key
	var aggs [2 * len(aggregates)]*Cell
	var values [len(aggs)]any
	for i, scope := range aggregates {
		k.Scope, k.Instance = scope, ""
		if scope >= ScopeSpace {
			k.Consumer = ""
		}
		if scope == ScopeOrganization {
			k.Space = ""
		}
		for j, plan := range [...]string{g.key.Plan, ""} {
			k.Plan = plan
			ag := cells.group(&k, true)
			if plan != "" && ag.rating == "" {
				ag.rating, ag.pricing = rating, pricing
			}
			aggs[2*i+j] = cells.cell(ag.seriesOf(mm.Name, c.s.level, true), c.from)
			values[2*i+j] = aggs[2*i+j].read(cells.doc)
		}
	}
	if err := meter.AggregateEach(mm, values[:], prev, curr); err != nil {
		return err
	}
	cells.set(c, curr)
	for j, a := range aggs {
		cells.set(a, values[j])
	}
	return nil
}

// rateDoc rates the plan cells the carry changed, at their carried values.
func (p *Engine) rateDoc(cells *Cells) error {
	for _, c := range cells.docCells {
		g := c.s.g
		if g.key.Plan == "" || g.rating == "" {
			continue
		}
		rating, ok := p.Plans.RatingPlan(g.rating)
		if !ok {
			continue
		}
		var price any
		if g.pricing != "" {
			if v, ok := p.Plans.Price(g.pricing, c.s.metric, g.key.Org); ok {
				price = v
			}
		}
		cost, err := rating.Rate(c.s.metric, price, c.docValue)
		if err != nil {
			return err
		}
		c.docCost = cost
	}
	return nil
}

// meteringOf returns the metering plan of a group's plan key, nil when it is unknown.
func (p *Engine) meteringOf(g *group) *plans.Metering {
	parts := strings.Split(g.key.Plan, "/")
	if len(parts) != 4 {
		return nil
	}
	m, _ := p.Plans.MeteringPlan(parts[1])
	return m
}

// planIDs returns the rating and pricing plan ids of a plan key (PlanKey).
func planIDs(planKey string) (rating, pricing string) {
	parts := strings.Split(planKey, "/")
	if len(parts) != 4 {
		return "", ""
	}
	return parts[2], parts[3]
}
