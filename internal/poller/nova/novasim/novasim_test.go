package novasim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/platform/clock"
)

// sampleFleet is the fleet of Nova's API sample v2.40 simple-tenant-usage-get-all: three
// m1.tiny servers of two tenants, launched an hour before the sample's stop.
func sampleFleet() Script {
	launched := time.Date(2018, 10, 9, 11, 29, 4, 166194000, time.UTC)
	sv := func(id, name, tenant string) Server {
		return Server{ID: id, Name: name, Tenant: tenant, Flavor: "m1.tiny", Launched: launched}
	}
	return Script{Flavors: Flavors, Servers: []Server{
		sv("1f1deceb-17b5-4c04-84c7-e0d4499c8f06", "instance-3", "0000000e737461636b20342065000000"),
		sv("1f1deceb-17b5-4c04-84c7-e0d4499c8f00", "instance-1", "6f70656e737461636b20342065766572"),
		sv("1f1deceb-17b5-4c04-84c7-e0d4499c8f03", "instance-2", "6f70656e737461636b20342065766572"),
	}}
}

// get asks the simulator for a window with a fresh token.
func get(t *testing.T, sim *Sim, srv *httptest.Server, version, query string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ComputeURL(srv.URL)+"/os-simple-tenant-usage?"+query, nil)
	req.Header.Set("X-Auth-Token", sim.IssueToken())
	if version != "" {
		req.Header.Set("OpenStack-API-Version", version)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// byTenant orders tenant_usages by tenant and their servers by id: Nova's order is its
// database's, which the sample does not pin.
func byTenant(body map[string]any) []any {
	tus, _ := body["tenant_usages"].([]any)
	for _, tu := range tus {
		if sus, ok := tu.(map[string]any)["server_usages"].([]any); ok {
			slices.SortFunc(sus, func(a, b any) int {
				return strings.Compare(a.(map[string]any)["instance_id"].(string), b.(map[string]any)["instance_id"].(string))
			})
		}
	}
	slices.SortFunc(tus, func(a, b any) int {
		return strings.Compare(a.(map[string]any)["tenant_id"].(string), b.(map[string]any)["tenant_id"].(string))
	})
	return tus
}

// TestAnswersAsTheRecordedSample: the simulator playing the sample's fleet answers the
// sample's request with the recorded answer, field for field.
func TestAnswersAsTheRecordedSample(t *testing.T) {
	raw, err := os.ReadFile("testdata/v2.40_simple-tenant-usage-get-all.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	sim := New(sampleFleet(), clock.NewManual(time.Date(2018, 10, 9, 12, 29, 4, 166194000, time.UTC)))
	srv := httptest.NewServer(nil)
	defer srv.Close()
	srv.Config.Handler = sim.Handler(srv.URL)
	resp, got := get(t, sim, srv, "compute 2.40", "detailed=1&start=2018-10-09T11:29:04.166194&end=2018-10-09T12:29:04.166194")
	if resp.StatusCode != 200 || resp.Header.Get("OpenStack-API-Version") != "compute 2.40" {
		t.Fatalf("status %d, version %q", resp.StatusCode, resp.Header.Get("OpenStack-API-Version"))
	}
	if g, w := byTenant(got), byTenant(want); !reflect.DeepEqual(g, w) {
		gj, _ := json.MarshalIndent(g, "", " ")
		wj, _ := json.MarshalIndent(w, "", " ")
		t.Errorf("answer\n%s\nwant\n%s", gj, wj)
	}
}

// TestPagingAndItsFaults: from 2.40 a full page has a next link with the last server as
// marker; before 2.40 limit and marker are ignored; an unknown marker is a 400; the end is
// clipped to the present; an expired token is a 401; faults come on their requests.
func TestPagingAndItsFaults(t *testing.T) {
	now := time.Date(2018, 10, 9, 12, 29, 4, 166194000, time.UTC)
	clk := clock.NewManual(now)
	sim := New(sampleFleet(), clk)
	srv := httptest.NewServer(nil)
	defer srv.Close()
	srv.Config.Handler = sim.Handler(srv.URL)
	q := "detailed=1&start=2018-10-09T11:00:00&end=2018-10-09T13:00:00&limit=2"
	_, body := get(t, sim, srv, "compute 2.40", q)
	links, _ := body["tenant_usages_links"].([]any)
	if len(links) != 1 || !strings.Contains(links[0].(map[string]any)["href"].(string), "marker=1f1deceb-17b5-4c04-84c7-e0d4499c8f03") {
		t.Errorf("links %v, want a next link with the second server as marker", links)
	}
	if stop := body["tenant_usages"].([]any)[0].(map[string]any)["stop"]; stop != "2018-10-09T12:29:04.166194" {
		t.Errorf("stop %v, want the end clipped to the present", stop)
	}
	_, body = get(t, sim, srv, "compute 2.40", q+"&marker=1f1deceb-17b5-4c04-84c7-e0d4499c8f03")
	if tus := body["tenant_usages"].([]any); len(tus) != 1 || body["tenant_usages_links"] != nil {
		t.Errorf("second page %v, want the last server and no link", body)
	}
	resp, body := get(t, sim, srv, "compute 2.40", q+"&marker=gone")
	if resp.StatusCode != 400 || !strings.Contains(body["badRequest"].(map[string]any)["message"].(string), "marker [gone] not found") {
		t.Errorf("unknown marker: %d %v", resp.StatusCode, body)
	}
	_, body = get(t, sim, srv, "", q)
	if n := len(byTenant(body)); n != 2 || body["tenant_usages_links"] != nil {
		t.Errorf("2.1: %v, want every server and no link", body)
	}
	sim.SetFaults(Faults{RateLimitEvery: 1, RetryAfter: 3})
	resp, _ = get(t, sim, srv, "compute 2.40", q)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("rate limit: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	sim.SetFaults(Faults{ServerErrorEvery: 1})
	if resp, _ = get(t, sim, srv, "compute 2.40", q); resp.StatusCode != 500 {
		t.Errorf("server error: %d", resp.StatusCode)
	}
	sim.SetFaults(Faults{TokenTTL: Duration(time.Minute)})
	tok := sim.IssueToken()
	clk.Advance(time.Minute)
	req, _ := http.NewRequest(http.MethodGet, ComputeURL(srv.URL)+"/os-simple-tenant-usage?"+q, nil)
	req.Header.Set("X-Auth-Token", tok)
	if resp, err := srv.Client().Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("expired token: %v %v", resp.StatusCode, err)
	}
}
