package metering

import (
	"errors"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/provisioning"
	"github.com/meterline/meterline/internal/usage"
)

// Scope is how wide a cell is, from one resource instance to a whole organization.
type Scope uint8

// The scopes, narrowest first.
const (
	ScopeInstance Scope = iota
	ScopeConsumer
	ScopeSpace
	ScopeOrganization
)

var scopeNames = [...]string{"instance", "consumer", "space", "organization"}

func (s Scope) String() string { return scopeNames[s] }

// CellKey identifies a cell: a scope with the ids down to it, a resource, a plan (empty for
// the resource-level cells that add up every plan of the resource), a metric, a level and the
// start of the level's period.
type CellKey struct {
	Scope    Scope
	Org      string
	Space    string // "" above space scope
	Consumer string // "" above consumer scope
	Instance string // "" above instance scope
	Resource string
	Plan     string // PlanKey of the plans used, "" for resource-level cells
	Metric   string
	Level    Level
	From     int64
}

// PlanKey names the plans a cell was metered and rated with, as Abacus' plan ids did:
// "<plan_id>/<metering plan>/<rating plan>/<pricing plan>".
func PlanKey(planID, metering, rating, pricing string) string {
	return planID + "/" + metering + "/" + rating + "/" + pricing
}

// State is where cells are read from and written to.
type State interface {
	Get(k CellKey) any
	Set(k CellKey, v any)
}

// MapState is a State in memory.
type MapState map[CellKey]any

// Get returns a cell's value, nil when it has none.
func (m MapState) Get(k CellKey) any { return m[k] }

// Set sets a cell's value.
func (m MapState) Set(k CellKey, v any) { m[k] = v }

// Plans is what the processor needs of the provisioning state.
type Plans interface {
	ResourceType(resourceID string) (string, bool)
	Lookup(kind, org, resourceType, planID string, t int64) (string, bool)
	MeteringPlan(id string) (*plans.Metering, bool)
	RatingPlan(id string) (*plans.Rating, bool)
	Price(pricingPlan, metric, org string) (decimal.Decimal, bool)
}

var _ Plans = (*provisioning.Catalog)(nil)

// Rejection is usage the processor does not count, with the reason. Every rejected document
// is published with its reason; none is dropped silently.
type Rejection struct {
	Reason string
	Err    error
}

func (r *Rejection) Error() string { return r.Reason }
func (r *Rejection) Unwrap() error { return r.Err }

func reject(err error, format string, args ...any) *Rejection {
	return &Rejection{Reason: fmt.Sprintf(format, args...), Err: err}
}

// Causes of rejections for want of provisioning.
var (
	ErrNoPlan  = errors.New("no plan")
	ErrNoPrice = errors.New("no price")
)

// Update is a cell's new value, and its cost where the cell is rated.
type Update struct {
	Key   CellKey
	Value any
	Cost  any // nil for resource-level cells and unrated metrics
}

// Processor meters, accumulates, aggregates and rates usage documents into cells.
type Processor struct {
	Plans      Plans
	Acceptance Acceptance
}

// Process applies a document processed at now (epoch ms) to state and returns the cells it
// changed. On a *Rejection or *plans.EvalError (naming the document) nothing was written to
// state.
func (p *Processor) Process(doc *usage.Document, now int64, state State) ([]Update, error) {
	updates, err := p.process(doc, now, state)
	var ee *plans.EvalError
	if errors.As(err, &ee) {
		ee.Document = doc.ID()
	}
	return updates, err
}

func (p *Processor) process(doc *usage.Document, now int64, state State) ([]Update, error) {
	if err := p.Acceptance.Accept(doc.End, now); err != nil {
		return nil, reject(err, "%v", err)
	}
	rt, ok := p.Plans.ResourceType(doc.ResourceID)
	if !ok {
		return nil, reject(ErrNoPlan, "resource %s has no resource type", doc.ResourceID)
	}
	ids := [3]string{}
	for i, kind := range []string{provisioning.KindMetering, provisioning.KindRating, provisioning.KindPricing} {
		ids[i], _ = p.Plans.Lookup(kind, doc.OrganizationID, rt, doc.PlanID, doc.End)
	}
	meter, ok := p.Plans.MeteringPlan(ids[0])
	if !ok {
		return nil, reject(ErrNoPlan, "no metering plan for organization %s, resource type %s, plan %s at %d",
			doc.OrganizationID, rt, doc.PlanID, doc.End)
	}
	rating, _ := p.Plans.RatingPlan(ids[1]) // nil: usage is metered but not rated

	measures := make(map[string]any, len(doc.MeasuredUsage))
	for _, m := range doc.MeasuredUsage {
		measures[m.Measure] = m.Quantity
	}
	metered, err := meter.MeterDocument(measures, nil)
	if err != nil {
		return nil, err
	}
	// Compute every update before writing any, so that a failing formula leaves state as it was.
	planKey := PlanKey(doc.PlanID, ids[0], ids[1], ids[2])
	consumer := doc.Consumer()
	var updates []Update
	pending := map[CellKey]any{}
	get := func(k CellKey) any {
		if v, ok := pending[k]; ok {
			return v
		}
		return state.Get(k)
	}
	for i, mm := range meter.Metrics {
		qty := metered[i]
		if qty == nil {
			continue
		}
		for l := Level(0); l < Levels; l++ {
			from, to := l.Period(doc.End)
			inst := CellKey{Scope: ScopeInstance, Org: doc.OrganizationID, Space: doc.SpaceID, Consumer: consumer,
				Instance: doc.ResourceInstanceID, Resource: doc.ResourceID, Plan: planKey, Metric: mm.Name, Level: l, From: from}
			prev := get(inst)
			curr, err := meter.Accumulate(mm, prev, qty, doc.Start, doc.End, from, to)
			if err != nil {
				return nil, err
			}
			pending[inst] = curr
			updates = append(updates, Update{Key: inst, Value: curr})
			for _, scope := range []Scope{ScopeConsumer, ScopeSpace, ScopeOrganization} {
				for _, plan := range []string{planKey, ""} {
					k := inst
					k.Scope, k.Instance, k.Plan = scope, "", plan
					if scope >= ScopeSpace {
						k.Consumer = ""
					}
					if scope == ScopeOrganization {
						k.Space = ""
					}
					v, err := meter.Aggregate(mm, get(k), prev, curr)
					if err != nil {
						return nil, err
					}
					pending[k] = v
					updates = append(updates, Update{Key: k, Value: v})
				}
			}
		}
	}
	// The last update of a cell holds its final value; rate each rated cell once.
	last := make(map[CellKey]int, len(updates))
	for i, u := range updates {
		last[u.Key] = i
	}
	out := updates[:0]
	for i, u := range updates {
		if last[u.Key] != i {
			continue
		}
		if rating != nil && u.Key.Plan != "" {
			// Without a pricing plan usage is rated at no price (nil), as in Abacus; with one,
			// a metric it does not price in the organization's country would be charged
			// nothing silently, so the document is rejected instead.
			var price any
			if ids[2] != "" {
				pr, ok := p.Plans.Price(ids[2], u.Key.Metric, doc.OrganizationID)
				if !ok && rating.Metrics[u.Key.Metric] != nil {
					return nil, reject(ErrNoPrice, "pricing plan %s has no price for metric %s in the country of organization %s",
						ids[2], u.Key.Metric, doc.OrganizationID)
				}
				if ok {
					price = pr
				}
			}
			cost, err := rating.Rate(u.Key.Metric, price, u.Value)
			if err != nil {
				return nil, err
			}
			u.Cost = cost
		}
		out = append(out, u)
	}
	for _, u := range out {
		state.Set(u.Key, u.Value)
	}
	return out, nil
}
