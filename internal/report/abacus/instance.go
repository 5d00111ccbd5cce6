package abacus

import (
	"context"
	"fmt"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/report"
)

// InstanceKey names a resource instance's usage under one set of plans.
type InstanceKey struct {
	Org      string
	Instance string
	Consumer string
	report.PlanIDs
}

// InstanceReport is Abacus' resource instance report.
type InstanceReport struct {
	ID                 string `json:"id"`
	OrganizationID     string `json:"organization_id"`
	SpaceID            string `json:"space_id"`
	ResourceID         string `json:"resource_id"`
	ResourceInstanceID string `json:"resource_instance_id"`
	ConsumerID         string `json:"consumer_id"`
	report.PlanIDs
	Start            int64          `json:"start"`
	End              int64          `json:"end"`
	Processed        int64          `json:"processed"`
	Windows          report.Charges `json:"windows"`
	AccumulatedUsage []*Metric      `json:"accumulated_usage"`
}

// InstanceReportID is the id of a resource instance's report for time t.
func InstanceReportID(k InstanceKey, t int64) string {
	return fmt.Sprintf("k/%s/%s/%s/%s/%s/%s/%s/t/%016d", k.Org, k.Instance, k.Consumer, k.PlanID,
		k.MeteringPlanID, k.RatingPlanID, k.PricingPlanID, t)
}

// Instance builds the report of a resource instance as of t. It is fault.NotFound when the
// instance has no usage under those plans in the report's windows. A key with only a PlanID
// takes the one set of plans the instance used under it; when it used several, the key must
// name them (fault.Invalid).
func (a *Reports) Instance(ctx context.Context, k InstanceKey, t int64) (*InstanceReport, error) {
	if err := checkInstanceKey(k); err != nil {
		return nil, err
	}
	r := a.r
	periods, start := r.Periods(t)
	q := report.Query{Org: k.Org, AsOf: t, Scopes: []metering.Scope{metering.ScopeInstance}, Periods: periods,
		Instance: k.Instance, Consumer: k.Consumer}
	key := k.PlanIDs.Key()
	if k.MeteringPlanID == "" && k.RatingPlanID == "" && k.PricingPlanID == "" {
		q.PlanID = k.PlanID
	} else {
		q.Plan = key
	}
	cells, err := r.Store.Read(ctx, q)
	if err != nil {
		return nil, err
	}
	if q.PlanID != "" && len(cells) > 0 {
		keys := map[string]bool{}
		for _, c := range cells {
			keys[c.Plan] = true
		}
		if len(keys) > 1 {
			return nil, fault.Invalid("ambiguous plan", fault.Problem{Field: "plan_id", Value: k.PlanID,
				Reason: fmt.Sprintf("the instance used %d sets of plans of this plan id; name its metering, rating and pricing plans", len(keys))})
		}
		key = cells[0].Plan
		k.PlanIDs = report.SplitPlanKey(key)
	}
	if len(cells) == 0 {
		return nil, fault.NotFound("resource instance %s of consumer %s in organization %s has no usage of plan %s processed by %d in the report's windows",
			k.Instance, k.Consumer, k.Org, key, t)
	}
	rep := &InstanceReport{ID: InstanceReportID(k, t), OrganizationID: k.Org, ResourceInstanceID: k.Instance,
		ConsumerID: k.Consumer, PlanIDs: k.PlanIDs, Start: start, End: t, Windows: report.NewCharges(r.Slots)}
	ptrs := make([]*report.Cell, len(cells))
	for i := range cells {
		c := &cells[i]
		ptrs[i] = c
		rep.SpaceID, rep.ResourceID = c.Space, c.Resource
		rep.Processed = max(rep.Processed, c.Processed)
	}
	b := builder{r: r, t: t, plans: map[string]report.PlanSet{}}
	if rep.AccumulatedUsage, err = b.metrics(k.PlanIDs, ptrs, rep.Windows, nil); err != nil {
		return nil, err
	}
	return rep, nil
}
