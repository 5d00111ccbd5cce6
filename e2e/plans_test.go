package e2e

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPlansThroughDev: the sample plans are listed by the GET endpoints of a running
// `meterline dev`; a plan posted over HTTP is served back and used by look-ups from its
// mapping's effective time on; a broken formula is refused naming it; `meterline plans apply`
// loads a folder idempotently; and a restart keeps everything.
func TestPlansThroughDev(t *testing.T) {
	s := newStack(t)
	dev := s.start([]string{"dev"})
	base := "http://" + dev.addr

	for kind, want := range map[string]string{"metering": "basic-object-storage", "rating": "object-rating-plan", "pricing": "object-pricing-basic"} {
		r := do(t, http.MethodGet, base+"/v1/"+kind+"/plans", "", nil)
		if r.status != 200 || !strings.Contains(string(r.body), `"plan_id":"`+want+`"`) {
			t.Errorf("GET /v1/%s/plans: %d, want the sample plan %s in %.200s", kind, r.status, want, r.body)
		}
	}
	if r := do(t, http.MethodGet, base+"/v1/metering/plans/basic-linux-container", "", nil); r.status != 200 {
		t.Errorf("GET basic-linux-container: %d %s", r.status, r.body)
	}

	plan := `{"plan_id":"storage-v2","measures":[{"name":"storage","unit":"BYTE"},{"name":"light_api_calls","unit":"CALL"},{"name":"heavy_api_calls","unit":"CALL"}],
"metrics":[{"name":"storage","unit":"GIGABYTE","meter":"(m) => m.storage / 1073741824","accumulate":"(a, qty) => max(a, qty)"},
{"name":"thousand_light_api_calls","unit":"THOUSAND_CALLS","meter":"m.light_api_calls / 1000"},{"name":"heavy_api_calls","unit":"CALL"}]}`
	if r := do(t, http.MethodPost, base+"/v1/metering/plans", "application/json", []byte(plan)); r.status != 201 {
		t.Fatalf("POST plan: %d %s", r.status, r.body)
	}
	got := do(t, http.MethodGet, base+"/v1/metering/plans/storage-v2", "", nil)
	var served, posted map[string]any
	_ = json.Unmarshal(got.body, &served)
	_ = json.Unmarshal([]byte(plan), &posted)
	if got.status != 200 || served["plan_id"] != "storage-v2" || len(served["metrics"].([]any)) != 3 {
		t.Errorf("GET the posted plan: %d %s", got.status, got.body)
	}
	from := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	mapping := `{"kind":"metering","resource_type":"object-storage","plan_id":"basic","effective_from":` + strconv.FormatInt(from, 10) + `,"plan":"storage-v2"}`
	if r := do(t, http.MethodPost, base+"/v1/provisioning/mappings", "application/json", []byte(mapping)); r.status != 201 {
		t.Fatalf("POST mapping: %d %s", r.status, r.body)
	}
	lookup := func(at int64) string {
		r := do(t, http.MethodGet, base+"/v1/metering/organizations/any-org/resource_types/object-storage/plans/basic/time/"+strconv.FormatInt(at, 10)+"/metering_plan/id", "", nil)
		return string(r.body)
	}
	if before, after := lookup(from-1), lookup(from); before != "basic-object-storage" || after != "storage-v2" {
		t.Errorf("look-ups around the effective time: %q then %q, want basic-object-storage then storage-v2", before, after)
	}
	broken := `{"plan_id":"broken","measures":[{"name":"storage","unit":"BYTE"}],"metrics":[{"name":"storage","unit":"GB","meter":"(m) => m.storage * (2"}]}`
	if r := do(t, http.MethodPost, base+"/v1/metering/plans", "application/json", []byte(broken)); r.status != 400 ||
		!strings.Contains(string(r.body), "metrics[0].meter") || !strings.Contains(string(r.body), "line 1, column") {
		t.Errorf("POST of a plan with a broken formula: %d %s, want 400 naming the formula and position", r.status, r.body)
	}

	apply := func() string {
		cmd := exec.Command(binary, "plans", "apply", "-f", filepath.Join("testdata", "plans"), "--url", base)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("meterline plans apply: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := apply(); !strings.Contains(out, "created    metering plan object-storage-2027") || !strings.Contains(out, "created    account acme") {
		t.Errorf("first apply:\n%s", out)
	}
	if out := apply(); strings.Contains(out, "created    ") || strings.Contains(out, "updated    ") ||
		!strings.Contains(out, "unchanged  metering plan object-storage-2027") || !strings.Contains(out, "unchanged  account acme") || !strings.Contains(out, "0 failed") {
		t.Errorf("second apply changed something:\n%s", out)
	}

	// A restart loses none of it.
	if err := dev.stop(t, 15); err != nil {
		t.Fatalf("stop dev: %v", err)
	}
	dev = s.start([]string{"dev"})
	base = "http://" + dev.addr
	for _, path := range []string{"/v1/metering/plans/storage-v2", "/v1/metering/plans/object-storage-2027", "/v1/accounts/acme"} {
		if r := do(t, http.MethodGet, base+path, "", nil); r.status != 200 {
			t.Errorf("after a restart GET %s: %d %s", path, r.status, r.body)
		}
	}
	if after := lookup(from); after != "storage-v2" {
		t.Errorf("after a restart the mapping gives %q", after)
	}

	// Usage of an organization that an account owns carries the account.
	doc := strings.Replace(sample, "us-south:54257f98-83f0-4eca-ae04-9ea35277a538", "org-acme", 1)
	if r := post(t, dev, doc); r.status != 201 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	s.waitCount(1, "organization_id = 'org-acme' AND account_id = 'acme'")
}
