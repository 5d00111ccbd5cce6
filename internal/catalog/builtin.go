package catalog

import (
	"maps"
	"slices"

	"github.com/meterline/meterline/internal/plans"
)

// Builtins lists what a first start stores from the built-in plans, in the order it stores
// them: every plan document (plans.Document), then per plan kind and resource type (sorted)
// the resource type (ResourceType) followed by its mappings (Mapping, effective from time 0).
// internal/provisioning's LoadBuiltin writes them; Builtin applies them to a bare catalog.
func Builtins(b plans.Builtin) []any {
	var out []any
	for _, doc := range b.Documents() {
		out = append(out, doc)
	}
	for _, kind := range plans.Kinds {
		for _, rt := range slices.Sorted(maps.Keys(b.Mappings[kind])) {
			out = append(out, ResourceType{ResourceID: rt, ResourceType: rt})
			for _, plan := range slices.Sorted(maps.Keys(b.Mappings[kind][rt])) {
				out = append(out, Mapping{Kind: kind, ResourceType: rt, PlanID: plan, Plan: b.Mappings[kind][rt][plan]})
			}
		}
	}
	return out
}
