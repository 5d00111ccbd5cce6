// Test support: the built-in catalog without the topic. `make lint`'s dead-code check passes
// over this file, since only tests reach it.

package catalog

import (
	"maps"
	"slices"

	"github.com/meterline/meterline/internal/plans"
)

// Builtin returns a catalog of the built-in sample plans, their mappings (effective from
// time 0) and the resource types of their resources, as a first start of Meterline stores
// them (internal/provisioning's LoadBuiltin), without the topic.
func Builtin() (*Catalog, error) {
	b, err := plans.LoadBuiltin()
	if err != nil {
		return nil, err
	}
	c := NewCatalog()
	apply := func(_ string, v any) error {
		r, err := RecordOf(v)
		if err != nil {
			return err
		}
		return c.Apply(r)
	}
	for _, doc := range b.Documents() {
		if err := apply("", doc); err != nil {
			return nil, err
		}
	}
	for _, kind := range plans.Kinds {
		for _, rt := range slices.Sorted(maps.Keys(b.Mappings[kind])) {
			if err := apply(ResourceKey(rt), ResourceType{ResourceID: rt, ResourceType: rt}); err != nil {
				return nil, err
			}
			for _, plan := range slices.Sorted(maps.Keys(b.Mappings[kind][rt])) {
				m := Mapping{Kind: kind, ResourceType: rt, PlanID: plan, Plan: b.Mappings[kind][rt][plan]}
				if err := apply(MappingKey(m), m); err != nil {
					return nil, err
				}
			}
		}
	}
	return c, nil
}
