// Test support: the built-in catalog without the topic. `make lint`'s dead-code check passes
// over this file, since only tests reach it.

package catalog

import "github.com/meterline/meterline/internal/plans"

// Builtin returns a catalog of the built-in sample plans, their mappings (effective from
// time 0) and the resource types of their resources, as a first start of Meterline stores
// them (internal/provisioning's LoadBuiltin), without the topic.
func Builtin() (*Catalog, error) {
	b, err := plans.LoadBuiltin()
	if err != nil {
		return nil, err
	}
	c := NewCatalog()
	for _, v := range Builtins(b) {
		r, err := RecordOf(v)
		if err != nil {
			return nil, err
		}
		if err := c.Apply(r); err != nil {
			return nil, err
		}
	}
	return c, nil
}
