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

// TestScriptFaultsEveryNthRequest: a script file's faults answer every n-th Cloud Controller
// request 429 (with Retry-After) or 503, and the others normally.
func TestScriptFaultsEveryNthRequest(t *testing.T) {
	var sc Script
	if err := json.Unmarshal([]byte(`{"actions":[],"faults":{"rate_limit_every":3,"server_error_every":2}}`), &sc); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(sc, clock.NewManual(time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC))).Handler())
	defer srv.Close()
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
	var got []int
	var retryAfter string
	for range 6 {
		req, _ := http.NewRequest(http.MethodGet, APIURL(srv.URL)+"/v3/app_usage_events", nil)
		req.Header.Set("Authorization", "bearer "+tok.AccessToken)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests {
			retryAfter = resp.Header.Get("Retry-After")
		}
	}
	want := []int{200, 503, 429, 503, 200, 429}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
	if retryAfter != "1" {
		t.Errorf("Retry-After %q, want 1", retryAfter)
	}
}
