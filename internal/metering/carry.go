package metering

import (
	"errors"
	"slices"
	"strings"

	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/usage"
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

// CarryProgress is how far the carry pass of a partition has gone: the pass that carries
// every running instance into the periods that begin at Hour. It is part of the processor's
// committed state (its progress record), so that a crash resumes a pass where its last
// committed transaction left it, never carrying a batch twice or skipping one.
type CarryProgress struct {
	// Hour is the start of the latest hour a pass began for (0: none yet).
	Hour int64
	// Pending tells that the pass of Hour is under way: the instance groups after After
	// (in the order of their ids) are still to be carried.
	Pending bool
	After   string
}

// CarryProgress returns the carry pass's progress in the open transaction.
func (s *Cells) CarryProgress() CarryProgress { return s.carry }

// LoadCarryProgress sets the committed progress of the carry pass, as read from the
// changelog.
func (s *Cells) LoadCarryProgress(p CarryProgress) { s.carry, s.carryCommitted = p, p }

// CarryPending reports whether a carry pass is under way.
func (s *Cells) CarryPending() bool { return s.carry.Pending }

// passOrder is the instance groups a pass visits, by id: those there were when the pass of
// hour began (or, after a restore, when it resumed). A group made later was made by a
// document, whose changes Carry carries along itself.
type passOrder struct {
	hour int64
	ids  []string
}

// Carry carries, in the open transaction of cells, the changes of the last document Process
// or Meter applied along their carried successors (up to through, epoch ms), and goes on with
// the carry pass: when through enters an hour no pass began for, a pass begins that visits
// every instance group in the order of their ids and carries each running instance cell of a
// carried metric into the periods that begin by that hour. Unless CarryBatch is 0 or less,
// a pass stops once the open transaction has CarryBatch cells it changed (after a whole
// group) and goes on in the next Carry of the next transaction (ContinueCarry when there is
// no input); a document for a group the pass has yet to visit carries that group first
// (CarryFor). Each carried cell is changed in the transaction, with its aggregates; the plan
// cells are rated by Rate (or, when the engine rates as it applies, here). A series whose
// carry fails (a *plans.EvalError) is not carried; the errors are returned, joined, after
// the others were carried.
//
// The result does not depend on where transactions begin and end: carrying is idempotent
// (a carried cell carries into nothing new), and every period a pass carries into begins at
// its hour, however far stream time has gone, so a replay after a crash, which may cut the
// same input into other transactions, ends in the same cells.
func (p *Engine) Carry(cells *Cells, through int64, rate bool) error {
	changes := p.changes
	p.changes = p.changes[:0]
	if hour, _ := Hour.Period(through); hour > cells.carry.Hour {
		cells.carry = CarryProgress{Hour: hour, Pending: true}
	}
	pass := cells.carry.Pending && !p.batchFull(cells)
	if !pass && len(changes) == 0 {
		return nil
	}
	cells.beginDoc()
	var errs []error
	for _, ch := range changes {
		if err := p.carryFrom(cells, ch.plan, ch.mm, ch.cell, ch.prev, ch.cell.read(cells.doc), through); err != nil {
			errs = append(errs, err)
		}
	}
	if pass {
		errs = append(errs, p.carryPass(cells)...)
	}
	return errors.Join(append(errs, p.endCarry(cells, rate))...)
}

// ContinueCarry goes on with the carry pass under way, if any, in a transaction of no input:
// the batch of cells Carry would carry next.
func (p *Engine) ContinueCarry(cells *Cells, rate bool) error {
	if !cells.carry.Pending || p.batchFull(cells) {
		return nil
	}
	cells.beginDoc()
	errs := p.carryPass(cells)
	return errors.Join(append(errs, p.endCarry(cells, rate))...)
}

// CarryFor carries, before doc is applied, the instance group doc changes if the pass under
// way has yet to visit it, so that doc finds its cells carried into the pass's hour.
func (p *Engine) CarryFor(doc *usage.Document, cells *Cells, rate bool) error {
	if !cells.carry.Pending {
		return nil
	}
	ids, meter, err := p.planOf(doc)
	if err != nil {
		return nil // the document is rejected
	}
	k := CellKey{Scope: ScopeInstance, Org: doc.OrganizationID, Space: doc.SpaceID, Consumer: doc.Consumer(),
		Instance: doc.ResourceInstanceID, Resource: doc.ResourceID, Plan: PlanKey(doc.PlanID, ids[0], ids[1], ids[2])}
	g := cells.group(&k, false)
	if g == nil || g.id <= cells.carry.After {
		return nil
	}
	cells.beginDoc()
	errs := p.carryGroup(cells, g, meter, cells.carry.Hour)
	return errors.Join(append(errs, p.endCarry(cells, rate))...)
}

// batchFull reports whether the open transaction holds the cells of a full carry batch.
func (p *Engine) batchFull(cells *Cells) bool {
	return p.CarryBatch > 0 && cells.txnCarried >= p.CarryBatch
}

// carryPass carries the groups the pass under way has yet to visit, in the order of their
// ids, until the batch is full (counting the cells of the document layer), into the periods
// that begin by the pass's hour.
func (p *Engine) carryPass(cells *Cells) []error {
	pr := &cells.carry
	if cells.pass.hour != pr.Hour || cells.pass.ids == nil {
		ids := make([]string, 0, len(cells.groups))
		for id, g := range cells.groups {
			if g.key.Scope == ScopeInstance {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		cells.pass = passOrder{hour: pr.Hour, ids: ids}
	}
	ids := cells.pass.ids
	i, found := slices.BinarySearch(ids, pr.After)
	if found {
		i++
	}
	var errs []error
	for ; i < len(ids); i++ {
		if p.CarryBatch > 0 && cells.txnCarried+len(cells.docCells) >= p.CarryBatch {
			return errs
		}
		g, ok := cells.groups[ids[i]]
		if ok {
			if meter := p.meteringOf(g); meter != nil {
				errs = append(errs, p.carryGroup(cells, g, meter, pr.Hour)...)
			}
		}
		pr.After = ids[i]
	}
	pr.Pending, pr.After = false, ""
	cells.pass.ids = nil
	return errs
}

// carryGroup carries the last cell of each carried series of instance group g into the
// periods that begin by through.
func (p *Engine) carryGroup(cells *Cells, g *group, meter *plans.Metering, through int64) []error {
	var errs []error
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
	return errs
}

// endCarry rates (when the engine rates as it applies) and moves into the open transaction
// what the carry changed in the document layer.
func (p *Engine) endCarry(cells *Cells, rate bool) error {
	if len(cells.docCells) == 0 {
		return nil
	}
	var err error
	if rate {
		err = p.rateDoc(cells)
	}
	cells.txnCarried += len(cells.docCells)
	cells.applyDoc()
	return err
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
