package nova

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/clock"
)

// memory is a Store over fixed rows.
type memory struct {
	rows []ServerRow
	err  error
}

func (m memory) Servers(_ context.Context, q Query) ([]ServerRow, error) {
	var out []ServerRow
	for _, r := range m.rows {
		if q.Tenant == "" || r.Tenant == q.Tenant {
			out = append(out, r)
		}
	}
	return out, m.err
}

var _ Store = memory{}

func secs(s string, vcpus, mem, gb int64) Measures {
	d := decimal.RequireFromString(s)
	return Measures{d, d.Mul(decimal.NewFromInt(vcpus)), d.Mul(decimal.NewFromInt(mem)), d.Mul(decimal.NewFromInt(gb))}
}

var jan1 = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC) // a year boundary

// fleet has n servers of tenant t, each launched 3 s after the one before it on New
// Year's Eve 23:00, running.
func fleet(t string, n int) []ServerRow {
	var out []ServerRow
	for i := range n {
		start := jan1.Add(-time.Hour + time.Duration(i)*3*time.Second)
		d := Doc{Flavor: "m1.tiny", StartMs: start.UnixMilli(), EndMs: jan1.UnixMilli() - 1,
			Measures: secs(decimal.NewFromInt(int64(jan1.Sub(start)/time.Second)).String(), 1, 512, 1)}
		out = append(out, ServerRow{Tenant: t, Instance: string(rune('a'+i%26)) + decimal.NewFromInt(int64(i)).String(),
			FirstStartMs: d.StartMs, Latest: d, Edges: []Doc{d}})
	}
	return out
}

func serve(t *testing.T, store Store, p *auth.Principal, path string, h http.Header) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	mux := http.NewServeMux()
	NewAPI(store, clock.NewManual(jan1.Add(30*time.Minute)), zap.NewNop()).Register(mux)
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	auth.As(p, mux).ServeHTTP(w, req)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: %v: %q", path, err, w.Body)
	}
	return w, body
}

var admin = auth.NewPrincipal("admin", auth.MethodAdminKey, []string{auth.ScopeAdmin}, nil)

// TestErrorsInNovasShape: bad dates, bad markers, bad limits, bad and unsupported
// microversions, a store that cannot answer, a token without reads: each in Nova's body.
func TestErrorsInNovasShape(t *testing.T) {
	store := memory{rows: fleet("t1", 3)}
	list := Base + "/os-simple-tenant-usage"
	v := func(s string) http.Header { return http.Header{"Openstack-Api-Version": {"compute " + s}} }
	for _, c := range []struct {
		name, path string
		h          http.Header
		store      Store
		p          *auth.Principal
		status     int
		kind, msg  string
	}{
		{"bad start", list + "?start=yesterday", nil, store, admin, 400, "badRequest", "Invalid datetime string: Datetime is in invalid format"},
		{"RFC 3339 with zone", list + "?end=2027-01-01T00:00:00Z", nil, store, admin, 400, "badRequest", "Invalid datetime string: Datetime is in invalid format"},
		{"start after end", list + "?start=2026-12-31T23:00:00&end=2026-12-31T22:00:00", nil, store, admin, 400, "badRequest",
			"Invalid start time. The start time cannot occur after the end time."},
		{"start in the future", list + "?start=2027-01-02T00:00:00", nil, store, admin, 400, "badRequest",
			"Invalid start time. The start time cannot occur after the end time."},
		{"unknown marker", list + "?start=2026-12-31T00:00:00&marker=nope", v("2.40"), store, admin, 400, "badRequest", "Marker nope could not be found."},
		{"bad limit", list + "?start=2026-12-31T00:00:00&limit=-1", v("2.40"), store, admin, 400, "badRequest",
			`Invalid input for query parameters limit. Value: -1. "-1" is not a valid non-negative integer.`},
		{"bad microversion", list, v("two"), store, admin, 400, "badRequest",
			"API Version String two is of invalid format. Must be of format MajorNum.MinorNum."},
		{"microversion too new", list, http.Header{"X-Openstack-Nova-Api-Version": {"2.200"}}, store, admin, 406, "computeFault",
			"Version 2.200 is not supported by the API. Minimum is 2.1 and maximum is 2.96."},
		{"microversion 3", list, v("3.0"), store, admin, 406, "computeFault",
			"Version 3.0 is not supported by the API. Minimum is 2.1 and maximum is 2.96."},
		{"store down", list + "?start=2026-12-31T00:00:00", nil, memory{err: fault.Unavailable(errors.New("down"), "x")}, admin, 503,
			"serviceUnavailable", "The usage store cannot answer now; try again later."},
		{"no reads", list, nil, store, auth.NewPrincipal("w", auth.MethodJWT, []string{auth.ScopeWrite}, []string{"t1"}), 403, "forbidden", ""},
		{"other tenant", Base + "/os-simple-tenant-usage/t1", nil, store,
			auth.NewPrincipal("r", auth.MethodJWT, []string{auth.ScopeRead}, []string{"t2"}), 403, "forbidden", "this token may not read organization t1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, body := serve(t, c.store, c.p, c.path, c.h)
			e, _ := body[c.kind].(map[string]any)
			if w.Code != c.status || e == nil || e["code"] != float64(c.status) || (c.msg != "" && e["message"] != c.msg) {
				t.Errorf("got %d %v, want %d {%q: {code, message: %q}}", w.Code, body, c.status, c.kind, c.msg)
			}
		})
	}
}

// TestMaxLimitBelow240: below 2.40 the list is cut at max_limit, limit and marker are not
// read, and the headers say it was cut; from 2.40 a full page has a next link.
func TestMaxLimitBelow240(t *testing.T) {
	store := memory{rows: fleet("t1", MaxLimit+1)}
	path := Base + "/os-simple-tenant-usage?detailed=1&start=2026-12-31T00:00:00&limit=5&marker=nope"
	w, body := serve(t, store, admin, path, nil)
	sus := body["tenant_usages"].([]any)[0].(map[string]any)["server_usages"].([]any)
	if w.Code != 200 || len(sus) != MaxLimit || w.Header().Get(TruncatedHeader) != "true" || body["tenant_usages_links"] != nil {
		t.Errorf("2.1: %d, %d servers, truncated %q, links %v", w.Code, len(sus), w.Header().Get(TruncatedHeader), body["tenant_usages_links"])
	}
	if got := w.Header().Get("OpenStack-API-Version"); got != "compute 2.1" {
		t.Errorf("version header %q", got)
	}
	w, body = serve(t, store, admin, Base+"/os-simple-tenant-usage?detailed=1&start=2026-12-31T00:00:00&limit=5",
		http.Header{"X-Openstack-Nova-Api-Version": {"2.40"}})
	links, _ := body["tenant_usages_links"].([]any)
	if w.Code != 200 || len(links) != 1 || w.Header().Get(TruncatedHeader) != "" {
		t.Fatalf("2.40: %d %v", w.Code, body)
	}
	want := "http://example.com" + Base + "/os-simple-tenant-usage?detailed=1&limit=5&marker=e4&start=2026-12-31T00%3A00%3A00"
	if href := links[0].(map[string]any)["href"]; href != want {
		t.Errorf("next %v, want %s", href, want)
	}
}

// TestClipExact: a run cut by the period's edges counts exactly its share, to the microsecond.
func TestClipExact(t *testing.T) {
	d := Doc{StartMs: jan1.UnixMilli(), EndMs: jan1.Add(time.Hour).UnixMilli() - 1, Measures: secs("3600", 4, 8192, 80)}
	f := func(from, to time.Duration, want string) {
		t.Helper()
		got := d.clip(decimal.New(jan1.Add(from).UnixMicro(), -6), decimal.New(jan1.Add(to).UnixMicro(), -6))
		if !got.Seconds.Equal(decimal.RequireFromString(want)) ||
			!got.VCPU.Equal(got.Seconds.Mul(decimal.NewFromInt(4))) || !got.MemoryMB.Equal(got.Seconds.Mul(decimal.NewFromInt(8192))) {
			t.Errorf("clip(%v, %v) = %v, want %s s", from, to, got, want)
		}
	}
	f(-time.Hour, 2*time.Hour, "3600")
	f(time.Microsecond, time.Hour, "3599.999999")
	f(20*time.Minute, 40*time.Minute+time.Millisecond, "1200.001")
	f(time.Hour, 2*time.Hour, "0")
	f(-time.Hour, 0, "0")
	// A run of 100000000.000000000001 s over a period of 10^8 s from its start: 10^-12 s of it
	// lies past the end (the store classifies it as an edge, TestNovaRunEndExact).
	long := Doc{StartMs: jan1.UnixMilli(), EndMs: jan1.Add(time.Hour).UnixMilli() - 1, Measures: secs("100000000.000000000001", 4, 8192, 80)}
	from := decimal.New(jan1.Unix(), 0)
	if got := long.clip(from, from.Add(decimal.New(1, 8))); !got.Seconds.Equal(decimal.New(1, 8)) || !got.VCPU.Equal(decimal.New(4, 8)) ||
		!got.MemoryMB.Equal(decimal.New(8192, 8)) || !got.LocalGB.Equal(decimal.New(80, 8)) {
		t.Errorf("clip of the 100000000.000000000001 s run to 10^8 s = %v", got)
	}
	if got := hours(decimal.RequireFromString("1204")); got != 0.33444444444444443 {
		t.Errorf("hours(1204 s) = %v, want Nova's 0.33444444444444443", got)
	}
}

// TestFlavorSizeBeyondInt64: a server whose vcpus (vcpu-seconds over seconds) do not fit
// Nova's integer is an error the API answers with, not a wrapped number (IntPart wrapped
// 10^20 vcpus to 7766279631452241920 before).
func TestFlavorSizeBeyondInt64(t *testing.T) {
	rows := fleet("t1", 1)
	huge := decimal.RequireFromString("100000000000000000000") // 10^20 vcpus
	rows[0].Latest.Measures.VCPU = rows[0].Latest.Measures.Seconds.Mul(huge)
	rows[0].Edges[0] = rows[0].Latest
	w, body := serve(t, memory{rows: rows}, admin, Base+"/os-simple-tenant-usage/t1?start=2026-12-31T00:00:00&detailed=1", nil)
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("got %d %v, want 500", w.Code, body)
	}
	if _, err := servers(rows, jan1.Add(-time.Hour), jan1); err == nil || !strings.Contains(err.Error(), "vcpus 100000000000000000000 is beyond an int64") {
		t.Errorf("servers() error = %v, want it to name vcpus and the limit", err)
	}
	ok, err := servers(fleet("t1", 1), jan1.Add(-time.Hour), jan1)
	if err != nil || len(ok) != 1 || ok[0].VCPUs != 1 || ok[0].MemoryMB != 512 || ok[0].LocalGB != 1 {
		t.Errorf("servers() = %+v, %v; want one server of 1 vcpu, 512 MB, 1 GB", ok, err)
	}
}
