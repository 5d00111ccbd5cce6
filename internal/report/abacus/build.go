package abacus

import (
	"maps"
	"slices"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/report"
)

// Window is a metric's slot: the cell's quantity (0 when its formula left it unset), its
// summary and charge at the report's time, and, under a plan, its cost (0 when unrated). A
// metric over every plan of a resource has no cost.
type Window struct {
	Quantity report.Value  `json:"quantity"`
	Summary  report.Number `json:"summary"`
	Cost     report.Value  `json:"cost,omitzero"`
	Charge   report.Number `json:"charge"`
}

// builder turns the cells of one node into its resources.
type builder struct {
	r     *report.Reporter
	t     int64
	plans map[string]report.PlanSet // by plan key, looked up once per report
}

// resources builds the resources of a node's cells and adds their charges into the node's
// windows.
func (b builder) resources(cells []*report.Cell, into report.Charges) ([]*Resource, error) {
	byResource := map[string][]*report.Cell{}
	for _, c := range cells {
		byResource[c.Resource] = append(byResource[c.Resource], c)
	}
	out := []*Resource{}
	for _, id := range slices.Sorted(maps.Keys(byResource)) {
		res, err := b.resource(id, byResource[id])
		if err != nil {
			return nil, err
		}
		res.Windows.SumInto(into)
		out = append(out, res)
	}
	return out, nil
}

// slotSum is a summary's and a charge's sum over plans at each slot of a metric.
type slotSum map[[2]int]*[2]decimal.Decimal

func (b builder) resource(id string, cells []*report.Cell) (*Resource, error) {
	byPlan := map[string][]*report.Cell{}
	for _, c := range cells {
		byPlan[c.Plan] = append(byPlan[c.Plan], c)
	}
	res := &Resource{ResourceID: id, Windows: report.NewCharges(b.r.Slots), AggregatedUsage: []*Metric{}, Plans: []*Plan{}}
	sums := map[string]slotSum{}
	var order []string // metrics in the order of the plans' metering plans
	for _, key := range slices.Sorted(maps.Keys(byPlan)) {
		if key == "" {
			continue
		}
		p, err := b.plan(key, byPlan[key], sums)
		if err != nil {
			return nil, err
		}
		for _, m := range p.AggregatedUsage {
			if !slices.Contains(order, m.Metric) {
				order = append(order, m.Metric)
			}
		}
		p.Windows.SumInto(res.Windows)
		res.Plans = append(res.Plans, p)
	}
	byMetric := map[string][]*report.Cell{}
	for _, c := range byPlan[""] {
		byMetric[c.Metric] = append(byMetric[c.Metric], c)
	}
	for _, name := range slices.Sorted(maps.Keys(byMetric)) {
		if !slices.Contains(order, name) {
			order = append(order, name)
		}
	}
	for _, name := range order {
		m := &Metric{Metric: name, Windows: report.NewWindows[Window](b.r.Slots)}
		for _, c := range byMetric[name] {
			l, s, ok := b.r.Slot(c, b.t)
			if !ok {
				continue
			}
			w := &Window{Quantity: quantity(c), Summary: report.Number(decimal.Zero), Charge: report.Number(decimal.Zero)}
			if sum := sums[name][[2]int{l, s}]; sum != nil {
				w.Summary, w.Charge = report.Number(sum[0]), report.Number(sum[1])
			}
			m.Windows[l][s] = w
		}
		res.AggregatedUsage = append(res.AggregatedUsage, m)
	}
	return res, nil
}

// plan builds a plan's metrics, with summaries and charges computed by its formulas at the
// report's time, and adds each metric's summary and charge into sums.
func (b builder) plan(key string, cells []*report.Cell, sums map[string]slotSum) (*Plan, error) {
	ids := report.SplitPlanKey(key)
	p := &Plan{PlanIDs: ids, Windows: report.NewCharges(b.r.Slots), AggregatedUsage: []*Metric{}}
	metrics, err := b.metrics(ids, cells, p.Windows, sums)
	if err != nil {
		return nil, err
	}
	p.AggregatedUsage = metrics
	return p, nil
}

// metrics builds the windows of the metrics of one plan's cells, in the metering plan's
// order, adds their charges into into and their summaries and charges into sums (if not nil).
func (b builder) metrics(ids report.PlanIDs, cells []*report.Cell, into report.Charges, sums map[string]slotSum) ([]*Metric, error) {
	ps, err := b.planSet(ids)
	if err != nil {
		return nil, err
	}
	byMetric := map[string][]*report.Cell{}
	for _, c := range cells {
		byMetric[c.Metric] = append(byMetric[c.Metric], c)
	}
	out := []*Metric{}
	for _, mm := range ps.Metering.Metrics {
		if byMetric[mm.Name] == nil {
			continue
		}
		m := &Metric{Metric: mm.Name, Windows: report.NewWindows[Window](b.r.Slots)}
		for _, c := range byMetric[mm.Name] {
			l, s, ok := b.r.Slot(c, b.t)
			if !ok {
				continue
			}
			sd, cd, err := ps.Rate(mm, c, b.t)
			if err != nil {
				return nil, err
			}
			cost := c.Cost
			if cost.IsZero() {
				cost = report.DecimalValue(decimal.Zero)
			}
			m.Windows[l][s] = &Window{Quantity: quantity(c), Summary: report.Number(sd), Cost: cost, Charge: report.Number(cd)}
			into.Add(l, s, cd)
			if sums != nil {
				if sums[mm.Name] == nil {
					sums[mm.Name] = slotSum{}
				}
				acc := sums[mm.Name][[2]int{l, s}]
				if acc == nil {
					acc = &[2]decimal.Decimal{}
					sums[mm.Name][[2]int{l, s}] = acc
				}
				acc[0], acc[1] = acc[0].Add(sd), acc[1].Add(cd)
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// planSet returns the plans of ids, looked up once per report.
func (b builder) planSet(ids report.PlanIDs) (report.PlanSet, error) {
	key := ids.Key()
	if ps, ok := b.plans[key]; ok {
		return ps, nil
	}
	ps, err := b.r.PlanSet(ids)
	if err != nil {
		return report.PlanSet{}, err
	}
	b.plans[key] = ps
	return ps, nil
}

// quantity is a cell's quantity for a report; a cell whose formula left it unset shows 0.
func quantity(c *report.Cell) report.Value {
	if c.Quantity.IsZero() {
		return report.DecimalValue(decimal.Zero)
	}
	return c.Quantity
}
