package clickhouse_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report/nova"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// novaDoc is a document as the Nova poller writes it: window [h, h+1h), the server's run
// [start, start+secs) within it, sizes vcpus/memory/disk.
func novaDoc(tenant, server, flavor string, h, start time.Time, secs string, vcpus, mem, gb int64) usage.Document {
	s := decimal.RequireFromString(secs)
	return usage.Document{Start: start.UnixMilli(), End: h.Add(time.Hour).UnixMilli() - 1, OrganizationID: tenant,
		SpaceID: tenant, ResourceID: nova.Resource, PlanID: flavor, ResourceInstanceID: server,
		DedupID: "nova:test:" + server + ":" + h.Format(time.RFC3339),
		MeasuredUsage: []usage.Measure{{Measure: nova.MeasureNames[0], Quantity: s},
			{Measure: nova.MeasureNames[1], Quantity: s.Mul(decimal.NewFromInt(vcpus))},
			{Measure: nova.MeasureNames[2], Quantity: s.Mul(decimal.NewFromInt(mem))},
			{Measure: nova.MeasureNames[3], Quantity: s.Mul(decimal.NewFromInt(gb))}}}
}

// TestNovaViewOverClickHouse stores poller-style documents across a month (and year-end
// month) boundary on the real ClickHouse, one of them rejected by the processor and one stored
// twice, and reads the view: clipped hours exact, the terminated server's end, the rejected
// document not counted, the duplicate once, paging, and a tenant seeing only its own.
func TestNovaViewOverClickHouse(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	conn := testenv.ClickHouse(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	h21, h22, h23 := at("2026-11-30T21:00:00Z"), at("2026-11-30T22:00:00Z"), at("2026-11-30T23:00:00Z")
	docs := []usage.Document{
		novaDoc("t1", "a", "m1.small", h21, at("2026-11-30T21:30:00Z"), "1800", 1, 2048, 20),
		novaDoc("t1", "a", "m1.small", h22, h22, "3600", 1, 2048, 20),
		novaDoc("t1", "a", "m1.small", h23, h23, "3600", 1, 2048, 20),
		novaDoc("t1", "b", "m1.tiny", h22, at("2026-11-30T22:15:00Z"), "2700", 1, 512, 1),
		novaDoc("t1", "b", "m1.tiny", h23, h23, "1230.5", 1, 512, 1), // terminated 23:20:30.5
		novaDoc("t2", "c", "m1.tiny", h22, h22, "3600", 1, 512, 1),   // rejected below
		novaDoc("t2", "c", "m1.tiny", h23, h23, "3600", 1, 512, 1),
	}
	var rows []usage.EventRow
	for i, d := range docs {
		rows = append(rows, usage.EventRow{Event: &meterlinev1.UsageEvent{Id: d.ID(), Document: d.Proto()}, Offset: int64(i)})
	}
	rows = append(rows, rows[1]) // stored twice: counted once
	if err := clickhouse.NewEvents(conn).Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := clickhouse.NewRejections(conn).Insert(ctx, []usage.RejectionRow{{Rejection: &meterlinev1.RejectedUsage{
		Event: rows[5].Event, Code: "too_late", Reason: "test"}}}); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(at("2026-12-01T00:10:00Z"))
	api := nova.NewAPI(clickhouse.NewNovaServers(conn), clk, zap.NewNop())
	mux := http.NewServeMux()
	api.Register(mux)
	get := func(h http.Handler, path string, version string) (*httptest.ResponseRecorder, map[string]any) {
		req := httptest.NewRequest(http.MethodGet, path, nil).WithContext(ctx)
		if version != "" {
			req.Header.Set("OpenStack-API-Version", "compute "+version)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v: %s", path, err, w.Body)
		}
		return w, body
	}
	admin := auth.AsAdmin(mux)
	q := "start=" + url.QueryEscape("2026-11-30T21:45:00") + "&end=" + url.QueryEscape("2026-12-01 01:00:00.000000")
	w, body := get(admin, nova.Base+"/os-simple-tenant-usage?detailed=1&"+q, "2.40")
	if w.Code != 200 {
		t.Fatalf("list: %d %v", w.Code, body)
	}
	tus := body["tenant_usages"].([]any)
	if len(tus) != 2 {
		t.Fatalf("tenants: %v", body)
	}
	t1 := tus[0].(map[string]any)
	check := func(name string, got any, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// a: 900 + 3600 + 3600 s; b: 2700 + 1230.5 s.
	check("t1 stop", t1["stop"], "2026-12-01T00:10:00.000000")
	check("t1 start", t1["start"], "2026-11-30T21:45:00.000000")
	check("t1 total_hours", t1["total_hours"], 12030.5/3600)
	check("t1 total_memory_mb_usage", t1["total_memory_mb_usage"], (8100*2048+3930.5*512)/3600)
	check("t1 total_local_gb_usage", t1["total_local_gb_usage"], (8100*20+3930.5)/3600)
	sus := t1["server_usages"].([]any)
	a, b := sus[0].(map[string]any), sus[1].(map[string]any)
	check("a hours", a["hours"], 2.25)
	check("a state", a["state"], "active")
	check("a ended_at", a["ended_at"], nil)
	check("a started_at", a["started_at"], "2026-11-30T21:30:00.000000")
	check("a uptime", a["uptime"], float64(2*3600+40*60))
	check("a memory_mb", a["memory_mb"], float64(2048))
	check("a flavor", a["flavor"], "m1.small")
	check("b state", b["state"], "terminated")
	check("b ended_at", b["ended_at"], "2026-11-30T23:20:30.500000")
	check("b uptime", b["uptime"], float64(3930))
	check("t2 total_hours (rejected document not counted)", tus[1].(map[string]any)["total_hours"], 1.0)

	// Paging from 2.40: limit 1, next links through the three servers.
	var seen []string
	next := nova.Base + "/os-simple-tenant-usage?detailed=1&limit=1&" + q
	for next != "" && len(seen) < 5 {
		_, body := get(admin, next, "2.40")
		for _, tu := range body["tenant_usages"].([]any) {
			for _, su := range tu.(map[string]any)["server_usages"].([]any) {
				seen = append(seen, su.(map[string]any)["instance_id"].(string))
			}
		}
		next = ""
		if links, ok := body["tenant_usages_links"].([]any); ok {
			href := links[0].(map[string]any)["href"].(string)
			next = strings.TrimPrefix(href, "http://example.com")
		}
	}
	if strings.Join(seen, ",") != "a,c,b" { // by launch: c first ran at 22:00 (its rejected document), b at 22:15
		t.Errorf("pages gave %v", seen)
	}
	// Below 2.40 limit is not read; the cut at max_limit is said in a header.
	w, body = get(admin, nova.Base+"/os-simple-tenant-usage?limit=1&"+q, "")
	check("2.1 tenants", len(body["tenant_usages"].([]any)), 2)
	check("2.1 truncated", w.Header().Get(nova.TruncatedHeader), "false")
	check("2.1 links", body["tenant_usages_links"], nil)

	// A tenant's principal sees only its own, and is refused another's.
	t2 := auth.As(auth.NewPrincipal("t2", auth.MethodJWT, []string{auth.ScopeRead}, []string{"t2"}), mux)
	_, body = get(t2, nova.Base+"/os-simple-tenant-usage?"+q, "2.40")
	check("t2 sees tenants", len(body["tenant_usages"].([]any)), 1)
	w, body = get(t2, nova.Base+"/os-simple-tenant-usage/t1?"+q, "2.40")
	check("t2 reading t1", w.Code, 403)
	check("forbidden body", body["forbidden"].(map[string]any)["code"], float64(403))
	_, body = get(t2, nova.Base+"/os-simple-tenant-usage/t2?"+q, "2.40")
	check("show t2 hours", body["tenant_usage"].(map[string]any)["total_hours"], 1.0)
	_, body = get(admin, nova.Base+"/os-simple-tenant-usage/nobody?"+q, "2.40")
	check("unknown tenant", len(body["tenant_usage"].(map[string]any)), 0)
}
