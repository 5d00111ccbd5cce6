package e2e

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// pcfQuota is a quota of the simulator's metadata (cfsim.Quota).
type pcfQuota struct {
	GUID     string   `json:"guid"`
	Name     string   `json:"name"`
	MemoryMB int64    `json:"total_memory_in_mb"`
	Services int64    `json:"total_service_instances,omitempty"`
	Orgs     []string `json:"organizations,omitempty"`
	Org      string   `json:"organization,omitempty"`
	Spaces   []string `json:"spaces,omitempty"`
}

// pcfLine is what the ground truth says of an app or a service instance's plan in one day.
type pcfLine struct{ key, day string }

// pcfTruth plays the script and returns, per app (MB·ms of its processes) and per service
// instance and plan ("<guid>/<plan>", instance·ms), what ran on each UTC day.
func pcfTruth(script []cfAction) map[pcfLine]int64 {
	type run struct {
		key   string
		rate  int64 // MB × instances, or 1
		since time.Time
	}
	out := map[pcfLine]int64{}
	closeRun := func(r run, end time.Time) {
		for d := r.since.Truncate(24 * time.Hour); d.Before(end); d = d.AddDate(0, 0, 1) {
			a, b := max(d.UnixMilli(), r.since.UnixMilli()), min(d.AddDate(0, 0, 1).UnixMilli(), end.UnixMilli())
			if b > a {
				out[pcfLine{r.key, d.Format("2006-01-02")}] += r.rate * (b - a)
			}
		}
	}
	runs := map[string]run{}
	apps := map[string][2]int64{}
	for _, a := range script {
		switch a.Kind {
		case "start", "scale":
			mi := apps[a.App]
			if a.MemoryMB != 0 {
				mi[0] = a.MemoryMB
			}
			if a.Inst != 0 {
				mi[1] = a.Inst
			}
			apps[a.App] = mi
			if r, ok := runs[a.App]; ok {
				closeRun(r, a.At)
			}
			runs[a.App] = run{key: a.App, rate: mi[0] * mi[1], since: a.At}
		case "stop":
			closeRun(runs[a.App], a.At)
			delete(runs, a.App)
		case "create_service":
			runs[a.Instance] = run{key: a.Instance + "/" + a.Plan, rate: 1, since: a.At}
		case "update_service":
			closeRun(runs[a.Instance], a.At)
			runs[a.Instance] = run{key: a.Instance + "/" + a.Plan, rate: 1, since: a.At}
		case "delete_service":
			closeRun(runs[a.Instance], a.At)
			delete(runs, a.Instance)
		}
	}
	if len(runs) != 0 {
		panic(fmt.Sprintf("the script leaves %d running", len(runs)))
	}
	return out
}

// TestPCFUsageReport runs the Cloud Foundry simulator (a fleet of one organization over
// midnight and the month's end, with quotas and buildpacks, beside another organization),
// the cf poller with its metadata loop as its own process, and Meterline (dev on the real
// broker and ClickHouse), and posts usage of the same organization through the collector (an
// app's memory and object storage); then the PCF usage report of 30 June to 1 July, and of
// each day alone, shows every app's memory MB-hours, every service plan's duration, their
// charges and the space and organization totals equal to the ground truth from the script to
// the last decimal, with the names, buildpacks, instance counts, disk quotas and quotas Cloud
// Controller gave; the CSV carries the same totals; 400 and 404 answer with JSON bodies.
func TestPCFUsageReport(t *testing.T) {
	s := newStackAt(t, time.Date(2026, 6, 30, 23, 59, 30, 0, time.UTC))
	dev := s.start([]string{"dev"})
	base := s.now().Truncate(time.Second).Add(time.Second)
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
	const (
		org, other     = "e2e0pcf0-0000-4000-8000-00000000000a", "e2e0pcf0-0000-4000-8000-00000000000b"
		sp1, sp2, sp3  = "e2e0pcf5-0000-4000-8000-000000000001", "e2e0pcf5-0000-4000-8000-000000000002", "e2e0pcf5-0000-4000-8000-000000000003"
		a1, a2, a3, b1 = "e2e0pcfa-0000-4000-8000-000000000001", "e2e0pcfa-0000-4000-8000-000000000002", "e2e0pcfa-0000-4000-8000-000000000003", "e2e0pcfa-0000-4000-8000-0000000000b1"
		si             = "e2e0pcf0-5e00-4000-8000-000000000001"
		collectorApp   = "e2e0pcfc-0000-4000-8000-000000000001"
	)
	fleet := []cfAction{
		{At: at(2), Kind: "start", Org: org, Space: sp1, App: a1, MemoryMB: 512, Inst: 2},
		{At: at(2), Kind: "start", Org: org, Space: sp2, App: a2, MemoryMB: 256, Inst: 1},
		{At: at(2), Kind: "start", Org: other, Space: sp3, App: b1, MemoryMB: 128, Inst: 1},
		{At: at(3), Kind: "create_service", Org: org, Space: sp1, Instance: si, Plan: "small", Name: "db"},
		{At: at(15), Kind: "scale", App: a1, Inst: 3},
		{At: at(40), Kind: "update_service", Instance: si, Plan: "large"},
		{At: at(45), Kind: "stop", App: a2},
		{At: at(50), Kind: "start", Org: org, Space: sp2, App: a3, MemoryMB: 1024, Inst: 1},
		{At: at(60), Kind: "stop", App: a1}, {At: at(60), Kind: "stop", App: a3}, {At: at(60), Kind: "stop", App: b1},
		{At: at(60), Kind: "delete_service", Instance: si},
	}
	truth := pcfTruth(fleet)
	b, err := json.Marshal(map[string]any{"actions": fleet, "metadata": map[string]any{
		"org_names":    map[string]string{org: "Finance", other: "Other"},
		"buildpacks":   map[string]string{a1: "java_buildpack"},
		"org_quotas":   []pcfQuota{{GUID: "q-default", Name: "default", MemoryMB: 10240, Services: 10, Orgs: []string{org}}},
		"space_quotas": []pcfQuota{{GUID: "q-small", Name: "small-space", MemoryMB: 2048, Org: org, Spaces: []string{sp1}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	scriptFile := filepath.Join(t.TempDir(), "fleet.json")
	if err := os.WriteFile(scriptFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sim := s.start([]string{"sim", "cf"}, "METERLINE_CFSIM_SCRIPT="+scriptFile)
	s.start([]string{"poller", "cf"}, "METERLINE_CF_API_URL=http://"+sim.addr, "METERLINE_CF_UAA_URL=http://"+sim.addr+"/uaa",
		"METERLINE_CF_CLIENT_ID=meterline", "METERLINE_CF_CLIENT_SECRET=dev", "METERLINE_CF_FOUNDATION=e2e-pcf", "METERLINE_CF_MIN_AGE=1s",
		"METERLINE_POLL_INTERVAL=1s", "METERLINE_POLL_TIMEOUT=5s")

	// Through the collector, for the same organization: an app's 1 GB from 5s to 20s (30
	// June) and object storage (1 GB, 1,000 light and 100 heavy calls: 16.03 at the basic
	// plan's prices).
	linux := func(ms int64, cur, prev int64) string {
		return fmt.Sprintf(`{"start":%d,"end":%d,"organization_id":%q,"space_id":%q,"consumer_id":"app:%s","resource_id":"linux-container",
"plan_id":"standard","resource_instance_id":"memory:%s","measured_usage":[{"measure":"current_instance_memory","quantity":%d},
{"measure":"current_running_instances","quantity":%d},{"measure":"previous_instance_memory","quantity":%d},
{"measure":"previous_running_instances","quantity":%d}]}`, ms, ms, org, sp2, collectorApp, collectorApp, cur<<30, cur, prev<<30, prev)
	}
	for s.now().Before(at(21)) {
		time.Sleep(200 * time.Millisecond)
	}
	for _, doc := range []string{linux(at(5).UnixMilli(), 1, 0), linux(at(20).UnixMilli(), 0, 1),
		fmt.Sprintf(`{"start":%d,"end":%d,"organization_id":%q,"space_id":%q,"consumer_id":"app:backup","resource_id":"object-storage",
"plan_id":"basic","resource_instance_id":"bucket-1","measured_usage":[{"measure":"storage","quantity":1073741824},
{"measure":"light_api_calls","quantity":1000},{"measure":"heavy_api_calls","quantity":100}]}`, at(10).UnixMilli(), at(10).UnixMilli(), org, sp2)} {
		if r := post(t, dev, doc); r.status != http.StatusCreated {
			t.Fatalf("POST: %d %s", r.status, r.body)
		}
	}
	truth[pcfLine{collectorApp, "2026-06-30"}] = 1024 * 15_000

	price := decimal.RequireFromString("0.00028")
	hours := func(ms int64) decimal.Decimal {
		return decimal.NewFromInt(ms).DivRound(decimal.NewFromInt(3_600_000), 24)
	}
	round := func(d decimal.Decimal) string { return d.RoundBank(12).String() }
	type want struct{ qty, charge decimal.Decimal } // MB-hours or seconds, and the charge
	expect := func(days ...string) (map[string]want, want) {
		lines := map[string]want{}
		var total want // the organization's charge
		for k, ms := range truth {
			for _, d := range days {
				if k.day != d || k.key == b1 {
					continue
				}
				w := lines[k.key]
				if len(k.key) == len(a1) { // an app: MB·ms
					w.qty, w.charge = w.qty.Add(hours(ms)), w.charge.Add(hours(ms).Div(decimal.NewFromInt(1024)).Mul(price))
				} else { // a service instance's plan: instance·ms
					w.qty, w.charge = w.qty.Add(decimal.NewFromInt(ms).Div(decimal.NewFromInt(1000))), w.charge.Add(hours(ms).Mul(price))
				}
				lines[k.key] = w
			}
		}
		for _, w := range lines {
			total.charge = total.charge.Add(w.charge)
		}
		if slices.Contains(days, "2026-06-30") {
			total.charge = total.charge.Add(decimal.RequireFromString("16.03"))
		}
		return lines, total
	}
	report := func(start, end, format string) response {
		return do(t, http.MethodGet, fmt.Sprintf("http://%s/v1/cf/organizations/%s/usage-report?start=%s&end=%s&format=%s", dev.addr, org, start, end, format), "", nil)
	}
	// compare returns what differs between the report and the truth of days ("" when nothing).
	compare := func(rep map[string]any, days ...string) string {
		lines, total := expect(days...)
		seen := map[string]bool{}
		for _, sp := range path(t, rep, "spaces").([]any) {
			for _, a := range path(t, sp, "apps").([]any) {
				key := path(t, a, "app_guid").(string)
				seen[key] = true
				w := lines[key]
				if q, c := jsonDecimal(a, "memory_mb_hours"), jsonDecimal(a, "charge"); round(q) != round(w.qty) || round(c) != round(w.charge) {
					return fmt.Sprintf("app %s: %s MB-hours, charge %s; want %s, %s", key, q, c, round(w.qty), round(w.charge))
				}
			}
			for _, sv := range path(t, sp, "services").([]any) {
				key := path(t, sv, "service_instance_guid").(string) + "/" + path(t, sv, "service_plan_guid").(string)
				seen[key] = true
				w := lines[key]
				if q, c := jsonDecimal(sv, "duration_in_seconds"), jsonDecimal(sv, "charge"); round(q) != round(w.qty) || round(c) != round(w.charge) {
					return fmt.Sprintf("service %s: %s s, charge %s; want %s, %s", key, q, c, round(w.qty), round(w.charge))
				}
			}
		}
		for k := range lines {
			if !seen[k] {
				return "no line of " + k
			}
		}
		if c := jsonDecimal(path(t, rep, "totals"), "charge"); round(c) != round(total.charge) {
			return fmt.Sprintf("organization charge %s, want %s", c, round(total.charge))
		}
		return ""
	}
	var rep map[string]any
	waitFor(t, "the report of 30 June to 1 July equal to the ground truth", func() (bool, string) {
		if s.now().Before(at(63)) {
			return false, "the fleet is still running"
		}
		r := report("2026-06-30", "2026-07-01", "json")
		if r.status != http.StatusOK {
			return false, fmt.Sprintf("%d %s", r.status, r.body)
		}
		dec := json.NewDecoder(bytes.NewReader(r.body))
		dec.UseNumber()
		rep = nil
		if err := dec.Decode(&rep); err != nil {
			t.Fatal(err)
		}
		if diff := compare(rep, "2026-06-30", "2026-07-01"); diff != "" {
			return false, diff + ": " + string(r.body)
		}
		return true, ""
	})
	for _, d := range []string{"2026-06-30", "2026-07-01"} {
		r := report(d, d, "json")
		var one map[string]any
		dec := json.NewDecoder(bytes.NewReader(r.body))
		dec.UseNumber()
		if err := dec.Decode(&one); err != nil || r.status != http.StatusOK {
			t.Fatalf("report of %s: %d %s", d, r.status, r.body)
		}
		if diff := compare(one, d); diff != "" {
			t.Errorf("report of %s: %s", d, diff)
		}
	}
	// The metadata: names, quotas, buildpacks, instance counts, disk quotas.
	if path(t, rep, "organization_name") != "Finance" || path(t, rep, "quota", "name") != "default" ||
		path(t, rep, "quota", "total_memory_in_mb").(json.Number).String() != "10240" {
		t.Errorf("organization metadata: %v %v", path(t, rep, "organization_name"), path(t, rep, "quota"))
	}
	apps := map[string]any{}
	for _, sp := range path(t, rep, "spaces").([]any) {
		if path(t, sp, "space_guid") == sp1 && (path(t, sp, "space_name") != "space-"+sp1 || path(t, sp, "quota", "name") != "small-space") {
			t.Errorf("space %s: %v %v", sp1, path(t, sp, "space_name"), path(t, sp, "quota"))
		}
		for _, a := range path(t, sp, "apps").([]any) {
			apps[path(t, a, "app_guid").(string)] = a
		}
		for _, sv := range path(t, sp, "services").([]any) {
			// The plan the instance left keeps its name.
			if path(t, sv, "service_instance_name") != "db" || path(t, sv, "service_name") != "postgres" ||
				path(t, sv, "service_plan_name") != "plan-"+path(t, sv, "service_plan_guid").(string) {
				t.Errorf("service line without the instance's, the offering's or the plan's name: %v", sv)
			}
		}
	}
	for app, w := range map[string][4]string{a1: {"app-" + a1, "java_buildpack", "3", "512"}, a2: {"app-" + a2, "go_buildpack", "1", "256"},
		a3: {"app-" + a3, "go_buildpack", "1", "1024"}} {
		a := apps[app]
		if a == nil || path(t, a, "app_name") != w[0] || path(t, a, "buildpack") != w[1] ||
			path(t, a, "instance_count").(json.Number).String() != w[2] || path(t, a, "memory_in_mb_per_instance").(json.Number).String() != w[3] ||
			path(t, a, "disk_quota_in_mb").(json.Number).String() != "1024" {
			t.Errorf("app %s: %v, want name, buildpack, instances, memory %v", app, a, w)
		}
	}
	if _, ok := apps[b1]; ok {
		t.Errorf("the other organization's app %s is in the report", b1)
	}
	// The CSV's organization total is the JSON's.
	r := report("2026-06-30", "2026-07-01", "csv")
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil || r.status != http.StatusOK || len(rows) < 3 {
		t.Fatalf("CSV: %d %v %s", r.status, err, r.body)
	}
	last := rows[len(rows)-1]
	if last[6] != "organization_total" || last[len(last)-1] != round(jsonDecimal(path(t, rep, "totals"), "charge")) {
		t.Errorf("CSV total %v, want the JSON's charge %v", last, path(t, rep, "totals", "charge"))
	}
	// Bad input and an unknown organization.
	if r := do(t, http.MethodGet, "http://"+dev.addr+"/v1/cf/organizations/"+org+"/usage-report?start=2026-06-31&end=x", "", nil); r.status != http.StatusBadRequest ||
		!bytes.Contains(r.body, []byte(`"field":"start"`)) || !bytes.Contains(r.body, []byte(`"field":"end"`)) {
		t.Errorf("bad dates: %d %s", r.status, r.body)
	}
	if r := do(t, http.MethodGet, "http://"+dev.addr+"/v1/cf/organizations/e2e-nobody/usage-report?start=2026-06-30&end=2026-06-30", "", nil); r.status != http.StatusNotFound ||
		!bytes.Contains(r.body, []byte(`"kind":"not_found"`)) {
		t.Errorf("unknown organization: %d %s", r.status, r.body)
	}
}
