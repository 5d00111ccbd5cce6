package plans

import (
	"fmt"
	"slices"
)

// Kinds of plan: the metering plan meters documents, the rating plan rates and charges the
// metered quantities, the pricing plan prices them per country.
const (
	KindMetering = "metering"
	KindRating   = "rating"
	KindPricing  = "pricing"
)

// Kinds lists every kind of plan, in the order usage passes through them.
var Kinds = []string{KindMetering, KindRating, KindPricing}

// Document is a plan document of any kind, as the provisioning API and topic take it.
type Document interface {
	// Kind is the document's kind of plan.
	Kind() string
	// ID is its plan id.
	ID() string
	// Compile checks the document and compiles it: a *Metering, *Rating or *Pricing.
	Compile() (any, error)
}

// NewDocument returns an empty document of kind, to decode into.
func NewDocument(kind string) (Document, error) {
	switch kind {
	case KindMetering:
		return &MeteringPlan{}, nil
	case KindRating:
		return &RatingPlan{}, nil
	case KindPricing:
		return &PricingPlan{}, nil
	}
	return nil, fmt.Errorf("unknown kind of plan %q (one of %v)", kind, Kinds)
}

// IsKind reports whether kind names a kind of plan.
func IsKind(kind string) bool { return slices.Contains(Kinds, kind) }

// Kind is "metering".
func (p *MeteringPlan) Kind() string { return KindMetering }

// ID is the plan id.
func (p *MeteringPlan) ID() string { return p.PlanID }

// Compile compiles the plan into a *Metering.
func (p *MeteringPlan) Compile() (any, error) { return CompileMetering(*p) }

// Kind is "rating".
func (p *RatingPlan) Kind() string { return KindRating }

// ID is the plan id.
func (p *RatingPlan) ID() string { return p.PlanID }

// Compile compiles the plan into a *Rating.
func (p *RatingPlan) Compile() (any, error) { return CompileRating(*p) }

// Kind is "pricing".
func (p *PricingPlan) Kind() string { return KindPricing }

// ID is the plan id.
func (p *PricingPlan) ID() string { return p.PlanID }

// Compile compiles the plan into a *Pricing.
func (p *PricingPlan) Compile() (any, error) { return CompilePricing(*p) }

// DocumentOf returns the document a compiled plan (a *Metering, *Rating or *Pricing) was
// compiled from.
func DocumentOf(compiled any) Document {
	switch c := compiled.(type) {
	case *Metering:
		return &c.Plan
	case *Rating:
		return &c.Plan
	case *Pricing:
		return &c.Plan
	}
	return nil
}
