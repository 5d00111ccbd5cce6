package abacus

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/report"
)

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
	if err := checkID("organization_id", org, true); err != nil {
		return nil, err
	}
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
