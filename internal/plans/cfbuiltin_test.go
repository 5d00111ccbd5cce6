package plans

import "testing"

// The Cloud Foundry poller's resources (internal/poller/cf) map to plans that exist.
func TestCFBuiltinMappings(t *testing.T) {
	b, err := LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, p := range b.Metering {
		have["metering/"+p.PlanID] = true
	}
	for _, p := range b.Rating {
		have["rating/"+p.PlanID] = true
	}
	for _, p := range b.Pricing {
		have["pricing/"+p.PlanID] = true
	}
	for _, kind := range []string{"metering", "rating", "pricing"} {
		for _, res := range []string{"linux-container", "cf-task", "cf-staging", "cf-service"} {
			id := b.Mappings[kind][res]["standard"]
			if id == "" || !have[kind+"/"+id] {
				t.Errorf("%s mapping of %s/standard = %q: no such plan", kind, res, id)
			}
		}
	}
}
