package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// vcaUsage is a billable- or billed-usage answer of the vCloud Air view.
type vcaUsage struct {
	Status    string `json:"status"`
	StartTime string `json:"startTime"`
	EndTime   string `json:"endTime"`
	Entity    []struct {
		ID                string `json:"id"`
		ServiceInstanceID string `json:"serviceInstanceId"`
		BillableList      struct {
			Billable []struct {
				Name     string          `json:"name"`
				Usage    decimal.Decimal `json:"usage"`
				Cost     decimal.Decimal `json:"cost"`
				Currency string          `json:"currency"`
			} `json:"billable"`
		} `json:"billableList"`
	} `json:"entity"`
}

// figures are an answer's usage and cost by entity/billable, as "usage cost".
func (u vcaUsage) figures() map[string]string {
	out := map[string]string{}
	for _, e := range u.Entity {
		for _, b := range e.BillableList.Billable {
			out[e.ID+"/"+b.Name] = b.Usage.String() + " " + b.Cost.String() + " " + b.Currency
		}
	}
	return out
}

// TestVCloudAirViews runs the vCloud Air simulator (a service group of two service instances,
// billed by calendar month, with support costs and a credit), the vCloud Air poller as its own
// process (with its billing loop) and Meterline (dev: processor, sinks, reporting, with
// billing months closing 61.5 minutes after their end) on the real broker and ClickHouse,
// from 31 December 2025, 20:00, to 1 January 2026, 01:00. The billable usage of January's
// first hour, and December's billed usage and costs once December closed, equal what the
// script metered, rated with the built-in vcloudair prices; the service groups come from what
// the billing loop stored.
func TestVCloudAirViews(t *testing.T) {
	s := newStackAt(t, time.Date(2026, 1, 1, 0, 59, 30, 0, time.UTC))
	use := vcaUseOf
	script := map[string]any{
		"service_groups": []map[string]any{{"id": "sg-view", "name": "View group", "currency": "USD", "anniversary": 1}},
		"service_instances": []map[string]any{
			{"id": "si-v1", "service_group": "sg-view", "name": "VPC one", "l2": []map[string]any{{"id": "vdc-v1",
				"own": []any{use("storage_gb_hours", "10.5", "2025-12-31T20:00:00Z", "")},
				"l1": []map[string]any{
					{"id": "vm-v1", "name": "web", "type": "vm", "usage": []any{use("vcpu_hours", "2", "2025-12-31T20:00:00Z", "")}},
					{"id": "vm-v2", "name": "db", "type": "vm", "usage": []any{use("vcpu_hours", "1", "2025-12-31T21:00:00Z", "2025-12-31T23:00:00Z"),
						use("memory_gb_hours", "2.25", "2025-12-31T21:00:00Z", "2025-12-31T23:00:00Z")}},
				}}}},
			{"id": "si-v2", "service_group": "sg-view", "name": "VPC two", "l2": []map[string]any{{"id": "vdc-v2",
				"l1": []map[string]any{
					{"id": "vm-v3", "name": "batch", "type": "vm", "usage": []any{use("vcpu_hours", "4", "2025-12-31T22:00:00Z", "")}},
				}}}},
		},
		"billed_costs": map[string]any{"sg-view": []map[string]any{
			{"type": "Support Cost", "amount": "25", "properties": map[string]string{"plan": "production"}},
			{"type": "Service Credit", "amount": "-5"},
		}},
	}
	dev := startVCloudAir(t, s, script, "e2e-view", "5s", "METERLINE_VCLOUDAIR_BILLING_CLOSE=61m30s")

	get := func(path string) (int, vcaUsage, string) {
		r := do(t, http.MethodGet, "http://"+dev.addr+path, "", nil)
		var u vcaUsage
		if r.status == http.StatusOK {
			if err := json.Unmarshal(r.body, &u); err != nil {
				t.Fatalf("%s: %v: %s", path, err, r.body)
			}
		}
		return r.status, u, string(r.body)
	}
	// The ground truth: the script's usage per hour times the hours, rated at the built-in
	// prices (vCPU 0.0125, memory 0.0035, storage 0.0001 per hour).
	dec := decimal.RequireFromString
	rated := func(q string, price string) string {
		return dec(q).String() + " " + dec(q).Mul(dec(price)).String() + " USD"
	}
	wantJanuary := map[string]string{"vdc-v1/storage_gb_hours": rated("10.5", "0.0001"), "vdc-v1/vcpu_hours": rated("2", "0.0125")}
	wantDecember := map[string]string{
		"vdc-v1/storage_gb_hours": rated("42", "0.0001"), "vm-v1/vcpu_hours": rated("8", "0.0125"),
		"vm-v2/vcpu_hours": rated("2", "0.0125"), "vm-v2/memory_gb_hours": rated("4.5", "0.0035"), "vm-v3/vcpu_hours": rated("8", "0.0125"),
	}
	equal := func(got, want map[string]string) bool { return fmt.Sprint(got) == fmt.Sprint(want) }

	// January's first hour, billable: the instance's L2 rolled up.
	january := "/api/metering/service-instance/si-v1/billable-usage?start=2026-01-01T00:00:00.000Z&end=2026-01-01T01:00:00.000Z"
	waitFor(t, "January's first hour billable", func() (bool, string) {
		code, u, body := get(january)
		return code == http.StatusOK && u.EndTime == "2026-01-01T01:00:00.000Z" && equal(u.figures(), wantJanuary), fmt.Sprintf("%d %s", code, body)
	})
	if code, u, body := get("/api/metering/service-instance/si-v1/l2/vdc-v1/billable-usage?start=2026-01-01T00:00:00.000Z&end=2026-01-01T01:00:00.000Z"); code != http.StatusOK ||
		!equal(u.figures(), map[string]string{"vm-v1/vcpu_hours": rated("2", "0.0125")}) {
		t.Errorf("L2's L1s billable: %d %s", code, body)
	}
	// December closes at 1 January 01:01:30: until then it is not billed.
	var december vcaUsage
	deadline := time.Now().Add(4 * time.Minute)
	for {
		code, u, body := get("/api/billing/service-group/sg-view/billed-usage?month=12&year=2025")
		if code == http.StatusOK && u.Status == "" {
			december = u
			break
		}
		if code != http.StatusOK || u.Status != "not billed yet" {
			t.Fatalf("December's billed usage: %d %s", code, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("December did not close: %s", body)
		}
		time.Sleep(time.Second)
	}
	if got := december.figures(); !equal(got, wantDecember) || december.StartTime != "2025-12-01T00:00:00.000Z" || december.EndTime != "2026-01-01T00:00:00.000Z" {
		t.Errorf("December billed:\n%v, want\n%v (%s – %s)", got, wantDecember, december.StartTime, december.EndTime)
	}
	// The same month asked again (the default: the last closed month) is the same.
	if code, u, body := get("/api/billing/service-group/sg-view/billed-usage"); code != http.StatusOK || !equal(u.figures(), wantDecember) {
		t.Errorf("the last closed month: %d %s", code, body)
	}
	// The billed costs the billing loop stored, and the group with its bill.
	waitFor(t, "December's billed costs", func() (bool, string) {
		r := do(t, http.MethodGet, "http://"+dev.addr+"/api/billing/service-group/sg-view/billed-costs?month=12&year=2025", "", nil)
		var c struct {
			Currency string `json:"currency"`
			Cost     []struct {
				Type   string          `json:"type"`
				Amount decimal.Decimal `json:"amount"`
			} `json:"cost"`
		}
		_ = json.Unmarshal(r.body, &c)
		ok := r.status == http.StatusOK && len(c.Cost) == 2 && c.Cost[0].Type == "Support Cost" && c.Cost[0].Amount.Equal(dec("25")) &&
			c.Cost[1].Type == "Service Credit" && c.Cost[1].Amount.Equal(dec("-5")) && c.Currency == "USD"
		return ok, fmt.Sprintf("%d %s", r.status, r.body)
	})
	r := do(t, http.MethodGet, "http://"+dev.addr+"/api/billing/service-groups", "", nil)
	for _, w := range []string{`"id":"sg-view"`, `"displayName":"View group"`, `"name":"anniversaryDate","value":"1"`, `"month":12,"year":2025`} {
		if r.status != http.StatusOK || !strings.Contains(string(r.body), w) {
			t.Errorf("service groups: no %s in %d %s", w, r.status, r.body)
		}
	}
	// Bad input and unknown ids, in vCloud Air's error body.
	for _, c := range []struct {
		path string
		code int
		has  string
	}{
		{"/api/billing/service-group/sg-view/billed-usage?month=13&year=2025", 400, `"field":"month"`},
		{"/api/metering/service-instance/si-v1/billable-usage?start=2025-12-31T20:30:00Z&end=2026-01-01T01:00:00Z", 400, `"minorErrorCode":"BAD_REQUEST"`},
		{"/api/billing/service-group/sg-nope/billed-usage", 404, `"majorErrorCode":404`},
		{"/api/metering/service-instance/si-nope/billable-usage", 404, "si-nope"},
	} {
		r := do(t, http.MethodGet, "http://"+dev.addr+c.path, "", nil)
		if r.status != c.code || !strings.Contains(string(r.body), c.has) {
			t.Errorf("%s: %d %s", c.path, r.status, r.body)
		}
	}
}

// vcaUseOf is a usage of a vcasim script: perHour of billable every hour from from to to (RFC
// 3339 hours; to "" runs on).
func vcaUseOf(billable, perHour, from, to string) map[string]any {
	h := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	u := map[string]any{"billable": billable, "unit": "hour", "per_hour": perHour, "rate": "0.01", "from": h(from)}
	if to != "" {
		u["to"] = h(to)
	}
	return u
}

// startVCloudAir starts, on s, Meterline (dev, with devEnv), the vCloud Air simulator playing
// script and the vCloud Air poller of account from 31 December 2025, 20:00, with poll lag lag;
// it returns the dev process.
func startVCloudAir(t *testing.T, s *stack, script map[string]any, account, lag string, devEnv ...string) *proc {
	t.Helper()
	scriptFile := writeScript(t, script)
	dev := s.start([]string{"dev"}, devEnv...)
	sim := s.start([]string{"sim", "vcloudair"}, "METERLINE_VCASIM_SCRIPT="+scriptFile)
	s.start([]string{"poller", "vcloudair"}, "METERLINE_VCLOUDAIR_URL=http://"+sim.addr, "METERLINE_VCLOUDAIR_USERNAME=meterline",
		"METERLINE_VCLOUDAIR_PASSWORD=pw", "METERLINE_VCLOUDAIR_ACCOUNT="+account, "METERLINE_POLL_START=2025-12-31T20:00:00Z",
		"METERLINE_POLL_LAG="+lag, "METERLINE_POLL_INTERVAL=1s", "METERLINE_POLL_TIMEOUT=5s")
	return dev
}
