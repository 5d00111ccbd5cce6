package catalog

import (
	"errors"
	"slices"
	"strings"
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

// TestAPIKeyRevocationSticks: a revoked key's record replaces the key, and a later record
// that would revive it is ignored, so a replay of the topic cannot bring a revoked key back.
func TestAPIKeyRevocationSticks(t *testing.T) {
	c := NewCatalog()
	apply := func(k APIKey) error {
		r, err := RecordOf(k)
		if err != nil {
			t.Fatal(err)
		}
		if r.Key != "api_key/"+k.ID {
			t.Fatalf("key %q", r.Key)
		}
		return c.Apply(r)
	}
	k := APIKey{ID: "k1", Hash: strings.Repeat("ab", 32), Organizations: []string{"o"}, Scopes: []string{"abacus.usage.read"}, Created: 1}
	if ps := APIKeyProblems(k); len(ps) > 0 {
		t.Fatalf("problems of a good key: %v", ps)
	}
	if err := apply(k); err != nil {
		t.Fatal(err)
	}
	revoked := k
	revoked.Revoked = 5
	if err := apply(revoked); err != nil {
		t.Fatal(err)
	}
	if err := apply(k); err == nil {
		t.Error("a record reviving a revoked key applied")
	}
	if got, ok := c.APIKey("k1"); !ok || got.Revoked != 5 {
		t.Errorf("APIKey(k1) = %+v, %v, want revoked at 5", got, ok)
	}
	if got := c.APIKeys(); len(got) != 1 || got[0].ID != "k1" {
		t.Errorf("APIKeys() = %+v", got)
	}
}

func TestAPIKeyProblems(t *testing.T) {
	f := func(k APIKey, fields ...string) {
		t.Helper()
		var got []string
		for _, p := range APIKeyProblems(k) {
			got = append(got, p.Field)
		}
		if !slices.Equal(got, fields) {
			t.Errorf("APIKeyProblems(%+v) fields = %v, want %v", k, got, fields)
		}
	}
	good := APIKey{ID: "k", Hash: strings.Repeat("0f", 32), Organizations: []string{"*"}, Scopes: []string{"meterline.admin"}, Created: 10}
	f(good)
	bad := good
	bad.ID, bad.Hash, bad.Organizations, bad.Scopes, bad.Expires = "", "xyz", nil, []string{"a b", ""}, 10
	f(bad, "id", "hash", "organizations", "scopes[0]", "scopes[1]", "expires")
	many := good
	many.Organizations = make([]string, MaxKeyOrganizations+1)
	many.Scopes = make([]string, MaxKeyScopes+1)
	f(many, "organizations", "scopes")
}
