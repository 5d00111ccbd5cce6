package cfsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/platform/clock"
)

// TestStatsCountFaults: GET /sim/stats (no token) counts the tokens, the requests, the 429s,
// 503s and 401s answered, the event lists answered (since the last prune or purge too) and
// those for an unknown after_guid (v3 422, v2 400), and the prune, purge and restage actions
// played, as a crash test reads them to kill the
// poller right after a fault was served.
func TestStatsCountFaults(t *testing.T) {
	base := time.Date(2026, 12, 31, 23, 59, 50, 0, time.UTC)
	clk := clock.NewManual(base)
	sc := Script{Faults: EveryFaults{RateLimitEvery: 2, ServerErrorEvery: 3}, Actions: []Action{
		{At: base, Kind: "start", Org: "o", Space: "s", App: "a", MemoryMB: 256, Instances: 1},
		{At: base.Add(2 * time.Second), Kind: "restage", App: "a"},
		{At: base.Add(4 * time.Second), Kind: "prune"},
		{At: base.Add(12 * time.Second), Kind: "purge"}, // next year
	}}
	srv := httptest.NewServer(New(sc, clk).Handler())
	defer srv.Close()
	stats := func() Stats {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + "/sim/stats")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st Stats
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /sim/stats: %d", resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := stats(); st != (Stats{}) {
		t.Fatalf("stats before anything %+v, want zero", st)
	}
	req, _ := http.NewRequest(http.MethodPost, UAAURL(srv.URL)+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.SetBasicAuth(Client, Secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, token string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, APIURL(srv.URL)+path, nil)
		req.Header.Set("Authorization", "bearer "+token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	// Retries through the scripted 429s and 503s, counting them.
	var rateLimited, serverErrors int
	retry := func(path string) (int, map[string]any) {
		t.Helper()
		for {
			status, body := get(path, tok.AccessToken)
			switch status {
			case http.StatusTooManyRequests:
				rateLimited++
			case http.StatusServiceUnavailable:
				serverErrors++
			default:
				return status, body
			}
		}
	}
	clk.Set(base.Add(3 * time.Second))
	status, body := retry("/v3/app_usage_events")
	res, _ := body["resources"].([]any)
	if status != http.StatusOK || len(res) != 4 { // STARTED, and the restage's three
		t.Fatalf("events: %d, %d resources, want 200 and 4: %v", status, len(res), body)
	}
	last := res[len(res)-1].(map[string]any)["guid"].(string)
	first := res[0].(map[string]any)["guid"].(string)
	if st := stats(); st.Restaged != 1 || st.Pruned != 0 || st.UnknownCursor != 0 || st.EventReads != 1 || st.FaultReads != 0 {
		t.Fatalf("after the restage: %+v", st)
	}
	clk.Set(base.Add(5 * time.Second)) // pruned: only the newest event is kept
	if status, _ := retry("/v3/app_usage_events?after_guid=" + last); status != http.StatusOK {
		t.Fatalf("after the newest event: %d, want 200", status)
	}
	if status, _ := retry("/v3/app_usage_events?after_guid=" + first); status != http.StatusUnprocessableEntity {
		t.Fatalf("after a pruned event: %d, want 422", status)
	}
	if st := stats(); st.Pruned != 1 || st.UnknownCursor != 1 || st.EventReads != 3 || st.FaultReads != 2 {
		t.Fatalf("after the prune: %+v", st)
	}
	clk.Set(base.Add(13 * time.Second)) // purged and reseeded
	if status, _ := retry("/v2/app_usage_events?after_guid=" + last); status != http.StatusBadRequest {
		t.Fatalf("v2 after a purged event: %d, want 400", status)
	}
	if status, _ := get("/v3/apps", "expired"); status != http.StatusUnauthorized {
		t.Fatalf("an unknown token: %d, want 401", status)
	}
	st := stats()
	want := Stats{Tokens: 1, Requests: st.Requests, Unauthorized: 1, RateLimited: rateLimited, ServerErrors: serverErrors,
		UnknownCursor: 2, Pruned: 1, Purged: 1, Restaged: 1, EventReads: 4, FaultReads: 1}
	if st != want || st.Requests < 5 || rateLimited == 0 || serverErrors == 0 {
		t.Fatalf("stats %+v, want %+v (and the 429s and 503s met)", st, want)
	}
}
