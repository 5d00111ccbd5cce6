package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

type vcaLine struct {
	ServiceInstance string          `json:"service_instance"`
	Entity          string          `json:"entity"`
	Billable        string          `json:"billable"`
	Billed          decimal.Decimal `json:"billed"`
	Metered         decimal.Decimal `json:"metered"`
	Difference      decimal.Decimal `json:"difference"`
}

type vcaReconciliation struct {
	Billed      bool      `json:"billed"`
	From, To    string    `json:"-"`
	Lines       []vcaLine `json:"lines"`
	Differences []vcaLine `json:"differences"`
}

// TestVCloudAirReconciliation runs the vCloud Air simulator (two service groups billed by
// calendar month: an honest one and one that bills 5 vCPU-hours more than it metered), the
// vCloud Air poller as its own process (with its billing loop), and Meterline (dev: processor,
// sinks, reporting) on the real broker and ClickHouse, across a year's end. December's
// reconciliation of the honest group shows every entity billed as metered, and the other
// group's exactly the injected over-billing.
func TestVCloudAirReconciliation(t *testing.T) {
	s := newStackAt(t, time.Date(2026, 1, 1, 2, 30, 0, 0, time.UTC))
	use := vcaUseOf
	script := map[string]any{
		"service_groups": []map[string]any{
			{"id": "sg-honest", "name": "honest", "currency": "USD", "anniversary": 1},
			{"id": "sg-over", "name": "over", "currency": "USD", "anniversary": 1},
		},
		"service_instances": []map[string]any{
			{"id": "si-h1", "service_group": "sg-honest", "name": "VPC", "l2": []map[string]any{{"id": "vdc-h1",
				"own": []any{use("storage_gb_hours", "10.5", "2025-12-31T20:00:00Z", "")},
				"l1": []map[string]any{
					{"id": "vm-h1", "name": "web", "type": "vm", "usage": []any{use("vcpu_hours", "2", "2025-12-31T20:00:00Z", "")}},
					{"id": "vm-h2", "name": "db", "type": "vm", "usage": []any{use("vcpu_hours", "1", "2025-12-31T21:00:00Z", "2025-12-31T23:00:00Z"),
						use("memory_gb_hours", "2.25", "2025-12-31T21:00:00Z", "2025-12-31T23:00:00Z")}},
				}}}},
			{"id": "si-o1", "service_group": "sg-over", "name": "VPC", "l2": []map[string]any{{"id": "vdc-o1",
				"l1": []map[string]any{
					{"id": "vm-o1", "name": "batch", "type": "vm", "usage": []any{use("vcpu_hours", "4", "2025-12-31T20:00:00Z", "2026-01-01T01:00:00Z")}},
				}}}},
		},
		"billed_extra": map[string]map[string]string{"sg-over": {"vcpu_hours": "5"}},
	}
	dev := startVCloudAir(t, s, script, "e2e", "10m")

	get := func(group string, year, month int) (int, vcaReconciliation, string) {
		r := do(t, http.MethodGet, fmt.Sprintf("http://%s/v1/vcloudair/service-groups/%s/reconciliation/%d/%d", dev.addr, group, year, month), "", nil)
		var rec vcaReconciliation
		if r.status == http.StatusOK {
			if err := json.Unmarshal(r.body, &rec); err != nil {
				t.Fatalf("%s: %v", r.body, err)
			}
		}
		return r.status, rec, string(r.body)
	}
	dec := decimal.RequireFromString
	// December 31, 20:00 to 24:00: what each entity metered (and vCloud Air billed).
	want := map[string]decimal.Decimal{"si-h1/vdc-h1/storage_gb_hours": dec("42"), "si-h1/vm-h1/vcpu_hours": dec("8"),
		"si-h1/vm-h2/vcpu_hours": dec("2"), "si-h1/vm-h2/memory_gb_hours": dec("4.5"), "si-o1/vm-o1/vcpu_hours": dec("16")}
	var honest, over vcaReconciliation
	waitFor(t, "December reconciled", func() (bool, string) {
		var body string
		var status int
		for _, g := range []struct {
			id  string
			rec *vcaReconciliation
		}{{"sg-honest", &honest}, {"sg-over", &over}} {
			if status, *g.rec, body = get(g.id, 2025, 12); status != http.StatusOK || !g.rec.Billed {
				return false, fmt.Sprintf("%s: %d %s", g.id, status, body)
			}
			for _, l := range g.rec.Lines {
				if l.ServiceInstance != "" && !l.Metered.Equal(l.Billed) {
					return false, fmt.Sprintf("%s: not all metered yet: %s", g.id, body)
				}
			}
		}
		return true, ""
	})
	got := map[string]decimal.Decimal{}
	for _, l := range append(honest.Lines, over.Lines...) {
		if l.ServiceInstance != "" {
			got[l.ServiceInstance+"/"+l.Entity+"/"+l.Billable] = l.Billed
		}
	}
	for k, w := range want {
		if !got[k].Equal(w) {
			t.Errorf("%s billed and metered %s, want %s", k, got[k], w)
		}
	}
	if len(honest.Differences) != 0 {
		t.Errorf("the honest group has differences: %+v", honest.Differences)
	}
	if len(over.Differences) != 1 || over.Differences[0].Entity != "sg-over" || over.Differences[0].Billable != "vcpu_hours" ||
		!over.Differences[0].Difference.Equal(dec("5")) || !over.Differences[0].Metered.IsZero() {
		t.Errorf("the over-billing group's differences: %+v, want 5 vcpu_hours billed at the group", over.Differences)
	}
	// January is not billed yet; a bad month and an unknown group are refused.
	if status, rec, body := get("sg-honest", 2026, 1); status != http.StatusOK || rec.Billed || len(rec.Lines) != 0 {
		t.Errorf("January: %d %s", status, body)
	}
	if status, _, body := get("sg-honest", 2025, 13); status != http.StatusBadRequest {
		t.Errorf("month 13: %d %s", status, body)
	}
	if status, _, body := get("sg-nope", 2025, 12); status != http.StatusNotFound {
		t.Errorf("unknown group: %d %s", status, body)
	}
}
