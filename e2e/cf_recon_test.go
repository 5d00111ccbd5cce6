package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

type cfReconApp struct {
	App          string `json:"app"`
	UsageService struct {
		MemoryGBHours decimal.Decimal `json:"memory_gb_hours"`
		InstanceHours decimal.Decimal `json:"instance_hours"`
	} `json:"usage_service"`
	Metered struct {
		MemoryGBHours decimal.Decimal `json:"memory_gb_hours"`
		InstanceHours decimal.Decimal `json:"instance_hours"`
	} `json:"metered"`
	Difference struct {
		MemoryGBHours decimal.Decimal `json:"memory_gb_hours"`
		InstanceHours decimal.Decimal `json:"instance_hours"`
	} `json:"difference"`
}

type cfReconService struct {
	ServiceInstance string `json:"service_instance"`
	Plan            string `json:"plan"`
	UsageService    struct {
		Hours decimal.Decimal `json:"hours"`
	} `json:"usage_service"`
	Metered struct {
		Hours decimal.Decimal `json:"hours"`
	} `json:"metered"`
	Difference struct {
		Hours decimal.Decimal `json:"hours"`
	} `json:"difference"`
}

type cfReconciliation struct {
	Read        bool             `json:"read"`
	Apps        []cfReconApp     `json:"apps"`
	Tasks       []cfReconApp     `json:"tasks"`
	Services    []cfReconService `json:"services"`
	Differences struct {
		Apps     []cfReconApp     `json:"apps"`
		Tasks    []cfReconApp     `json:"tasks"`
		Services []cfReconService `json:"services"`
	} `json:"differences"`
}

// TestCFReconciliation runs the Cloud Foundry simulator (Cloud Controller and the Usage
// Service of the same scripted fleet, one organization's Usage Service figures lengthened by
// half an hour per entry), the cf poller as its own process with its Usage Service loop, and
// Meterline (dev: processor, sinks, reporting) on the real broker and ClickHouse, over the
// year's end. The reconciliation of 31 December shows the honest organization's apps, tasks
// and services metered exactly as the Usage Service reported them (an app scaled and stopped,
// a task, a service moved to another plan and renamed, one deleted), and the other organization's
// differences exactly the injected half hour.
func TestCFReconciliation(t *testing.T) {
	s := newStackAt(t, time.Date(2025, 12, 31, 23, 59, 10, 0, time.UTC))
	midnight := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	dev := s.start([]string{"dev"})
	base := s.now().Truncate(time.Second).Add(time.Second)
	if base.Add(32 * time.Second).After(midnight) {
		t.Fatalf("the stack took until %v to start: no room for the fleet before midnight", base)
	}
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
	const honest, skewed = "e2e0ec00-0000-4000-8000-00000000000a", "e2e0ec00-0000-4000-8000-00000000000b"
	const hs, ks = "e2e0ec5a-0000-4000-8000-00000000000a", "e2e0ec5a-0000-4000-8000-00000000000b"
	id := func(kind, n int) string { return fmt.Sprintf("e2e0ec%02d-0000-4000-8000-%012d", kind, n) }
	h1, h2, k1 := id(1, 1), id(1, 2), id(1, 3)
	hdb, htmp, kdb := id(5, 1), id(5, 2), id(5, 3)
	fleet := []cfAction{
		{At: at(8), Kind: "start", Org: honest, Space: hs, App: h1, MemoryMB: 1024, Inst: 2},
		{At: at(8), Kind: "create_service", Org: honest, Space: hs, Instance: hdb, Plan: "small", Name: "db"},
		{At: at(9), Kind: "start", Org: skewed, Space: ks, App: k1, MemoryMB: 1024, Inst: 1},
		{At: at(9), Kind: "create_service", Org: skewed, Space: ks, Instance: kdb, Plan: "small", Name: "cache"},
		{At: at(10), Kind: "start", Org: honest, Space: hs, App: h2, MemoryMB: 512, Inst: 1},
		{At: at(10), Kind: "task", Org: skewed, Space: ks, App: k1, Task: id(7, 2), MemoryMB: 1024, Duration: 4 * time.Second},
		{At: at(11), Kind: "task", Org: honest, Space: hs, App: h1, Task: id(7, 1), MemoryMB: 256, Duration: 6 * time.Second},
		{At: at(12), Kind: "create_service", Org: honest, Space: hs, Instance: htmp, Plan: "small", Name: "tmp"},
		{At: at(14), Kind: "update_service", Instance: hdb, Plan: "large"},
		{At: at(15), Kind: "scale", App: h2, Inst: 3},
		{At: at(20), Kind: "update_service", Instance: hdb, Name: "db-renamed"},
		{At: at(22), Kind: "delete_service", Instance: htmp},
		{At: at(25), Kind: "stop", App: h2},
	}
	b, err := json.Marshal(map[string]any{"actions": fleet, "usage_skew": map[string]time.Duration{skewed: 30 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	scriptFile := filepath.Join(t.TempDir(), "fleet.json")
	if err := os.WriteFile(scriptFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sim := s.start([]string{"sim", "cf"}, "METERLINE_CFSIM_SCRIPT="+scriptFile)
	s.start([]string{"poller", "cf"}, "METERLINE_CF_API_URL=http://"+sim.addr, "METERLINE_CF_UAA_URL=http://"+sim.addr+"/uaa",
		"METERLINE_CF_CLIENT_ID=meterline", "METERLINE_CF_CLIENT_SECRET=dev", "METERLINE_CF_FOUNDATION=e2e", "METERLINE_CF_MIN_AGE=1s",
		"METERLINE_CF_USAGE_SERVICE_URL=http://"+sim.addr+"/app-usage", "METERLINE_POLL_LAG=3s",
		"METERLINE_POLL_INTERVAL=1s", "METERLINE_POLL_TIMEOUT=5s")

	get := func(org, date string) (int, cfReconciliation, string) {
		r := do(t, http.MethodGet, fmt.Sprintf("http://%s/v1/cf/organizations/%s/reconciliation/%s", dev.addr, org, date), "", nil)
		var rec cfReconciliation
		if r.status == http.StatusOK {
			if err := json.Unmarshal(r.body, &rec); err != nil {
				t.Fatalf("%s: %v", r.body, err)
			}
		}
		return r.status, rec, string(r.body)
	}
	for s.now().Before(midnight) {
		time.Sleep(300 * time.Millisecond)
	}
	dec := decimal.RequireFromString
	half := dec("0.5")
	var hon, skw cfReconciliation
	waitFor(t, "31 December reconciled", func() (bool, string) {
		status, rec, body := get(honest, "2025-12-31")
		if status != http.StatusOK || !rec.Read || len(rec.Apps) != 2 || len(rec.Tasks) != 1 || len(rec.Services) != 3 ||
			len(rec.Differences.Apps)+len(rec.Differences.Tasks)+len(rec.Differences.Services) != 0 {
			return false, fmt.Sprintf("honest: %d %s", status, body)
		}
		hon = rec
		status, rec, body = get(skewed, "2025-12-31")
		if status != http.StatusOK || !rec.Read || len(rec.Apps) != 1 || len(rec.Tasks) != 1 || len(rec.Services) != 1 ||
			!rec.Apps[0].Difference.InstanceHours.Equal(half) || !rec.Tasks[0].Difference.InstanceHours.Equal(half) || !rec.Services[0].Difference.Hours.Equal(half) {
			return false, fmt.Sprintf("skewed: %d %s", status, body)
		}
		skw = rec
		return true, ""
	})
	// What ran, from the script: h1 2 GB from at(8) to midnight; h2 0.5 GB × 1 for 5 s and × 3
	// for 10 s; the db on small for 6 s, then large until midnight; tmp for 10 s.
	hours := func(from, to time.Time) decimal.Decimal {
		return decimal.NewFromInt(to.Sub(from).Milliseconds()).DivRound(decimal.NewFromInt(3600000), 12)
	}
	apps := map[string]cfReconApp{}
	for _, a := range hon.Apps {
		apps[a.App] = a
	}
	// 2 GB × the hours, rounded once as Meterline rounds (hours rounded first and then doubled
	// may be 10⁻¹² off, depending on how long the stack took to start).
	gbHours := decimal.NewFromInt(2*midnight.Sub(at(8)).Milliseconds()).DivRound(decimal.NewFromInt(3600000), 12)
	if a := apps[h1]; !a.Metered.MemoryGBHours.Equal(gbHours) || !a.UsageService.MemoryGBHours.Equal(a.Metered.MemoryGBHours) {
		t.Errorf("h1: %+v, want 2 GB since %v", a, at(8))
	}
	if a := apps[h2]; !a.Metered.InstanceHours.Equal(hours(at(10), at(25).Add(2*at(25).Sub(at(15))))) || // 1 × 5 s + 3 × 10 s
		!a.Metered.MemoryGBHours.Equal(a.Metered.InstanceHours.Div(decimal.NewFromInt(2))) {
		t.Errorf("h2: %+v", a)
	}
	svc := map[string]decimal.Decimal{}
	for _, l := range hon.Services {
		svc[l.ServiceInstance+"/"+l.Plan] = l.Metered.Hours
	}
	want := map[string]decimal.Decimal{hdb + "/small": hours(at(8), at(14)), hdb + "/large": hours(at(14), midnight), htmp + "/small": hours(at(12), at(22))}
	for k, w := range want {
		if !svc[k].Equal(w) {
			t.Errorf("service %s metered %s, want %s", k, svc[k], w)
		}
	}
	// The task: 256 MB for 6 s.
	if k := hon.Tasks[0]; k.App != h1 || !k.Metered.InstanceHours.Equal(hours(at(11), at(17))) || !k.Metered.MemoryGBHours.Equal(hours(at(11), at(11).Add(1500*time.Millisecond))) { // a quarter of a GB
		t.Errorf("the task: %+v", k)
	}
	// The skewed organization: exactly half an hour more per entry (1 GB × 1 instance).
	if a := skw.Apps[0]; !a.Difference.MemoryGBHours.Equal(half) || !a.Metered.InstanceHours.Equal(hours(at(9), midnight)) ||
		len(skw.Differences.Apps) != 1 || len(skw.Differences.Tasks) != 1 || !skw.Tasks[0].Difference.MemoryGBHours.Equal(half) || len(skw.Differences.Services) != 1 {
		t.Errorf("skewed: %+v", skw)
	}
	// The day before was read too (nothing ran); 1 January is not closed yet; errors.
	if status, rec, body := get(honest, "2025-12-30"); status != http.StatusOK || !rec.Read || len(rec.Apps)+len(rec.Services) != 0 {
		t.Errorf("30 December: %d %s", status, body)
	}
	if status, rec, body := get(honest, "2026-01-01"); status != http.StatusOK || rec.Read {
		t.Errorf("1 January: %d %s", status, body)
	}
	// The three days at once.
	r := do(t, http.MethodGet, fmt.Sprintf("http://%s/v1/cf/organizations/%s/reconciliation?start=2025-12-30&end=2026-01-01", dev.addr, skewed), "", nil)
	var days struct {
		DaysWithDifferences []string           `json:"days_with_differences"`
		Days                []cfReconciliation `json:"days"`
	}
	if err := json.Unmarshal(r.body, &days); r.status != http.StatusOK || err != nil || len(days.Days) != 3 ||
		len(days.DaysWithDifferences) != 1 || days.DaysWithDifferences[0] != "2025-12-31" || days.Days[2].Read {
		t.Errorf("the range: %d %s", r.status, r.body)
	}
	if status, _, body := get(honest, "2025-12-32"); status != http.StatusBadRequest {
		t.Errorf("32 December: %d %s", status, body)
	}
	if status, _, body := get("e2e0ec00-0000-4000-8000-00000000000f", "2025-12-31"); status != http.StatusNotFound {
		t.Errorf("unknown organization: %d %s", status, body)
	}
}
