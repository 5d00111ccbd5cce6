package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schema compiles one of the JSON Schemas Meterline publishes in schemas/jsonschema.
func schema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	path := filepath.Join(repoRoot(), "schemas", "jsonschema", name)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(path, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// validate fails the test unless body is valid against s.
func validate(t *testing.T, s *jsonschema.Schema, body []byte) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("report is not JSON: %v: %s", err, body)
	}
	if err := s.Validate(doc); err != nil {
		t.Fatalf("report does not match its schema: %v\n%s", err, body)
	}
}

// path walks a decoded JSON document: string keys into objects, ints into arrays.
func path(t *testing.T, v any, steps ...any) any {
	t.Helper()
	for i, s := range steps {
		switch k := s.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: %v is not an object", steps[:i], v)
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("at %v: %v is not an array with index %d", steps[:i], v, k)
			}
			v = a[k]
		}
	}
	return v
}

// objectDoc is one of Abacus' object storage test documents, ending at end.
func objectDoc(org, instance string, end int64) string {
	return fmt.Sprintf(`{"start":%d,"end":%d,"organization_id":%q,"space_id":"space-1","consumer_id":"app:1",
"resource_id":"object-storage","plan_id":"basic","resource_instance_id":%q,"measured_usage":[
{"measure":"storage","quantity":1073741824},{"measure":"light_api_calls","quantity":1000},{"measure":"heavy_api_calls","quantity":100}]}`,
		end, end, org, instance)
}

// TestUsageReports posts Abacus' three object storage documents to meterline dev (real broker
// and ClickHouse) and reads them back through every report: the usage summary report (valid
// against its schema, storage 1, 3 thousand light calls, 300 heavy calls, charge 46.09 summed
// up every level), the resource instance report, and GraphQL; then shows a report for a past
// time does not change when late usage arrives, and the 404 and 400 answers.
func TestUsageReports(t *testing.T) {
	s := newStack(t)
	dev := s.start([]string{"dev"})
	base := "http://" + dev.addr
	org := "us-south:report-org"
	now := s.nowMs()
	for i := range 3 {
		if r := post(t, dev, objectDoc(org, "instance-1", now-int64(i+1)*1000)); r.status != http.StatusCreated {
			t.Fatalf("POST %d: %d %s", i, r.status, r.body)
		}
	}

	// Wait until the month's charge is complete, then take the report of that time.
	orgURL := base + "/v1/metering/organizations/" + url.PathEscape(org) + "/aggregated/usage"
	var asOf int64
	waitFor(t, "a report with the charge 46.09", func() (bool, string) {
		asOf = s.nowMs()
		r := do(t, http.MethodGet, fmt.Sprintf("%s/%d", orgURL, asOf), "", nil)
		if r.status != http.StatusOK {
			return false, fmt.Sprintf("%d %s", r.status, r.body)
		}
		return monthCharge(t, r.json(t)) == "46.09", string(r.body)
	})
	if r := do(t, http.MethodGet, orgURL, "", nil); r.header.Get("Meterline-Settled") != "false" {
		t.Errorf("a report of the present says Meterline-Settled %q, want false", r.header.Get("Meterline-Settled"))
	}
	time.Sleep(6500 * time.Millisecond) // past the settle delay (flush interval 200ms + 5s)
	first := do(t, http.MethodGet, fmt.Sprintf("%s/%d", orgURL, asOf), "", nil)
	if first.header.Get("Meterline-Settled") != "true" {
		t.Errorf("a report of %d ms ago says Meterline-Settled %q, want true", s.nowMs()-asOf, first.header.Get("Meterline-Settled"))
	}
	validate(t, schema(t, "usage-summary-report.schema.json"), first.body)
	rep := first.json(t)
	if rep["organization_id"] != org || path(t, rep, "end") != float64(asOf) {
		t.Errorf("report names %v at %v, want %s at %d", rep["organization_id"], rep["end"], org, asOf)
	}
	// Every level down to the plan adds up to the same charge; the plan's metrics carry
	// quantity, summary, cost and charge.
	consumer := path(t, rep, "spaces", 0, "consumers", 0)
	for _, node := range []any{rep, path(t, rep, "spaces", 0), consumer, path(t, consumer, "resources", 0),
		path(t, consumer, "resources", 0, "plans", 0), path(t, rep, "resources", 0)} {
		if got := monthCharge(t, node); got != "46.09" {
			t.Errorf("month charge of %v = %s, want 46.09", node.(map[string]any)["windows"], got)
		}
	}
	plan := path(t, consumer, "resources", 0, "plans", 0).(map[string]any)
	want := map[string]string{"storage": "1 1 1 1", "thousand_light_api_calls": "3 3 0.09 0.09", "heavy_api_calls": "300 300 45 45"}
	for i, name := range []string{"storage", "thousand_light_api_calls", "heavy_api_calls"} {
		m := path(t, plan, "aggregated_usage", i)
		w := path(t, m, "windows", 4, 0).(map[string]any)
		got := fmt.Sprint(w["quantity"], " ", w["summary"], " ", w["cost"], " ", w["charge"])
		if path(t, m, "metric") != name || got != want[name] {
			t.Errorf("plan metric %d: %v month quantity/summary/cost/charge %s, want %s %s", i, path(t, m, "metric"), got, name, want[name])
		}
	}

	// The resource instance report of the same usage.
	instURL := fmt.Sprintf("%s/v1/metering/organizations/%s/resource_instances/instance-1/consumers/app:1/plans/basic/metering_plans/%s/rating_plans/%s/pricing_plans/%s/aggregated/usage/%d",
		base, url.PathEscape(org), plan["metering_plan_id"], plan["rating_plan_id"], plan["pricing_plan_id"], asOf)
	inst := do(t, http.MethodGet, instURL, "", nil)
	if inst.status != http.StatusOK {
		t.Fatalf("resource instance report: %d %s", inst.status, inst.body)
	}
	validate(t, schema(t, "resource-instance-report.schema.json"), inst.body)
	if got := monthCharge(t, inst.json(t)); got != "46.09" || !strings.Contains(string(inst.body), `"space_id":"space-1"`) {
		t.Errorf("resource instance report: month charge %s, want 46.09: %s", got, inst.body)
	}

	// GraphQL: seed 001's first example query, and its resource_instance example.
	gq := func(q string) response {
		return do(t, http.MethodGet, base+"/v1/metering/aggregated/usage/graph/"+url.PathEscape(q), "", nil)
	}
	g := gq(fmt.Sprintf(`{ organization(organization_id: %q, time: %d) { organization_id, resources { resource_id, aggregated_usage { metric, windows { quantity } } } } }`, org, asOf))
	if g.status != http.StatusOK {
		t.Fatalf("GraphQL organization: %d %s", g.status, g.body)
	}
	if got := fmt.Sprint(path(t, g.json(t), "data", "organization", "resources", 0, "aggregated_usage", 2)); !strings.HasPrefix(got, "map[metric:heavy_api_calls ") ||
		fmt.Sprint(path(t, g.json(t), "data", "organization", "resources", 0, "aggregated_usage", 2, "windows", 4, 0)) != "map[quantity:300]" {
		t.Errorf("GraphQL organization heavy_api_calls: %s", got)
	}
	g = gq(fmt.Sprintf(`{ resource_instance(organization_id: %q, consumer_id: "app:1", resource_instance_id: "instance-1", plan_id: "basic", time: %d) { organization_id, space_id, resource_id, plan_id, accumulated_usage { metric, windows { summary, charge } } } }`, org, asOf))
	if g.status != http.StatusOK || !strings.Contains(string(g.body), `"charge":45`) {
		t.Errorf("GraphQL resource_instance: %d %s", g.status, g.body)
	}
	g = gq(`{ organization(organization_id: "x") { no_such_field } }`)
	if g.status != http.StatusBadRequest || !strings.Contains(string(g.body), `"errors"`) || !strings.Contains(string(g.body), "no_such_field") {
		t.Errorf("GraphQL bad query: %d %s, want 400 with errors naming no_such_field", g.status, g.body)
	}

	// Late usage, within the slack, of yesterday: it lands in yesterday's day slot, and the
	// report of asOf does not change.
	yesterday := asOf - 24*3600*1000
	if r := post(t, dev, objectDoc(org, "instance-2", yesterday)); r.status != http.StatusCreated {
		t.Fatalf("POST late usage: %d %s", r.status, r.body)
	}
	waitFor(t, "the late usage in a report of the present", func() (bool, string) {
		r := do(t, http.MethodGet, orgURL, "", nil)
		return r.status == http.StatusOK && fmt.Sprint(path(t, r.json(t), "windows", 3, 1)) != "<nil>", string(r.body)
	})
	if again := do(t, http.MethodGet, fmt.Sprintf("%s/%d", orgURL, asOf), "", nil); string(again.body) != string(first.body) {
		t.Errorf("the report of %d changed after late usage arrived:\nbefore %s\nafter  %s", asOf, first.body, again.body)
	}

	// The requests are counted, by report and status.
	if m := do(t, http.MethodGet, base+"/metrics", "", nil); !strings.Contains(string(m.body), `meterline_report_requests_total{report="organization",status="200"}`) ||
		!strings.Contains(string(m.body), `meterline_report_requests_total{report="graphql",status="400"} 1`) {
		t.Errorf("/metrics lacks the report requests")
	}

	// Unknown organization: 404; bad time: 400 naming the field; both JSON.
	r := do(t, http.MethodGet, base+"/v1/metering/organizations/nobody/aggregated/usage", "", nil)
	if r.status != http.StatusNotFound || r.json(t)["kind"] != "not_found" {
		t.Errorf("unknown organization: %d %s, want 404 not_found", r.status, r.body)
	}
	r = do(t, http.MethodGet, orgURL+"/yesterday", "", nil)
	if r.status != http.StatusBadRequest || path(t, r.json(t), "problems", 0, "field") != "time" {
		t.Errorf("bad time: %d %s, want 400 naming the field time", r.status, r.body)
	}
}

// monthCharge is the charge of the month's slot 0 of a report node, as text.
func monthCharge(t *testing.T, node any) string {
	t.Helper()
	w, _ := path(t, node, "windows", 4, 0).(map[string]any)
	if w == nil {
		return "none"
	}
	b, _ := json.Marshal(w["charge"])
	return string(b)
}

// waitFor polls cond until it holds, failing after a minute with its last state.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s; last: %s", what, state)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
