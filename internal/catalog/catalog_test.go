package catalog

import (
	"errors"
	"testing"

	"github.com/meterline/meterline/internal/plans"
)

// TestBuiltin: the built-in catalog maps Abacus' object storage sample to its three plans and
// knows their resource type, as a first start of Meterline stores them.
func TestBuiltin(t *testing.T) {
	c, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range plans.Kinds {
		id, ok := c.Lookup(kind, "any-org", "object-storage", "basic", 1_700_000_000_000)
		if !ok || id == "" {
			t.Errorf("no %s plan for object-storage/basic", kind)
			continue
		}
		if doc, ok := c.PlanDoc(kind, id); !ok || doc.Kind() != kind || doc.ID() != id {
			t.Errorf("%s plan %s: document %v, %v", kind, id, doc, ok)
		}
	}
	if rt, ok := c.ResourceType("object-storage"); !ok || rt != "object-storage" {
		t.Errorf("resource type of object-storage = %q, %v", rt, ok)
	}
	if n := len(c.PlanDocs(plans.KindMetering)); n < 2 {
		t.Errorf("%d built-in metering plans, want several", n)
	}
}

// TestApplyPlanVersions: a plan id keeps its first version; the same document again changes
// nothing, another one is reported as ignored.
func TestApplyPlanVersions(t *testing.T) {
	c := NewCatalog()
	first := &plans.RatingPlan{PlanID: "r", Metrics: []plans.RatingMetric{{Name: "storage"}}}
	other := &plans.RatingPlan{PlanID: "r", Metrics: []plans.RatingMetric{{Name: "storage", Rate: "(price, qty) => qty * 2"}}}
	apply := func(v any) error {
		r, err := RecordOf(v)
		if err != nil {
			t.Fatal(err)
		}
		return c.Apply(r)
	}
	if err := apply(first); err != nil {
		t.Fatal(err)
	}
	if err := apply(first); err != nil {
		t.Errorf("the same version again: %v, want nil", err)
	}
	if err := apply(other); !errors.Is(err, ErrLaterVersion) {
		t.Errorf("another version: %v, want ErrLaterVersion", err)
	}
	if p, ok := c.RatingPlan("r"); !ok || p.Plan.Metrics[0].Rate != "" {
		t.Errorf("rating plan r = %+v, %v, want the first version", p, ok)
	}
	if _, err := RecordOf(42); err == nil {
		t.Error("RecordOf(42): no error")
	}
	if err := c.Apply(Record{Key: "bogus/x", Value: []byte("{}")}); err == nil {
		t.Error("a record of an unknown kind applied")
	}
}
