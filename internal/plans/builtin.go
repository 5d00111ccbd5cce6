package plans

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
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
// The plans of each provider's poller may sit in a folder of their own (builtin/<provider>/),
// with the same four files, each optional; a mapping of the same resource type, kind and plan
// id in two folders is an error.
//
//go:embed builtin
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

// LoadBuiltin returns the built-in plans: those of builtin/ first, then each folder's, in
// name order.
func LoadBuiltin() (Builtin, error) {
	b := Builtin{Mappings: Mappings{}}
	dirs := []string{"builtin"}
	entries, err := builtinFS.ReadDir("builtin")
	if err != nil {
		return b, err
	}
	for _, e := range entries { // ReadDir sorts by name
		if e.IsDir() {
			dirs = append(dirs, "builtin/"+e.Name())
		}
	}
	for _, dir := range dirs {
		if err := b.load(dir); err != nil {
			return b, err
		}
	}
	return b, nil
}

// load adds the plans and mappings of dir's files.
func (b *Builtin) load(dir string) error {
	var (
		metering []MeteringPlan
		rating   []RatingPlan
		pricing  []PricingPlan
		mappings Mappings
	)
	for _, f := range []struct {
		name string
		into any
	}{
		{"metering-plans.json", &metering},
		{"rating-plans.json", &rating},
		{"pricing-plans.json", &pricing},
		{"mappings.json", &mappings},
	} {
		raw, err := builtinFS.ReadFile(dir + "/" + f.name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, f.into); err != nil {
			return fmt.Errorf("%s/%s: %w", dir, f.name, err)
		}
	}
	b.Metering = append(b.Metering, metering...)
	b.Rating = append(b.Rating, rating...)
	b.Pricing = append(b.Pricing, pricing...)
	for kind, types := range mappings {
		if b.Mappings[kind] == nil {
			b.Mappings[kind] = map[string]map[string]string{}
		}
		for rt, ids := range types {
			if b.Mappings[kind][rt] == nil {
				b.Mappings[kind][rt] = map[string]string{}
			}
			for id, plan := range ids {
				if _, dup := b.Mappings[kind][rt][id]; dup {
					return fmt.Errorf("%s/mappings.json: %s mapping of %s plan %s is built in twice", dir, kind, rt, id)
				}
				b.Mappings[kind][rt][id] = plan
			}
		}
	}
	return nil
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
