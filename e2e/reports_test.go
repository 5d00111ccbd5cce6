package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/meterline/meterline/pkg/client"
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
	// The documents go through pkg/client; its id for each is the collector's, and a second
	// submission of one is a duplicate naming the original.
	c, err := client.New(base)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		d := objectDoc(org, "instance-1", now-int64(i+1)*1000)
		r, err := c.CollectJSON(ctx, []byte(d))
		if id, idErr := client.DocumentID([]byte(d)); err != nil || r.ID != id || idErr != nil {
			t.Fatalf("POST %d: %+v, %v; want the id %s (%v)", i, r, err, id, idErr)
		}
		if _, err := c.CollectJSON(ctx, []byte(d)); !client.IsDuplicate(err) {
			t.Errorf("POST %d again: %v, want a duplicate", i, err)
		}
	}

	// Wait until the month's charge is complete, then take the report of that time.
	orgURL := base + "/v1/metering/organizations/" + url.PathEscape(org) + "/aggregated/usage"
	var asOf int64
	waitFor(t, "a report with the charge 46.09", func() (bool, string) {
		asOf = s.nowMs()
		rep, err := c.OrganizationReport(ctx, org, time.UnixMilli(asOf))
		if err != nil {
			return false, err.Error()
		}
		w := rep.Windows.Slot(client.LevelMonth, 0)
		return w != nil && w.Charge.String() == "46.09", fmt.Sprint(rep.Windows)
	})
	if rep, err := c.OrganizationReport(ctx, org, time.Time{}); err != nil || rep.Settled {
		t.Errorf("a report of the present: %v, settled %v, want not settled", err, rep != nil && rep.Settled)
	}
	time.Sleep(6500 * time.Millisecond) // past the settle delay (flush interval 200ms + 5s)
	if rep, err := c.OrganizationReport(ctx, org, time.UnixMilli(asOf)); err != nil || !rep.Settled || rep.End != asOf ||
		rep.Spaces[0].Consumers[0].Resources[0].Plans[0].Windows.Slot(client.LevelMonth, 0).Charge.String() != "46.09" {
		t.Errorf("the report of %d ms ago through pkg/client: %+v, %v; want settled, its end %d, its plan's charge 46.09", s.nowMs()-asOf, rep, err, asOf)
	}
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

	// The resource instance report of the same usage, read through pkg/client, and its
	// schema checked on the same answer read raw.
	ids := client.PlanIDs{PlanID: "basic", MeteringPlanID: plan["metering_plan_id"].(string),
		RatingPlanID: plan["rating_plan_id"].(string), PricingPlanID: plan["pricing_plan_id"].(string)}
	ir, err := c.InstanceReport(ctx, client.Instance{OrganizationID: org, ResourceInstanceID: "instance-1", ConsumerID: "app:1", PlanIDs: ids}, time.UnixMilli(asOf))
	if err != nil {
		t.Fatalf("resource instance report: %v", err)
	}
	if w := ir.Windows.Slot(client.LevelMonth, 0); w == nil || w.Charge.String() != "46.09" || ir.SpaceID != "space-1" || ir.PlanIDs != ids || len(ir.AccumulatedUsage) != 3 {
		t.Errorf("resource instance report: %+v, want space-1 and the month charge 46.09", ir)
	}
	instURL := fmt.Sprintf("%s/v1/metering/organizations/%s/resource_instances/instance-1/consumers/app:1/plans/basic/metering_plans/%s/rating_plans/%s/pricing_plans/%s/aggregated/usage/%d",
		base, url.PathEscape(org), ids.MeteringPlanID, ids.RatingPlanID, ids.PricingPlanID, asOf)
	validate(t, schema(t, "resource-instance-report.schema.json"), do(t, http.MethodGet, instURL, "", nil).body)

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
	// The resource_instance example through pkg/client (a POST, with the time a variable).
	var gdata struct {
		ResourceInstance struct {
			SpaceID          string `json:"space_id"`
			AccumulatedUsage []struct {
				Metric  string                        `json:"metric"`
				Windows client.Windows[client.Window] `json:"windows"`
			} `json:"accumulated_usage"`
		} `json:"resource_instance"`
	}
	err = c.GraphQL(ctx, fmt.Sprintf(`query($t: Int) { resource_instance(organization_id: %q, consumer_id: "app:1", resource_instance_id: "instance-1", plan_id: "basic", time: $t) { organization_id, space_id, resource_id, plan_id, accumulated_usage { metric, windows { summary, charge } } } }`, org),
		map[string]any{"t": asOf}, &gdata)
	if au := gdata.ResourceInstance.AccumulatedUsage; err != nil || gdata.ResourceInstance.SpaceID != "space-1" || len(au) != 3 || au[2].Metric != "heavy_api_calls" ||
		au[2].Windows.Slot(client.LevelMonth, 0) == nil || au[2].Windows.Slot(client.LevelMonth, 0).Charge.String() != "45" {
		t.Errorf("GraphQL resource_instance: %v, %+v", err, gdata)
	}
	err = c.GraphQL(ctx, `{ organization(organization_id: "x") { no_such_field } }`, nil, &gdata)
	var gerr *client.Error
	if !errors.As(err, &gerr) || gerr.Status != http.StatusBadRequest || gerr.Kind != client.KindInvalid || len(gerr.GraphQL) == 0 || !strings.Contains(gerr.Message, "no_such_field") {
		t.Errorf("GraphQL bad query: %v, want 400 invalid with errors naming no_such_field", err)
	}

	// Late usage, within the slack, of yesterday: it lands in yesterday's day slot, and the
	// report of asOf does not change.
	yesterday := asOf - 24*3600*1000
	if _, err := c.CollectJSON(ctx, []byte(objectDoc(org, "instance-2", yesterday))); err != nil {
		t.Fatalf("POST late usage: %v", err)
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
	if _, err := c.OrganizationReport(ctx, "nobody", time.Time{}); !client.IsNotFound(err) || !errors.As(err, &gerr) || gerr.Kind != client.KindNotFound {
		t.Errorf("unknown organization: %v, want 404 not_found", err)
	}
	r := do(t, http.MethodGet, orgURL+"/yesterday", "", nil)
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
