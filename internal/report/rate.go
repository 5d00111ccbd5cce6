package report

import (
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/plans"
)

// PlanSet is the compiled plans of one plan key: the formulas a cell's summary and charge
// come from at report time.
type PlanSet struct {
	IDs      PlanIDs
	Metering *plans.Metering
	Rating   *plans.Rating // nil for usage metered without a rating plan
}

// PlanSet returns the plans of ids. A metering plan, or a named rating plan, that is not
// loaded (yet: the catalog is read from Kafka at start) is fault.Unavailable.
func (r *Reporter) PlanSet(ids PlanIDs) (PlanSet, error) {
	meter, ok := r.Plans.MeteringPlan(ids.MeteringPlanID)
	if !ok {
		return PlanSet{}, fault.Unavailable(nil, "metering plan %s is not loaded yet", ids.MeteringPlanID)
	}
	rating, ok := r.Plans.RatingPlan(ids.RatingPlanID)
	if !ok && ids.RatingPlanID != "" {
		return PlanSet{}, fault.Unavailable(nil, "rating plan %s is not loaded yet", ids.RatingPlanID)
	}
	return PlanSet{IDs: ids, Metering: meter, Rating: rating}, nil
}

// Rate returns the summary and the charge at report time t of c, a cell of metric mm of the
// plans: the summarize formula over its quantity and the charge formula over its cost, each
// for the cell's period. A formula that gives nothing counts 0; an unrated metric (or no
// rating plan) charges 0. A formula that fails, or that gives something other than a number,
// is an error naming the plan and the metric.
func (p PlanSet) Rate(mm *plans.Metric, c *Cell, t int64) (summary, charge decimal.Decimal, err error) {
	from, to := c.Level.Period(c.From)
	s, err := p.Metering.Summarize(mm, t, c.Quantity.Any(), from, to)
	if err != nil {
		return decimal.Zero, decimal.Zero, err
	}
	var ch any
	if p.Rating != nil {
		if ch, err = p.Rating.Charge(mm.Name, t, c.Cost.Any(), from, to); err != nil {
			return decimal.Zero, decimal.Zero, err
		}
	}
	if summary, err = number(s); err != nil {
		return decimal.Zero, decimal.Zero, fmt.Errorf("plan %s, metric %s: summary: %w", p.IDs.MeteringPlanID, mm.Name, err)
	}
	if charge, err = number(ch); err != nil {
		return decimal.Zero, decimal.Zero, fmt.Errorf("plan %s, metric %s: charge: %w", p.IDs.MeteringPlanID, mm.Name, err)
	}
	return summary, charge, nil
}
