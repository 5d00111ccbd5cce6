package report

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/metering"
)

// OrganizationReport is Abacus' usage summary report of an organization.
type OrganizationReport struct {
	ID             string      `json:"id"`
	OrganizationID string      `json:"organization_id"`
	Start          int64       `json:"start"`
	End            int64       `json:"end"`
	Processed      int64       `json:"processed"`
	Windows        Windows     `json:"windows"`
	Resources      []*Resource `json:"resources"`
	Spaces         []*Space    `json:"spaces"`
}

// Space is a space's usage, by resource and by consumer.
type Space struct {
	SpaceID   string      `json:"space_id"`
	Windows   Windows     `json:"windows"`
	Resources []*Resource `json:"resources"`
	Consumers []*Consumer `json:"consumers"`
}

// Consumer is a consumer's usage by resource.
type Consumer struct {
	ConsumerID string      `json:"consumer_id"`
	Windows    Windows     `json:"windows"`
	Resources  []*Resource `json:"resources"`
}

// Resource is the usage of a resource: by metric over every plan, and by plan.
type Resource struct {
	ResourceID      string    `json:"resource_id"`
	Windows         Windows   `json:"windows"`
	AggregatedUsage []*Metric `json:"aggregated_usage"`
	Plans           []*Plan   `json:"plans"`
}

// Plan is the usage of a resource under one set of plans.
type Plan struct {
	PlanIDs
	Windows         Windows   `json:"windows"`
	AggregatedUsage []*Metric `json:"aggregated_usage"`
}

// Metric is a metric's windows.
type Metric struct {
	Metric  string  `json:"metric"`
	Windows Windows `json:"windows"`
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
func (r *Reporter) Organization(ctx context.Context, org string, t int64, sc Scopes) (*OrganizationReport, error) {
	periods, start := r.periods(t)
	scopes := []metering.Scope{metering.ScopeOrganization}
	if sc.Spaces {
		scopes = append(scopes, metering.ScopeSpace)
	}
	if sc.Consumers {
		scopes = append(scopes, metering.ScopeConsumer)
	}
	cells, err := r.Store.Cells(ctx, Query{Org: org, AsOf: t, Scopes: scopes, Periods: periods})
	if err != nil {
		return nil, err
	}
	if len(cells) == 0 {
		return nil, fault.NotFound("organization %s has no usage processed by %d in the report's windows", org, t)
	}
	b := builder{r: r, t: t}
	type node struct{ space, consumer string }
	groups := map[metering.Scope]map[node][]*Cell{}
	var processed int64
	for i := range cells {
		c := &cells[i]
		processed = max(processed, c.Processed)
		if groups[c.Scope] == nil {
			groups[c.Scope] = map[node][]*Cell{}
		}
		n := node{c.Space, c.Consumer}
		groups[c.Scope][n] = append(groups[c.Scope][n], c)
	}
	rep := &OrganizationReport{ID: OrganizationReportID(org, t), OrganizationID: org, Start: start, End: t,
		Processed: processed, Windows: r.newWindows(), Resources: []*Resource{}, Spaces: []*Space{}}
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
		c := &Consumer{ConsumerID: n.consumer, Windows: r.newWindows()}
		if c.Resources, err = b.resources(groups[metering.ScopeConsumer][n], c.Windows); err != nil {
			return nil, err
		}
		consumers[n.space] = append(consumers[n.space], c)
	}
	for _, n := range sortedKeys(groups[metering.ScopeSpace], func(a, b node) int { return cmp.Compare(a.space, b.space) }) {
		s := &Space{SpaceID: n.space, Windows: r.newWindows(), Consumers: consumers[n.space]}
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
	r *Reporter
	t int64
}

// resources builds the resources of a node's cells and adds their charges into the node's
// windows.
func (b builder) resources(cells []*Cell, into Windows) ([]*Resource, error) {
	byResource := map[string][]*Cell{}
	for _, c := range cells {
		byResource[c.Resource] = append(byResource[c.Resource], c)
	}
	out := []*Resource{}
	for _, id := range slices.Sorted(maps.Keys(byResource)) {
		res, err := b.resource(id, byResource[id])
		if err != nil {
			return nil, err
		}
		res.Windows.sumInto(into)
		out = append(out, res)
	}
	return out, nil
}

// slotSum is a summary's and a charge's sum over plans at each slot of a metric.
type slotSum map[[2]int]*[2]decimal.Decimal

func (b builder) resource(id string, cells []*Cell) (*Resource, error) {
	byPlan := map[string][]*Cell{}
	for _, c := range cells {
		byPlan[c.Plan] = append(byPlan[c.Plan], c)
	}
	res := &Resource{ResourceID: id, Windows: b.r.newWindows(), AggregatedUsage: []*Metric{}, Plans: []*Plan{}}
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
		p.Windows.sumInto(res.Windows)
		res.Plans = append(res.Plans, p)
	}
	byMetric := map[string][]*Cell{}
	for _, c := range byPlan[""] {
		byMetric[c.Metric] = append(byMetric[c.Metric], c)
	}
	for _, name := range slices.Sorted(maps.Keys(byMetric)) {
		if !slices.Contains(order, name) {
			order = append(order, name)
		}
	}
	for _, name := range order {
		m := &Metric{Metric: name, Windows: b.r.newWindows()}
		for _, c := range byMetric[name] {
			l, s, ok := b.slot(c)
			if !ok {
				continue
			}
			q, err := quantity(c)
			if err != nil {
				return nil, err
			}
			w := &Window{Quantity: q, Summary: Number(decimal.Zero), Charge: Number(decimal.Zero)}
			if sum := sums[name][[2]int{l, s}]; sum != nil {
				w.Summary, w.Charge = Number(sum[0]), Number(sum[1])
			}
			m.Windows[l][s] = w
		}
		res.AggregatedUsage = append(res.AggregatedUsage, m)
	}
	return res, nil
}

// slot returns the level and slot of a cell in the report.
func (b builder) slot(c *Cell) (int, int, bool) {
	s, ok := b.r.Slots.Slot(c.Level, b.t, c.From)
	return int(c.Level), s, ok
}

// plan builds a plan's metrics, with summaries and charges computed by its formulas at the
// report's time, and adds each metric's summary and charge into sums.
func (b builder) plan(key string, cells []*Cell, sums map[string]slotSum) (*Plan, error) {
	ids := SplitPlanKey(key)
	p := &Plan{PlanIDs: ids, Windows: b.r.newWindows(), AggregatedUsage: []*Metric{}}
	metrics, err := b.metrics(ids, cells, p.Windows, sums)
	if err != nil {
		return nil, err
	}
	p.AggregatedUsage = metrics
	return p, nil
}

// metrics builds the windows of the metrics of one plan's cells, in the metering plan's
// order, adds their charges into into and their summaries and charges into sums (if not nil).
func (b builder) metrics(ids PlanIDs, cells []*Cell, into Windows, sums map[string]slotSum) ([]*Metric, error) {
	meter, ok := b.r.Plans.MeteringPlan(ids.MeteringPlanID)
	if !ok {
		return nil, fault.Unavailable(nil, "metering plan %s is not loaded yet", ids.MeteringPlanID)
	}
	rating, ok := b.r.Plans.RatingPlan(ids.RatingPlanID)
	if !ok && ids.RatingPlanID != "" {
		return nil, fault.Unavailable(nil, "rating plan %s is not loaded yet", ids.RatingPlanID)
	}
	byMetric := map[string][]*Cell{}
	for _, c := range cells {
		byMetric[c.Metric] = append(byMetric[c.Metric], c)
	}
	out := []*Metric{}
	for _, mm := range meter.Metrics {
		if byMetric[mm.Name] == nil {
			continue
		}
		m := &Metric{Metric: mm.Name, Windows: b.r.newWindows()}
		for _, c := range byMetric[mm.Name] {
			l, s, ok := b.slot(c)
			if !ok {
				continue
			}
			from, to := c.Level.Period(c.From)
			summary, err := meter.Summarize(mm, b.t, c.Quantity, from, to)
			if err != nil {
				return nil, err
			}
			var charge any
			if rating != nil {
				if charge, err = rating.Charge(mm.Name, b.t, c.Cost, from, to); err != nil {
					return nil, err
				}
			}
			w, sd, cd, err := planWindow(c, summary, charge)
			if err != nil {
				return nil, fmt.Errorf("plan %s, metric %s: %w", ids.MeteringPlanID, mm.Name, err)
			}
			m.Windows[l][s] = w
			into.addCharge(l, s, cd)
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

// planWindow is a plan-level slot: quantity, summary, cost (0 when unrated) and charge.
func planWindow(c *Cell, summary, charge any) (*Window, decimal.Decimal, decimal.Decimal, error) {
	q, err := quantity(c)
	if err != nil {
		return nil, decimal.Zero, decimal.Zero, err
	}
	cost, err := jsonValue(c.Cost)
	if err != nil {
		return nil, decimal.Zero, decimal.Zero, err
	}
	if cost == nil {
		cost = Number(decimal.Zero)
	}
	sd, err := number(summary)
	if err != nil {
		return nil, decimal.Zero, decimal.Zero, fmt.Errorf("summary: %w", err)
	}
	cd, err := number(charge)
	if err != nil {
		return nil, decimal.Zero, decimal.Zero, fmt.Errorf("charge: %w", err)
	}
	return &Window{Quantity: q, Summary: Number(sd), Cost: cost, Charge: Number(cd)}, sd, cd, nil
}

// quantity is a cell's quantity for a report; a cell whose formula left it nil shows 0.
func quantity(c *Cell) (any, error) {
	q, err := jsonValue(c.Quantity)
	if q == nil && err == nil {
		q = Number(decimal.Zero)
	}
	return q, err
}
