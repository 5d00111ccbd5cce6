package vcasim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/platform/clock"
)

// get logs in and GETs path, decoding the answer.
func get(t *testing.T, srv *httptest.Server, path string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/iam/login", nil)
	req.SetBasicAuth("u", "p")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest(http.MethodGet, srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+resp.Header.Get("vchs-authorization"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// A billing month (from the group's anniversary, the 13th) is billed once metered to its end:
// before, a status body; after, each entity's usage of the month, the extra injected on top.
func TestBilledUsage(t *testing.T) {
	t0 := time.Date(2026, 2, 13, 0, 0, 0, 0, time.UTC)
	sc := DemoScript(t0.Add(-48 * time.Hour))
	sc.BilledExtra = map[string]map[string]decimal.Decimal{"sg-east": {VCPU: decimal.RequireFromString("3.5")}}
	clk := clock.NewManual(time.Date(2026, 3, 12, 23, 30, 0, 0, time.UTC))
	srv := httptest.NewServer(New(sc, clk).Handler())
	defer srv.Close()
	if _, body := get(t, srv, "/api/billing/service-group/sg-east/billed-usage?month=2&year=2026"); body["status"] == nil {
		t.Fatalf("February billed before its end: %v", body)
	}
	clk.Set(time.Date(2026, 3, 13, 1, 0, 0, 0, time.UTC))
	status, body := get(t, srv, "/api/billing/service-group/sg-east/billed-usage?month=2&year=2026")
	if status != http.StatusOK || body["startTime"] != "2026-02-13T00:00:00Z" || body["endTime"] != "2026-03-13T00:00:00Z" {
		t.Fatalf("%d %v", status, body)
	}
	raw, _ := json.Marshal(body["entity"])
	// vm-d1 is in sg-west; vm-a1 ran the whole month: 28 days × 24 h × 2 vCPU.
	if s := string(raw); strings.Contains(s, "vm-d1") || !strings.Contains(s, `"name":"vcpu_hours","rate":0.0125,"unit":"vCPU-hour","usage":1344`) ||
		!strings.Contains(s, `"usage":3.5`) {
		t.Errorf("entities %s", s)
	}
	if status, _ := get(t, srv, "/api/billing/service-group/nope/billed-costs?month=2&year=2026"); status != http.StatusNotFound {
		t.Errorf("unknown group: %d", status)
	}
}
