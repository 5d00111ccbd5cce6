// Package abacus is the Abacus view of the report core (seed 001): the usage summary report
// of an organization, the resource instance report, GraphQL queries over them, and their HTTP
// routes. It builds its documents from report.Reporter's cells as of a time; charges are
// summed up every level (plan, resource, consumer, space, organization) as exact decimals.
package abacus

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/report"
)

// Reports builds Abacus' report documents with the report core.
type Reports struct {
	r *report.Reporter
}

// NewReports returns the Abacus view over r.
func NewReports(r *report.Reporter) *Reports { return &Reports{r: r} }

// Window is a metric's slot: the cell's quantity (0 when its formula left it unset), its
// summary and charge at the report's time, and, under a plan, its cost (0 when unrated). A
// metric over every plan of a resource has no cost.
type Window struct {
	Quantity report.Value  `json:"quantity"`
	Summary  report.Number `json:"summary"`
	Cost     report.Value  `json:"cost,omitzero"`
	Charge   report.Number `json:"charge"`
}

// OrganizationReport is Abacus' usage summary report of an organization.
type OrganizationReport struct {
	ID             string         `json:"id"`
	OrganizationID string         `json:"organization_id"`
	Start          int64          `json:"start"`
	End            int64          `json:"end"`
	Processed      int64          `json:"processed"`
	Windows        report.Charges `json:"windows"`
	Resources      []*Resource    `json:"resources"`
	Spaces         []*Space       `json:"spaces"`
}

// Space is a space's usage, by resource and by consumer.
type Space struct {
	SpaceID   string         `json:"space_id"`
	Windows   report.Charges `json:"windows"`
	Resources []*Resource    `json:"resources"`
	Consumers []*Consumer    `json:"consumers"`
}

// Consumer is a consumer's usage by resource.
type Consumer struct {
	ConsumerID string         `json:"consumer_id"`
	Windows    report.Charges `json:"windows"`
	Resources  []*Resource    `json:"resources"`
}

// Resource is the usage of a resource: by metric over every plan, and by plan.
type Resource struct {
	ResourceID      string         `json:"resource_id"`
	Windows         report.Charges `json:"windows"`
	AggregatedUsage []*Metric      `json:"aggregated_usage"`
	Plans           []*Plan        `json:"plans"`
}

// Plan is the usage of a resource under one set of plans.
type Plan struct {
	report.PlanIDs
	Windows         report.Charges `json:"windows"`
	AggregatedUsage []*Metric      `json:"aggregated_usage"`
}

// Metric is a metric's windows.
type Metric struct {
	Metric  string      `json:"metric"`
	Windows [][]*Window `json:"windows"`
}

// Scopes says which parts of an organization report to build: the organization's own
// resources always, its spaces and their consumers when asked (GraphQL queries that do not
// ask for them read fewer cells).
type Scopes struct {
	Spaces    bool
	Consumers bool
}

// AllScopes builds the whole report.
var AllScopes = Scopes{Spaces: true, Consumers: true}

// OrganizationReportID is the id of an organization's report for time t.
func OrganizationReportID(org string, t int64) string {
	return fmt.Sprintf("k-%s-t-%016d", org, t)
}

// Organization builds the usage summary report of org as of t. It is fault.NotFound when the
// organization has no usage in the report's windows.
func (a *Reports) Organization(ctx context.Context, org string, t int64, sc Scopes) (*OrganizationReport, error) {
	r := a.r
	periods, start := r.Periods(t)
	scopes := []metering.Scope{metering.ScopeOrganization}
	if sc.Spaces {
		scopes = append(scopes, metering.ScopeSpace)
	}
	if sc.Consumers {
		scopes = append(scopes, metering.ScopeConsumer)
	}
	cells, err := r.Store.Read(ctx, report.Query{Org: org, AsOf: t, Scopes: scopes, Periods: periods})
	if err != nil {
		return nil, err
	}
	if len(cells) == 0 {
		return nil, fault.NotFound("organization %s has no usage processed by %d in the report's windows", org, t)
	}
	b := builder{r: r, t: t, plans: map[string]report.PlanSet{}}
	type node struct{ space, consumer string }
	groups := map[metering.Scope]map[node][]*report.Cell{}
	var processed int64
	for i := range cells {
		c := &cells[i]
		processed = max(processed, c.Processed)
		if groups[c.Scope] == nil {
			groups[c.Scope] = map[node][]*report.Cell{}
		}
		n := node{c.Space, c.Consumer}
		groups[c.Scope][n] = append(groups[c.Scope][n], c)
	}
	rep := &OrganizationReport{ID: OrganizationReportID(org, t), OrganizationID: org, Start: start, End: t,
		Processed: processed, Windows: report.NewCharges(r.Slots), Resources: []*Resource{}, Spaces: []*Space{}}
	if rep.Resources, err = b.resources(groups[metering.ScopeOrganization][node{}], rep.Windows); err != nil {
		return nil, err
	}
	if !sc.Spaces {
		return rep, nil
	}
	consumers := map[string][]*Consumer{}
	for _, n := range sortedKeys(groups[metering.ScopeConsumer], func(a, b node) int {
		return cmp.Or(cmp.Compare(a.space, b.space), cmp.Compare(a.consumer, b.consumer))
	}) {
		c := &Consumer{ConsumerID: n.consumer, Windows: report.NewCharges(r.Slots)}
		if c.Resources, err = b.resources(groups[metering.ScopeConsumer][n], c.Windows); err != nil {
			return nil, err
		}
		consumers[n.space] = append(consumers[n.space], c)
	}
	for _, n := range sortedKeys(groups[metering.ScopeSpace], func(a, b node) int { return cmp.Compare(a.space, b.space) }) {
		s := &Space{SpaceID: n.space, Windows: report.NewCharges(r.Slots), Consumers: consumers[n.space]}
		if s.Consumers == nil {
			s.Consumers = []*Consumer{}
		}
		if s.Resources, err = b.resources(groups[metering.ScopeSpace][n], s.Windows); err != nil {
			return nil, err
		}
		rep.Spaces = append(rep.Spaces, s)
	}
	return rep, nil
}

func sortedKeys[K comparable, V any](m map[K]V, compare func(a, b K) int) []K {
	return slices.SortedFunc(maps.Keys(m), compare)
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
