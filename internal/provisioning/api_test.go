package provisioning

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/plans"
)

// topicWriter stands in for the provisioning topic and the Store following it, without Kafka.
// Put first applies the records of other writers that won a race to the topic (raced), then
// its own, in that order; like the Store it keeps Apply's errors (the Store logs them) rather
// than failing the write.
type topicWriter struct {
	c       *catalog.Catalog
	raced   []catalog.Record
	puts    int
	ignored []error
}

func (w *topicWriter) Put(_ context.Context, r catalog.Record) error {
	w.puts++
	for _, x := range append(w.raced, r) {
		if err := w.c.Apply(x); err != nil {
			w.ignored = append(w.ignored, err)
		}
	}
	w.raced = nil
	return nil
}

var _ Writer = (*topicWriter)(nil)

func newTestAPI() (*API, *topicWriter) {
	w := &topicWriter{c: catalog.NewCatalog()}
	return NewAPI(w.c, w, zap.NewNop()), w
}

// parsePlan decodes a plan document of kind as the API does.
func parsePlan(t *testing.T, kind, doc string) plans.Document {
	t.Helper()
	v, err := plans.NewDocument(kind)
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeBytes([]byte(doc), v); err != nil {
		t.Fatalf("plan %s: %v", doc, err)
	}
	return v
}

// planRecord is the record the API writes for a plan document of kind.
func planRecord(t *testing.T, kind, doc string) catalog.Record {
	t.Helper()
	p := parsePlan(t, kind, doc)
	value, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return catalog.Record{Key: catalog.PlanKey(kind, p.ID(), value), Value: value}
}

func mappingRecord(m catalog.Mapping) catalog.Record {
	value, _ := json.Marshal(m)
	return catalog.Record{Key: catalog.MappingKey(m), Value: value}
}

// Plans of each kind: two versions of one plan id.
var planVersions = []struct {
	kind, first, other string
}{
	{plans.KindMetering,
		`{"plan_id":"storage","measures":[{"name":"storage","unit":"BYTE"}],"metrics":[{"name":"storage","unit":"GIGABYTE","meter":"m.storage / 1073741824"}]}`,
		`{"plan_id":"storage","measures":[{"name":"storage","unit":"BYTE"}],"metrics":[{"name":"storage","unit":"GIGABYTE","meter":"m.storage / 1000000000"}]}`},
	{plans.KindRating,
		`{"plan_id":"storage","metrics":[{"name":"storage"}]}`,
		`{"plan_id":"storage","metrics":[{"name":"storage"},{"name":"calls"}]}`},
	{plans.KindPricing,
		`{"plan_id":"storage","metrics":[{"name":"storage","prices":[{"country":"USA","price":1.50}]}]}`,
		`{"plan_id":"storage","metrics":[{"name":"storage","prices":[{"country":"USA","price":2}]}]}`},
}

// TestApplyKeepsFirstPlanVersion: of two versions of a plan in the topic, compaction keeps
// both (their keys differ) and every reader keeps the first; the first again changes nothing.
func TestApplyKeepsFirstPlanVersion(t *testing.T) {
	for _, v := range planVersions {
		t.Run(v.kind, func(t *testing.T) {
			c := catalog.NewCatalog()
			first, other := planRecord(t, v.kind, v.first), planRecord(t, v.kind, v.other)
			if first.Key == other.Key || !strings.HasPrefix(first.Key, v.kind+"_plan/storage/") {
				t.Errorf("keys %s and %s: want %s_plan/storage/<digest>, one per version", first.Key, other.Key, v.kind)
			}
			if again := planRecord(t, v.kind, strings.ReplaceAll(v.first, `"plan_id":"storage",`, `"plan_id": "storage" ,`)); again.Key != first.Key {
				t.Errorf("the key of one plan written with other spacing is %s, want %s", again.Key, first.Key)
			}
			if err := c.Apply(first); err != nil {
				t.Fatal(err)
			}
			if err := c.Apply(other); !errors.Is(err, catalog.ErrLaterVersion) || !strings.Contains(err.Error(), first.Key) {
				t.Errorf("applying another version: %v, want an error naming the first (%s)", err, first.Key)
			}
			if err := c.Apply(first); err != nil {
				t.Errorf("applying the first version again: %v", err)
			}
			doc, _ := c.PlanDoc(v.kind, "storage")
			if got, _ := json.Marshal(doc); !bytes.Equal(got, first.Value) {
				t.Errorf("kept %s, want the first version %s", got, first.Value)
			}
		})
	}
}

// TestApplyKeepsFirstMapping: two mappings of one slot to different plans are both kept by
// compaction (the target is in the key), and the first wins.
func TestApplyKeepsFirstMapping(t *testing.T) {
	c := catalog.NewCatalog()
	for _, id := range []string{"a", "b"} {
		if err := c.Apply(planRecord(t, plans.KindMetering, `{"plan_id":"`+id+`","measures":[{"name":"x","unit":"X"}],"metrics":[{"name":"x","unit":"X"}]}`)); err != nil {
			t.Fatal(err)
		}
	}
	toA := catalog.Mapping{Kind: plans.KindMetering, ResourceType: "rt", PlanID: "basic", EffectiveFrom: 10, Plan: "a"}
	toB := toA
	toB.Plan = "b"
	own := toB
	own.OrganizationID = "org-1"
	starOrg := own
	starOrg.OrganizationID = "*"
	keys := map[string]bool{}
	for _, m := range []catalog.Mapping{toA, toB, own, starOrg} {
		keys[catalog.MappingKey(m)] = true
	}
	if len(keys) != 4 {
		t.Errorf("mapping keys %v: want one per slot and target", keys)
	}

	if err := c.Apply(mappingRecord(toA)); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(mappingRecord(toB)); !errors.Is(err, catalog.ErrLaterVersion) || !strings.Contains(err.Error(), "mapped to a already") {
		t.Errorf("applying another target for the slot: %v, want an error naming the first target", err)
	}
	if err := c.Apply(mappingRecord(toA)); err != nil {
		t.Errorf("applying the first mapping again: %v", err)
	}
	if err := c.Apply(mappingRecord(own)); err != nil { // another slot: one organization's
		t.Fatal(err)
	}
	if id, _ := c.Lookup(plans.KindMetering, "org-2", "rt", "basic", 10); id != "a" {
		t.Errorf("org-2 is mapped to %q, want the first mapping's a", id)
	}
	if id, _ := c.Lookup(plans.KindMetering, "org-1", "rt", "basic", 10); id != "b" {
		t.Errorf("org-1 is mapped to %q, want its own mapping's b", id)
	}
	if got := c.Mappings(plans.KindMetering); len(got) != 2 {
		t.Errorf("mappings %v, want the first global one and org-1's", got)
	}
}

// TestPutPlanConflicts: a different plan under a stored plan id is a conflict, also when
// another writer got its version into the topic first while this one was writing.
func TestPutPlanConflicts(t *testing.T) {
	ctx := context.Background()
	for _, v := range planVersions {
		t.Run(v.kind, func(t *testing.T) {
			api, w := newTestAPI()
			if created, err := api.PutPlan(ctx, parsePlan(t, v.kind, v.first)); !created || err != nil {
				t.Fatalf("first PutPlan: %v %v", created, err)
			}
			if created, err := api.PutPlan(ctx, parsePlan(t, v.kind, v.first)); created || err != nil {
				t.Errorf("the same plan again: created %v, %v; want false, nil", created, err)
			}
			if _, err := api.PutPlan(ctx, parsePlan(t, v.kind, v.other)); fault.KindOf(err) != fault.KindConflict || !strings.Contains(err.Error(), "immutable") {
				t.Errorf("another plan under the id: %v, want a conflict saying plans are immutable", err)
			}

			// Two writers race to create plan raced: the other's record lands first.
			rival := planRecord(t, v.kind, strings.Replace(v.other, `"storage"`, `"raced"`, 1))
			w.raced = []catalog.Record{rival}
			ours := parsePlan(t, v.kind, strings.Replace(v.first, `"storage"`, `"raced"`, 1))
			if created, err := api.PutPlan(ctx, ours); fault.KindOf(err) != fault.KindConflict {
				t.Errorf("losing a race: created %v, %v; want a conflict", created, err)
			}
			if doc, _ := w.c.PlanDoc(v.kind, "raced"); doc == nil || !samePlanValue(t, doc, rival.Value) {
				t.Errorf("the catalog holds %v, want the rival's first version", doc)
			}
			if len(w.ignored) != 1 || !errors.Is(w.ignored[0], catalog.ErrLaterVersion) {
				t.Errorf("the reader ignored %v, want our later version", w.ignored)
			}

			// Two writers race with one document: both are answered created.
			same := planRecord(t, v.kind, strings.Replace(v.first, `"storage"`, `"twice"`, 1))
			w.raced = []catalog.Record{same}
			if created, err := api.PutPlan(ctx, parsePlan(t, v.kind, strings.Replace(v.first, `"storage"`, `"twice"`, 1))); !created || err != nil {
				t.Errorf("racing with the same document: created %v, %v; want true, nil", created, err)
			}
		})
	}
}

func samePlanValue(t *testing.T, doc any, value []byte) bool {
	t.Helper()
	got, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(got, value)
}

// TestPutMappingConflicts: a mapping to another plan in a mapped slot is a conflict, also when
// another writer got its mapping into the topic first while this one was writing.
func TestPutMappingConflicts(t *testing.T) {
	ctx := context.Background()
	api, w := newTestAPI()
	for _, id := range []string{"a", "b"} {
		doc := `{"plan_id":"` + id + `","measures":[{"name":"x","unit":"X"}],"metrics":[{"name":"x","unit":"X"}]}`
		if _, err := api.PutPlan(ctx, parsePlan(t, plans.KindMetering, doc)); err != nil {
			t.Fatal(err)
		}
	}
	m := catalog.Mapping{Kind: plans.KindMetering, ResourceType: "rt", PlanID: "basic", OrganizationID: "org-1", EffectiveFrom: 5, Plan: "a"}
	if created, err := api.PutMapping(ctx, m); !created || err != nil {
		t.Fatalf("first PutMapping: %v %v", created, err)
	}
	if created, err := api.PutMapping(ctx, m); created || err != nil {
		t.Errorf("the same mapping again: created %v, %v; want false, nil", created, err)
	}
	other := m
	other.Plan = "b"
	if _, err := api.PutMapping(ctx, other); fault.KindOf(err) != fault.KindConflict || !strings.Contains(err.Error(), "mapped to a already") {
		t.Errorf("another plan for the slot: %v, want a conflict naming plan a", err)
	}
	later := other
	later.EffectiveFrom = 6
	if created, err := api.PutMapping(ctx, later); !created || err != nil {
		t.Errorf("the change with a later effective_from: created %v, %v; want true, nil", created, err)
	}

	// Two writers race for the global slot: the other's mapping (to b) lands first.
	global := catalog.Mapping{Kind: plans.KindMetering, ResourceType: "rt", PlanID: "basic", Plan: "a"}
	rival := global
	rival.Plan = "b"
	w.raced = []catalog.Record{mappingRecord(rival)}
	if created, err := api.PutMapping(ctx, global); fault.KindOf(err) != fault.KindConflict {
		t.Errorf("losing a race: created %v, %v; want a conflict", created, err)
	}
	if id, _ := w.c.Lookup(plans.KindMetering, "org-2", "rt", "basic", 0); id != "b" {
		t.Errorf("org-2 is mapped to %q, want the rival's b", id)
	}
	if len(w.ignored) != 1 || !errors.Is(w.ignored[0], catalog.ErrLaterVersion) {
		t.Errorf("the reader ignored %v, want our later mapping", w.ignored)
	}
}

// TestLoadBuiltinKeepsUserChanges: LoadBuiltin, run at every start of dev, writes a built-in
// plan, mapping or resource type only where nothing is stored: a user's own version of a
// built-in plan id, mapping slot or resource id stays, and a second run writes nothing.
func TestLoadBuiltinKeepsUserChanges(t *testing.T) {
	ctx := context.Background()
	api, w := newTestAPI()
	storage := `{"plan_id":"%s","measures":[{"name":"storage","unit":"BYTE"},{"name":"light_api_calls","unit":"CALL"},{"name":"heavy_api_calls","unit":"CALL"}],
"metrics":[{"name":"storage","unit":"GIGABYTE","meter":"m.storage / 1000000000"},{"name":"thousand_light_api_calls","unit":"THOUSAND_CALLS","meter":"m.light_api_calls / 1000"},{"name":"heavy_api_calls","unit":"CALL"}]}`
	mine := parsePlan(t, plans.KindMetering, strings.Replace(storage, "%s", "my-object-storage", 1))
	builtinID := parsePlan(t, plans.KindMetering, strings.Replace(storage, "%s", "standard-object-storage", 1))
	for _, p := range []plans.Document{mine, builtinID} {
		if _, err := api.PutPlan(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	slot := catalog.Mapping{Kind: plans.KindMetering, ResourceType: "object-storage", PlanID: "basic", Plan: "my-object-storage"}
	if _, err := api.PutMapping(ctx, slot); err != nil {
		t.Fatal(err)
	}
	if _, err := api.PutResourceType(ctx, catalog.ResourceType{ResourceID: "object-storage", ResourceType: "object-storage-v2"}); err != nil {
		t.Fatal(err)
	}

	if err := api.LoadBuiltin(ctx); err != nil {
		t.Fatal(err)
	}
	if id, _ := w.c.Lookup(plans.KindMetering, "org", "object-storage", "basic", 0); id != "my-object-storage" {
		t.Errorf("the user's mapping of a built-in slot became %q", id)
	}
	if doc, _ := w.c.PlanDoc(plans.KindMetering, "standard-object-storage"); !samePlanValue(t, doc, mustJSON(t, builtinID)) {
		t.Errorf("the user's plan under a built-in plan id became %v", doc)
	}
	if rt, _ := w.c.ResourceType("object-storage"); rt != "object-storage-v2" {
		t.Errorf("the user's resource type of object-storage became %q", rt)
	}
	if id, _ := w.c.Lookup(plans.KindMetering, "org", "object-storage", "standard", 0); id != "standard-object-storage" {
		t.Errorf("the built-in slot nobody mapped is mapped to %q", id)
	}
	if id, _ := w.c.Lookup(plans.KindRating, "org", "object-storage", "basic", 0); id != "object-rating-plan" {
		t.Errorf("the built-in rating slot is mapped to %q", id)
	}
	if len(w.ignored) > 0 {
		t.Errorf("records ignored: %v", w.ignored)
	}

	puts := w.puts
	if err := api.LoadBuiltin(ctx); err != nil {
		t.Fatal(err)
	}
	if w.puts != puts {
		t.Errorf("a second LoadBuiltin wrote %d records, want none", w.puts-puts)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeProblems: decode names the field of an unknown field or a wrong type, refuses a
// body over the limit as too large (answered 400 with kind too_large, see web.Status), and a
// body that cannot be read as invalid.
func TestDecodeProblems(t *testing.T) {
	f := func(name string, r *http.Request, kind fault.Kind, field, reason string) {
		t.Helper()
		var m catalog.Mapping
		err := decode(r, &m)
		var fe *fault.Error
		if !errors.As(err, &fe) || fe.Kind != kind {
			t.Errorf("%s: %v, want an error of kind %s", name, err, kind)
			return
		}
		if len(fe.Problems) != 1 || fe.Problems[0].Field != field || !strings.Contains(fe.Problems[0].Reason, reason) {
			t.Errorf("%s: problems %v, want one of field %q saying %q", name, fe.Problems, field, reason)
		}
	}
	post := func(body string) *http.Request {
		return httptest.NewRequest(http.MethodPost, "/v1/provisioning/mappings", strings.NewReader(body))
	}
	invalid := fault.KindInvalid
	f("unknown field", post(`{"kind":"metering","colour":"red"}`), invalid, "colour", "is not a field of this document")
	f("unknown field with a quote", post(`{"co\"lour":1}`), invalid, `co"lour`, "is not a field of this document")
	f("wrong type", post(`{"effective_from":"soon"}`), invalid, "effective_from", "must be int64, not string")
	f("malformed", post(`{"kind":`), invalid, "", "malformed JSON")
	f("trailing data", post(`{} {}`), invalid, "", "data after the document")
	f("too large", post(`{"kind":"`+strings.Repeat("x", maxDocument)+`"}`), fault.KindTooLarge, "", "larger than 1048576 bytes")
	f("invalid UTF-8", post("{\"organization_id\":\"org-\xff\"}"), invalid, "", "not valid UTF-8 at byte 24") // not turned into U+FFFD
	f("long unknown field", post(`{"`+strings.Repeat("c", 100_000)+`":1}`), invalid, strings.Repeat("c", 64)+"…", "is not a field of this document")
	f("unreadable", httptest.NewRequest(http.MethodPost, "/v1/provisioning/mappings", iotest.ErrReader(errors.New("connection reset"))),
		invalid, "", "could not be read: connection reset")

	// Through the handler, the problem names the field.
	api, _ := newTestAPI()
	mux := http.NewServeMux()
	api.Register(mux)
	rec := httptest.NewRecorder()
	auth.AsAdmin(mux).ServeHTTP(rec, post(`{"kind":"metering","colour":"red"}`))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"field":"colour","reason":"is not a field of this document"`) {
		t.Errorf("POST of a mapping with an unknown field: %d %s", rec.Code, rec.Body)
	}
}

// TestPutResourceTypeStatus: the API answers 201 when it creates a resource type, 200 when the
// resource id had one (the same, or another that the new one replaces).
func TestPutResourceTypeStatus(t *testing.T) {
	api, w := newTestAPI()
	mux := http.NewServeMux()
	api.Register(mux)
	for _, c := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"resource_type":"object-storage"}`, 201, "object-storage"},
		{`{"resource_type":"object-storage"}`, 200, "object-storage"},
		{`{"resource_id":"r1","resource_type":"object-storage-v2"}`, 200, "object-storage-v2"},
	} {
		rec := httptest.NewRecorder()
		auth.AsAdmin(mux).ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "/v1/provisioning/resources/r1/type", strings.NewReader(c.body)))
		if rec.Code != c.status {
			t.Errorf("PUT %s: %d %s, want %d", c.body, rec.Code, rec.Body, c.status)
		}
		if rt, _ := w.c.ResourceType("r1"); rt != c.want {
			t.Errorf("after PUT %s the resource type is %q, want %q", c.body, rt, c.want)
		}
	}
}
