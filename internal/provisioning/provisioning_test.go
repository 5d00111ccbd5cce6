package provisioning

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/testenv"
)

// serve runs the API of a store opened on the real broker's provisioning topic of cfg.
func open(t *testing.T, brokers []string, topic string) (*Store, *httptest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := OpenStore(ctx, brokers, topic, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	mux := http.NewServeMux()
	NewAPI(s.Catalog, s, zaptest.NewLogger(t)).Register(mux)
	srv := httptest.NewServer(auth.AsAdmin(mux))
	t.Cleanup(srv.Close)
	return s, srv
}

func call(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestProvisioningThroughKafka runs the API over the real broker: plans are served back,
// look-ups follow effective dates, bad plans are refused with their problem named, a second
// process sees every change without a restart, and a restart loses nothing.
func TestProvisioningThroughKafka(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	testenv.DeleteTopicsWithPrefix(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, testenv.Kafka(t, cfg), cfg.Kafka, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	topic := kafka.TopicsFor(cfg.Kafka.TopicPrefix).Provisioning
	first, api := open(t, cfg.Kafka.Brokers, topic)
	second, _ := open(t, cfg.Kafka.Brokers, topic) // another running process

	if err := NewAPI(first.Catalog, first, zap.NewNop()).LoadBuiltin(ctx); err != nil {
		t.Fatal(err)
	}
	status, body := call(t, "GET", api.URL+"/v1/metering/plans", "")
	var listed []map[string]any
	builtin, err := plans.LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(body), &listed); status != 200 || err != nil || len(listed) != len(builtin.Metering) {
		t.Fatalf("GET /v1/metering/plans: %d, %d plans (%v), want the %d built-in ones", status, len(listed), err, len(builtin.Metering))
	}

	plan := `{"plan_id":"storage-2027","measures":[{"name":"storage","unit":"BYTE"},{"name":"light_api_calls","unit":"CALL"},{"name":"heavy_api_calls","unit":"CALL"}],
"metrics":[{"name":"storage","unit":"GIGABYTE","meter":"(m) => m.storage / 1073741824","accumulate":"max(a, qty)"},
{"name":"thousand_light_api_calls","unit":"THOUSAND_CALLS","meter":"m.light_api_calls / 1000"},{"name":"heavy_api_calls","unit":"CALL"}]}`
	if status, body := call(t, "POST", api.URL+"/v1/metering/plans", plan); status != 201 {
		t.Fatalf("POST plan: %d %s", status, body)
	}
	if status, body := call(t, "POST", api.URL+"/v1/metering/plans", plan); status != 200 {
		t.Errorf("POST of the same plan again: %d %s, want 200", status, body)
	}
	changed := strings.Replace(plan, "max(a, qty)", "a + qty", 1)
	if status, body := call(t, "PUT", api.URL+"/v1/metering/plans/storage-2027", changed); status != 409 || !strings.Contains(body, "immutable") {
		t.Errorf("PUT of a changed plan: %d %s, want 409 saying plans are immutable", status, body)
	}
	if status, body := call(t, "GET", api.URL+"/v1/metering/plans/storage-2027", ""); status != 200 || !strings.Contains(body, `"(m) => m.storage / 1073741824"`) {
		t.Errorf("GET the new plan: %d %s", status, body)
	}
	broken := `{"plan_id":"broken","measures":[{"name":"storage","unit":"BYTE"}],"metrics":[{"name":"storage","unit":"GB","meter":"(m) => m.storage +* 2"}]}`
	if status, body := call(t, "POST", api.URL+"/v1/metering/plans", broken); status != 400 ||
		!strings.Contains(body, `"field":"metrics[0].meter"`) || !strings.Contains(body, "plan broken: metric storage: meter formula: line 1, column") {
		t.Errorf("POST of a broken plan: %d %s, want 400 naming plan, metric, formula and position", status, body)
	}

	// A metering plan that lacks metrics the mapped rating plan rates cannot be mapped.
	from := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	partial := `{"plan_id":"storage-only","measures":[{"name":"storage","unit":"BYTE"}],"metrics":[{"name":"storage","unit":"GIGABYTE"}]}`
	if status, body := call(t, "POST", api.URL+"/v1/metering/plans", partial); status != 201 {
		t.Fatalf("POST plan: %d %s", status, body)
	}
	inconsistent := `{"kind":"metering","resource_type":"object-storage","plan_id":"basic","effective_from":` + itoa(from) + `,"plan":"storage-only"}`
	if status, body := call(t, "POST", api.URL+"/v1/provisioning/mappings", inconsistent); status != 400 ||
		!strings.Contains(body, "heavy_api_calls is not a metric of metering plan storage-only") {
		t.Errorf("mapping a plan the rating plan does not fit: %d %s, want 400 naming the metric", status, body)
	}

	// From 2027-01-01 the organization's basic object storage is metered by the new plan.
	mapping := `{"kind":"metering","resource_type":"object-storage","plan_id":"basic","organization_id":"org-1","effective_from":` + itoa(from) + `,"plan":"storage-2027"}`
	if status, body := call(t, "POST", api.URL+"/v1/provisioning/mappings", mapping); status != 201 {
		t.Fatalf("POST mapping: %d %s", status, body)
	}
	lookup := func(org string, at int64) string {
		_, body := call(t, "GET", api.URL+"/v1/metering/organizations/"+org+"/resource_types/object-storage/plans/basic/time/"+itoa(at)+"/metering_plan/id", "")
		return body
	}
	for _, c := range []struct {
		org  string
		at   int64
		want string
	}{
		{"org-1", from - 1, "basic-object-storage"},
		{"org-1", from, "storage-2027"},
		{"org-2", from + 1, "basic-object-storage"},
	} {
		if got := lookup(c.org, c.at); got != c.want {
			t.Errorf("metering plan of %s at %d = %q, want %q", c.org, c.at, got, c.want)
		}
	}
	if status, _ := call(t, "GET", api.URL+"/v1/metering/organizations/o/resource_types/object-storage/plans/basic/time/yesterday/metering_plan/id", ""); status != 400 {
		t.Errorf("look-up with a bad time: %d, want 400", status)
	}
	bad := `{"kind":"rating","resource_type":"object-storage","plan_id":"basic","plan":"no-such-plan"}`
	if status, body := call(t, "POST", api.URL+"/v1/provisioning/mappings", bad); status != 400 || !strings.Contains(body, "no-such-plan") {
		t.Errorf("mapping to a missing plan: %d %s, want 400", status, body)
	}

	acct := `{"account_id":"acme","name":"ACME","organizations":["org-1"],"pricing_country":"EUR","currency":"EUR"}`
	if status, body := call(t, "POST", api.URL+"/v1/accounts", acct); status != 201 {
		t.Fatalf("POST account: %d %s", status, body)
	}
	if p, ok := first.Price("object-pricing-basic", "storage", "org-1"); !ok || p.String() != "0.7523" {
		t.Errorf("price of storage for org-1 (EUR account) = %v %v, want 0.7523", p, ok)
	}

	// The other process saw every change as it was written, without a restart.
	// The wait is counted in polls on a manual clock (30 s of 100 ms polls), not read from the
	// wall clock.
	polls := clock.NewManual(clock.Instants[0])
	deadline := polls.Now().Add(30 * time.Second)
	for {
		id, ok := second.Lookup(plans.KindMetering, "org-1", "object-storage", "basic", from)
		if ok && id == "storage-2027" {
			if a, _ := second.AccountOf("org-1"); a.AccountID == "acme" {
				break
			}
		}
		if polls.Now().After(deadline) {
			t.Fatalf("the second process does not see the new mapping and account (got %q)", id)
		}
		time.Sleep(100 * time.Millisecond)
		polls.Advance(100 * time.Millisecond)
	}
	// A restarted process has it all.
	third, _ := open(t, cfg.Kafka.Brokers, topic)
	if _, ok := third.MeteringPlan("storage-2027"); !ok {
		t.Error("a restarted process lost the new plan")
	}
	if id, _ := third.Lookup(plans.KindMetering, "org-1", "object-storage", "basic", from); id != "storage-2027" {
		t.Errorf("a restarted process maps org-1 to %q", id)
	}
}

func itoa(v int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}
