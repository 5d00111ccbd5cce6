package vcloudair

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
)

type fakeStore struct {
	billed  map[string][]Billed // by group
	metered map[Key]decimal.Decimal
}

func (f fakeStore) Billed(_ context.Context, group string, year, month int) ([]Billed, bool, error) {
	rows, ok := f.billed[group]
	var out []Billed
	for _, r := range rows {
		if r.Year == year && r.Month == month {
			out = append(out, r)
		}
	}
	return out, ok, nil
}

func (f fakeStore) Metered(_ context.Context, orgs []string, from, to int64) (map[Key]decimal.Decimal, error) {
	out := map[Key]decimal.Decimal{}
	for k, v := range f.metered {
		for _, o := range orgs {
			if k.ServiceInstance == o {
				out[k] = v
			}
		}
	}
	return out, nil
}

var d = decimal.RequireFromString

func row(sid, l2, entity, billable, q string) Billed {
	return Billed{Group: "sg-1", Year: 2026, Month: 12, FromMs: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), ToMs: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
		ServiceInstance: sid, L2: l2, Entity: entity, Billable: billable, Quantity: d(q)}
}

func serve(t *testing.T, s Store, p *auth.Principal, path string) (int, map[string]any) {
	t.Helper()
	mux := http.NewServeMux()
	NewAPI(s, zap.NewNop()).Register(mux)
	w := httptest.NewRecorder()
	auth.As(p, mux).ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: %v: %q", path, err, w.Body)
	}
	return w.Code, body
}

var admin = auth.NewPrincipal("admin", auth.MethodAdminKey, []string{auth.ScopeAdmin}, nil)

// Billed against metered: equal lines no difference, an over-billed entity, the group-level
// extra, a metered entity vCloud Air did not bill; the errors and the access checks.
func TestReconciliation(t *testing.T) {
	s := fakeStore{billed: map[string][]Billed{"sg-1": {
		row("si-1", "vdc-a", "vm-1", "vcpu_hours", "744"),
		row("si-1", "vdc-a", "vm-2", "vcpu_hours", "10.5"),
		row("", "", "sg-1", "vcpu_hours", "3.5"),
	}}, metered: map[Key]decimal.Decimal{
		{"si-1", "vdc-a", "vm-1", "vcpu_hours"}:      d("744.000"),
		{"si-1", "vdc-a", "vm-2", "vcpu_hours"}:      d("10"),
		{"si-1", "vdc-a", "vm-3", "memory_gb_hours"}: d("2"),
		{"si-9", "vdc-z", "vm-9", "vcpu_hours"}:      d("1"), // another group's
	}}
	code, body := serve(t, s, admin, "/v1/vcloudair/service-groups/sg-1/reconciliation/2026/12")
	raw, _ := json.Marshal(body["differences"])
	want := `[{"service_instance":"","l2":"","entity":"sg-1","billable":"vcpu_hours","billed":"3.5","metered":"0","difference":"3.5"},` +
		`{"service_instance":"si-1","l2":"vdc-a","entity":"vm-2","billable":"vcpu_hours","billed":"10.5","metered":"10","difference":"0.5"},` +
		`{"service_instance":"si-1","l2":"vdc-a","entity":"vm-3","billable":"memory_gb_hours","billed":"0","metered":"2","difference":"-2"}]`
	var w any
	_ = json.Unmarshal([]byte(want), &w)
	if wraw, _ := json.Marshal(w); code != 200 || string(raw) != string(wraw) || len(body["lines"].([]any)) != 4 || body["from"] != "2026-12-01T00:00:00Z" || body["to"] != "2027-01-01T00:00:00Z" {
		t.Fatalf("%d %s\n%v", code, raw, body)
	}
	if over, _ := json.Marshal(body["over"]); string(over) != `{"memory_gb_hours":"-2","vcpu_hours":"4"}` {
		t.Fatalf("over %s", over)
	}
	// A month not billed yet: billed false, no lines.
	if code, body := serve(t, s, admin, "/v1/vcloudair/service-groups/sg-1/reconciliation/2026/11"); code != 200 || body["billed"] != false || len(body["lines"].([]any)) != 0 {
		t.Fatalf("%d %v", code, body)
	}
	reader := func(orgs ...string) *auth.Principal {
		return auth.NewPrincipal("r", auth.MethodJWT, []string{auth.ScopeRead}, orgs)
	}
	for _, c := range []struct {
		name, path string
		p          *auth.Principal
		code       int
		has        string
	}{
		{"bad month and year", "/v1/vcloudair/service-groups/sg-1/reconciliation/20x6/13", admin, 400, `"field":"month"`},
		{"bad year", "/v1/vcloudair/service-groups/sg-1/reconciliation/1999/1", admin, 400, `"field":"year"`},
		{"bad id", "/v1/vcloudair/service-groups/%20x/reconciliation/2026/1", admin, 400, `"field":"id"`},
		{"unknown group", "/v1/vcloudair/service-groups/sg-2/reconciliation/2026/12", admin, 404, "sg-2"},
		{"unknown group, not admin", "/v1/vcloudair/service-groups/sg-2/reconciliation/2026/12", reader("si-1"), 403, ""},
		{"reader of the instances", "/v1/vcloudair/service-groups/sg-1/reconciliation/2026/12", reader("si-1"), 200, "sg-1"},
		{"reader of another", "/v1/vcloudair/service-groups/sg-1/reconciliation/2026/12", reader("si-9"), 403, ""},
		{"no reads", "/v1/vcloudair/service-groups/sg-1/reconciliation/2026/12", auth.NewPrincipal("w", auth.MethodJWT, []string{auth.ScopeWrite}, []string{"si-1"}), 403, ""},
	} {
		code, body := serve(t, s, c.p, c.path)
		raw, _ := json.Marshal(body)
		if code != c.code || !strings.Contains(string(raw), c.has) {
			t.Errorf("%s: %d %s", c.name, code, raw)
		}
	}
	// A month billed only at the group level names no instance: admin only.
	s.billed["sg-1"] = s.billed["sg-1"][2:]
	if code, _ := serve(t, s, reader("si-1"), "/v1/vcloudair/service-groups/sg-1/reconciliation/2026/12"); code != 403 {
		t.Fatalf("reader of si-1, group-level rows only: %d", code)
	}
}
