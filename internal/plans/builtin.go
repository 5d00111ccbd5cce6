package plans

import (
	"embed"
	"encoding/json"
	"fmt"
)

// The built-in sample plans are the expr-lang equivalents of the plans Cloud Foundry Abacus
// shipped as samples (object storage, linux container, analytics, standard service, services
// hours and the test plans), with Abacus' plan-id mappings, and the plans of what Meterline's
// pollers emit (openstack-compute: one plan id per Nova flavor). `meterline dev` loads them.
// Differences from Abacus' JavaScript: an accumulate formula keeps the cell unchanged (returns
// a) for usage outside the cell's window where Abacus returned null; basic-analytics' metrics,
// written in Abacus' older AVG/SUM formula syntax, are the maximum of classifiers and the sums
// of the two call counts; the pricing mappings to plans Abacus never shipped
// (analytics-pricing-*, test-db-basic) are left out.
//
//go:embed builtin/*.json
var builtinFS embed.FS

// Mappings maps a resource type and a plan id to a plan id, per kind (metering, rating,
// pricing), as Abacus' mapping files did.
type Mappings map[string]map[string]map[string]string

// Builtin is the set of built-in sample plans and their mappings.
type Builtin struct {
	Metering []MeteringPlan
	Rating   []RatingPlan
	Pricing  []PricingPlan
	Mappings Mappings
}

// LoadBuiltin returns the built-in sample plans.
func LoadBuiltin() (Builtin, error) {
	var b Builtin
	for _, f := range []struct {
		name string
		into any
	}{
		{"builtin/metering-plans.json", &b.Metering},
		{"builtin/rating-plans.json", &b.Rating},
		{"builtin/pricing-plans.json", &b.Pricing},
		{"builtin/mappings.json", &b.Mappings},
	} {
		raw, err := builtinFS.ReadFile(f.name)
		if err != nil {
			return b, err
		}
		if err := json.Unmarshal(raw, f.into); err != nil {
			return b, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return b, nil
}

// Documents lists the built-in plans of every kind, metering plans first, then rating, then
// pricing, each in file order.
func (b Builtin) Documents() []Document {
	var out []Document
	for i := range b.Metering {
		out = append(out, &b.Metering[i])
	}
	for i := range b.Rating {
		out = append(out, &b.Rating[i])
	}
	for i := range b.Pricing {
		out = append(out, &b.Pricing[i])
	}
	return out
}
