package metering

import (
	"errors"
	"slices"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/usage"
)

// Plans is what the processor needs of the provisioning state.
type Plans interface {
	ResourceType(resourceID string) (string, bool)
	Lookup(kind, org, resourceType, planID string, t int64) (string, bool)
	MeteringPlan(id string) (*plans.Metering, bool)
	RatingPlan(id string) (*plans.Rating, bool)
	Price(pricingPlan, metric, org string) (decimal.Decimal, bool)
}

// Engine meters, accumulates, aggregates and rates usage documents into cells. It keeps the
// scratch of the document it applies, reused from document to document, so it is not safe
// for concurrent use: the processor gives each partition an engine of its own (they share
// Plans, which must be safe for concurrent reads). The zero scratch is ready to use.
type Engine struct {
	Plans      Plans
	Acceptance Acceptance
	// CarryBatch bounds the cells the carry pass changes in one transaction (see Carry); 0
	// or less: no bound.
	CarryBatch int

	measures map[string]any
	metered  []any
	prices   []price
	changes  []change // the carried instance cells the last document changed (see Carry)
}

type price struct {
	metric string
	value  any
	ok     bool
}

// Process applies a document processed at now (epoch ms) to the open transaction of cells
// and returns the cells it changed, each once, with its value and, where the cell is rated,
// the cost of that value; the slice is reused by the next call. On a *Rejection or
// *plans.EvalError (naming the document) the transaction is as it was.
func (p *Engine) Process(doc *usage.Document, now int64, cells *Cells) ([]*Cell, error) {
	return p.apply(doc, now, cells, true)
}

// Meter is Process without the costs: it rejects a document as Process does, for want of a
// price too, but leaves the costs of the cells it changes to Rate, which rates each cell the
// transaction changed once, at its final value, however many documents changed it.
func (p *Engine) Meter(doc *usage.Document, now int64, cells *Cells) error {
	_, err := p.apply(doc, now, cells, false)
	return err
}

func (p *Engine) apply(doc *usage.Document, now int64, cells *Cells, rate bool) ([]*Cell, error) {
	cells.beginDoc()
	p.changes = p.changes[:0]
	err := p.process(doc, now, cells, rate)
	if err == nil {
		err = checkStored(cells.docCells)
	}
	if err != nil {
		var ee *plans.EvalError
		if errors.As(err, &ee) {
			ee.Document = doc.ID()
		}
		p.changes = p.changes[:0]
		return nil, err
	}
	cells.applyDoc()
	return cells.docCells, nil
}

// Rate computes the cost of every rated cell the open transaction of cells changed, at its
// value in the transaction, with the prices in effect now: what Process gives the cell at
// the last document that changed it, unless a price changed meanwhile. On an error (a
// *Rejection for want of a price, a *plans.EvalError naming no document) the costs are
// incomplete; which document made the failing value is not known.
func (p *Engine) Rate(cells *Cells) error {
	type priceKey struct{ pricing, metric, org string }
	prices := map[priceKey]any{}
	var rating *plans.Rating
	var ratingID string
	for _, c := range cells.txn {
		g := c.s.g
		if g.key.Plan == "" || g.rating == "" {
			continue
		}
		if rating == nil || g.rating != ratingID {
			var ok bool
			if rating, ok = p.Plans.RatingPlan(g.rating); !ok {
				rating = nil
				continue
			}
			ratingID = g.rating
		}
		metric := c.s.metric
		var price any
		if g.pricing != "" {
			k := priceKey{g.pricing, metric, g.key.Org}
			pr, ok := prices[k]
			if !ok {
				v, found := p.Plans.Price(g.pricing, metric, g.key.Org)
				if !found && rating.Metrics[metric] != nil {
					return reject(ErrNoPrice, "pricing plan %s has no price for metric %s in the country of organization %s",
						g.pricing, metric, g.key.Org)
				}
				if found {
					pr = v
				}
				prices[k] = pr
			}
			price = pr
		}
		cost, err := rating.Rate(metric, price, c.value)
		if err != nil {
			return err
		}
		if !storable(cost) {
			return reject(ErrOverflow, "the cost of metric %s would not fit Decimal(38, %d) (at most %d digits before the point) in %s",
				metric, plans.StoredScale, plans.StoredIntegerDigits, describe(c.Key()))
		}
		c.cost = cost
	}
	return nil
}

// mayFail reports whether rating v with rm may fail: unless rm's rate formula is one of the
// fast paths and v a decimal, its program runs, which can fail on some values only.
func mayFail(rm *plans.RatedMetric, v any) bool {
	if rm == nil {
		return false // an unrated metric costs nothing
	}
	_, isDecimal := v.(decimal.Decimal)
	return !rm.Rate.Fast() || !isDecimal
}

// aggregates are the scopes an instance's change is aggregated into, each per plan and for
// the resource ("" plan).
var aggregates = [...]Scope{ScopeConsumer, ScopeSpace, ScopeOrganization}

// planOf returns the ids of the metering, rating and pricing plans in effect for doc at its
// end, and its metering plan; a *Rejection when it has none.
func (p *Engine) planOf(doc *usage.Document) ([3]string, *plans.Metering, error) {
	ids := [3]string{}
	rt, ok := p.Plans.ResourceType(doc.ResourceID)
	if !ok {
		return ids, nil, reject(ErrNoPlan, "resource %s has no resource type", doc.ResourceID)
	}
	for i, kind := range [...]string{plans.KindMetering, plans.KindRating, plans.KindPricing} {
		ids[i], _ = p.Plans.Lookup(kind, doc.OrganizationID, rt, doc.PlanID, doc.End)
	}
	meter, ok := p.Plans.MeteringPlan(ids[0])
	if !ok {
		return ids, nil, reject(ErrNoPlan, "no metering plan for organization %s, resource type %s, plan %s at %d",
			doc.OrganizationID, rt, doc.PlanID, doc.End)
	}
	return ids, meter, nil
}

// process computes every change of the document in cells' document layer, which applyDoc
// moves into the transaction only when all succeeded.
func (p *Engine) process(doc *usage.Document, now int64, cells *Cells, rate bool) error {
	if err := p.Acceptance.Accept(doc.End, now); err != nil {
		return reject(err, "%v", err)
	}
	ids, meter, err := p.planOf(doc)
	if err != nil {
		return err
	}
	rating, _ := p.Plans.RatingPlan(ids[1]) // nil: usage is metered but not rated

	if p.measures == nil {
		p.measures = map[string]any{}
	}
	measures := p.measures
	clear(measures)
	for _, m := range doc.MeasuredUsage {
		measures[m.Measure] = m.Quantity
	}
	metered, err := meter.MeterDocument(measures, p.metered)
	if err != nil {
		return err
	}
	p.metered = metered
	if !slices.ContainsFunc(metered, func(q any) bool { return q != nil }) {
		return nil // no usage of any metric: no cell changes (and no group is made)
	}
	planKey := PlanKey(doc.PlanID, ids[0], ids[1], ids[2])
	// The document's groups: its instance, then per aggregate scope the plan's and the
	// resource's.
	var groups [1 + 2*len(aggregates)]*group
	k := CellKey{Scope: ScopeInstance, Org: doc.OrganizationID, Space: doc.SpaceID, Consumer: doc.Consumer(),
		Instance: doc.ResourceInstanceID, Resource: doc.ResourceID, Plan: planKey}
	groups[0] = cells.group(&k, true)
	groups[0].rating, groups[0].pricing = ids[1], ids[2]
	for i, scope := range aggregates {
		k.Scope, k.Instance = scope, ""
		if scope >= ScopeSpace {
			k.Consumer = ""
		}
		if scope == ScopeOrganization {
			k.Space = ""
		}
		for j, plan := range [...]string{planKey, ""} {
			k.Plan = plan
			g := cells.group(&k, true)
			if plan != "" {
				g.rating, g.pricing = ids[1], ids[2]
			}
			groups[1+2*i+j] = g
		}
	}
	d := cells.doc
	horizon := p.Acceptance.Horizon(now)
	for i, mm := range meter.Metrics {
		qty := metered[i]
		if qty == nil {
			continue
		}
		for l := Level(0); l < Levels; l++ {
			from, to := l.Period(doc.End)
			// A level whose cell of the period is beyond its retention (it expires at or before
			// the horizon of the document's processing time, or before the floor, where it was
			// pruned) is left as it is: the usage counts in the coarser levels only, and no
			// pruned cell is made again from nothing.
			if e := cells.expires(l, to); e <= horizon || e <= cells.floor {
				continue
			}
			inst := cells.cell(groups[0].seriesOf(mm.Name, l, true), from)
			prev := inst.read(d)
			curr, err := meter.Accumulate(mm, prev, qty, doc.Start, doc.End, from, to)
			if err != nil {
				return err
			}
			cells.set(inst, curr)
			if mm.Carry != nil && carried(l) {
				p.changes = append(p.changes, change{cell: inst, prev: prev, mm: mm, plan: meter})
			}
			var aggs [len(groups) - 1]*Cell
			var values [len(aggs)]any
			for j, g := range groups[1:] {
				aggs[j] = cells.cell(g.seriesOf(mm.Name, l, true), from)
				values[j] = aggs[j].read(d)
			}
			if err := meter.AggregateEach(mm, values[:], prev, curr); err != nil {
				return err
			}
			for j, c := range aggs {
				cells.set(c, values[j])
			}
		}
	}
	if rating == nil {
		return nil
	}
	// Rate each changed plan cell once, at its final value.
	prices := p.prices[:0]
	for _, c := range cells.docCells {
		if c.s.g.key.Plan == "" {
			continue
		}
		metric := c.s.metric
		// Without a pricing plan usage is rated at no price (nil), as in Abacus; with one, a
		// metric it does not price in the organization's country would be charged nothing
		// silently, so the document is rejected instead.
		var pr *price
		for i := range prices {
			if prices[i].metric == metric {
				pr = &prices[i]
			}
		}
		if pr == nil {
			prices = append(prices, price{metric: metric})
			pr = &prices[len(prices)-1]
			if ids[2] != "" {
				v, ok := p.Plans.Price(ids[2], metric, doc.OrganizationID)
				if pr.ok = ok; ok {
					pr.value = v
				}
			}
		}
		if ids[2] != "" && !pr.ok && rating.Metrics[metric] != nil {
			return reject(ErrNoPrice, "pricing plan %s has no price for metric %s in the country of organization %s",
				ids[2], metric, doc.OrganizationID)
		}
		// Rate decides nothing that depends on which documents share a transaction only when
		// its formula cannot fail: the fast paths on decimals. Any other formula rates the
		// cell as each document leaves it, so a value it fails on rejects that document
		// however the documents are batched (Rate then gives the last document's cost again).
		if !rate && !mayFail(rating.Metrics[metric], c.docValue) {
			continue
		}
		cost, err := rating.Rate(metric, pr.value, c.docValue)
		if err != nil {
			return err
		}
		c.docCost = cost
	}
	p.prices = prices
	return nil
}
