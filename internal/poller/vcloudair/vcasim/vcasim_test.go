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

// login logs in and returns the token.
func login(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/iam/login", nil)
	req.SetBasicAuth("u", "p")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("vchs-authorization")
}

// get logs in and GETs path, decoding the answer.
func get(t *testing.T, srv *httptest.Server, path string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+login(t, srv))
	resp, err := http.DefaultClient.Do(req)
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

// Each fault injected is counted in /sim/stats: 401s of an expired token, 429s, 503s, slow
// answers and a lastUpdateTime held back behind the last whole hour.
func TestStats(t *testing.T) {
	sc := DemoScript(time.Date(2026, 7, 31, 20, 0, 0, 0, time.UTC))
	sc.Faults = Faults{RateLimitEvery: 3, RetryAfter: 1, ServerErrorEvery: 4, SlowEvery: 5, Slow: time.Millisecond, TokenUses: 6, Lag: 10 * time.Minute}
	clk := clock.NewManual(time.Date(2026, 8, 1, 0, 5, 0, 0, time.UTC)) // lastUpdateTime July 31, 23:00
	srv := httptest.NewServer(New(sc, clk).Handler())
	defer srv.Close()
	statuses := map[int]int{}
	for range 7 { // one login, then six requests of its token, then a 401
		status, _ := get(t, srv, "/api/metering/service-group/sg-east/billable-costs")
		statuses[status]++
	}
	stats := func() Stats {
		t.Helper()
		resp, err := http.Get(srv.URL + "/sim/stats")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st Stats
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := stats()
	// Requests 1..7 (one per login): 3 and 6 are 429s, 4 a 503, 5 slow; the rest are answered
	// with the lagging watermark (1, 2, 5, 7).
	want := Stats{Logins: 7, Requests: 7, RateLimited: 2, ServerErrors: 1, Slow: 1, Lagging: 4}
	if st != want {
		t.Errorf("stats %+v, want %+v (statuses %v)", st, want, statuses)
	}
	// A token used up answers 401, counted.
	tok := login(t, srv)
	var last int
	for range 7 {
		r, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/sc/instances", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		ans, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		ans.Body.Close()
		last = ans.StatusCode
	}
	if last != http.StatusUnauthorized {
		t.Errorf("the 7th request of a token good for 6: %d", last)
	}
	if st := stats(); st.Unauthorized != 1 {
		t.Errorf("%d 401s counted, want 1", st.Unauthorized)
	}
}
