package elasticbox

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/metadata/ebdetails"
	"github.com/meterline/meterline/internal/usage"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// memStore is a Store over documents in memory, with the ClickHouse store's semantics.
type memStore struct {
	docs []Doc
	dets []orgDetail
	err  error
}

type orgDetail struct {
	org string
	Detail
}

func (m *memStore) Details(_ context.Context, org string, from, to int64) ([]Detail, error) {
	var out []Detail
	for _, d := range m.dets {
		if d.org == org && d.ValidFromMs >= from && d.ValidFromMs < to {
			out = append(out, d.Detail)
		}
	}
	slices.SortFunc(out, func(a, b Detail) int {
		if c := strings.Compare(a.Instance, b.Instance); c != 0 {
			return c
		}
		return int(a.ValidFromMs - b.ValidFromMs)
	})
	return out, m.err
}

// entry is a stored document and the details its instance's metadata record of the day
// tells (none when empty).
type entry struct {
	org string
	doc Doc
	det ebdetails.Details
}

func newMemStore(es ...entry) *memStore {
	m := &memStore{}
	for _, e := range es {
		m.docs = append(m.docs, e.doc)
		if attrs := e.det.Attributes(); len(attrs) > 0 {
			day := time.UnixMilli(e.doc.StartMs).UTC().Truncate(24 * time.Hour)
			m.dets = append(m.dets, orgDetail{e.org, Detail{Instance: e.doc.Instance, ValidFromMs: day.UnixMilli(), Source: "test",
				Details: ebdetails.FromAttributes(attrs)}})
		}
	}
	return m
}

func (m *memStore) Docs(_ context.Context, org string, from, to int64) ([]Doc, error) {
	var out []Doc
	for _, d := range m.docs {
		if strings.HasPrefix(d.ID, org+"/") && d.StartMs >= from && d.StartMs < to {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Doc) int {
		if c := strings.Compare(a.Instance, b.Instance); c != 0 {
			return c
		}
		if a.StartMs != b.StartMs {
			return int(a.StartMs - b.StartMs)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, m.err
}

func (m *memStore) Known(_ context.Context, org string) (bool, error) {
	for _, d := range m.docs {
		if strings.HasPrefix(d.ID, org+"/") {
			return true, nil
		}
	}
	return false, m.err
}

var day0 = time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC) // the year's last day: the report crosses a month and a year

func ptr(t time.Time) *time.Time { return &t }

func dec(s string) *decimal.Decimal { d := decimal.RequireFromString(s); return &d }

// doc is a stored document of org's instance on day d (0: day0), with cost (US dollars),
// up seconds ("" for none), and its instance's details of the day.
func doc(org, inst, space string, d int, n int, cost, up string, det ebdetails.Details) entry {
	start := day0.AddDate(0, 0, d).Add(time.Duration(n) * time.Minute)
	ms := []usage.Measure{{Measure: ebdetails.Cost, Quantity: decimal.RequireFromString(cost)}}
	if up != "" {
		ms = append(ms, usage.Measure{Measure: ebdetails.UpSeconds, Quantity: decimal.RequireFromString(up)})
	}
	out := Doc{Instance: inst, Space: space, StartMs: start.UnixMilli(), EndMs: day0.AddDate(0, 0, d+1).UnixMilli() - 1,
		ID: org + "/" + inst + "/" + start.Format(time.RFC3339)}
	for _, m := range ms {
		out.Names = append(out.Names, m.Measure)
		out.Quantities = append(out.Quantities, m.Quantity)
	}
	return entry{org: org, doc: out, det: det}
}

// fixture: eb-a1 as the poller writes it from the JSON (three days, down and up again on the
// second); eb-a2 from the JSON on the first day (no sizes) and from the CSV fallback on the
// third (sizes and units, which show on the first day too); eb-a3 posted through the collector
// with no details, two documents of half a cent each on one day (rounded once: 1 cent).
func fixture() *memStore {
	created := time.Date(2025, 12, 30, 16, 45, 5, 246651000, time.UTC)
	up1 := time.Date(2025, 12, 30, 16, 47, 2, 399111000, time.UTC)
	down := time.Date(2026, 1, 1, 9, 29, 20, 728718000, time.UTC)
	up2 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	json := ebdetails.Details{Size: "t1.micro", Region: "us-west-1", Cloud: "EC2", ProviderType: "Amazon Web Services",
		ProfileSchema: "http://elasticbox.net/schemas/aws/ec2/profile", Type: "Linux Compute", Operation: "deploy", Created: &created,
		Instances: dec("1")}
	d0, d1 := json, json
	d0.States = []ebdetails.State{{State: "up", Started: up1}}
	d1.States = []ebdetails.State{{State: "up", Started: up1, Completed: &down}, {State: "down", Started: down, Completed: &up2}, {State: "up", Started: up2}}
	csvDet := ebdetails.Details{Size: "m1.small", Region: "us-east-1", ProviderType: "Amazon Web Services",
		ProfileSchema: "http://elasticbox.net/schemas/aws/ec2/profile", Type: "Linux Compute", EventType: "up", Created: ptr(created),
		Instances: dec("2"), CPU: dec("1"), Memory: dec("1.7"), Disk: dec("160"), CPUUnit: "vCPU", MemoryUnit: "GiB", DiskUnit: "GB"}
	return newMemStore(
		doc("acme", "eb-a1", "5908ee9b", 0, 0, "0.48", "86400", d0),
		doc("acme", "eb-a1", "5908ee9b", 1, 0, "0.3", "55200.5", d1),
		doc("acme", "eb-a2", "5908ee9b", 0, 0, "0.1", "3600", ebdetails.Details{Size: "m1.small", Region: "us-east-1", Operation: "deploy"}),
		doc("acme", "eb-a2", "5908ee9b", 2, 0, "1.25", "", csvDet),
		doc("acme", "eb-a3", "acme", 1, 0, "0.005", "", ebdetails.Details{}),
		doc("acme", "eb-a3", "acme", 1, 5, "0.005", "", ebdetails.Details{}),
		doc("acme", "eb-a3", "acme", 3, 0, "7", "", ebdetails.Details{}), // after the period
		doc("beta", "eb-b1", "beta", 0, 0, "9", "", ebdetails.Details{}),
		doc("gamma", "eb-g1", "gamma", 40, 0, "9", "", ebdetails.Details{}), // gamma is known; nothing in the period
	)
}

var (
	admin  = auth.NewPrincipal("admin", auth.MethodAdminKey, []string{auth.ScopeAdmin}, nil)
	reader = auth.NewPrincipal("r", auth.MethodJWT, []string{auth.ScopeRead}, []string{"acme", "nobody"})
)

func serve(t *testing.T, s Store, p *auth.Principal, path string) *httptest.ResponseRecorder {
	t.Helper()
	mux := http.NewServeMux()
	NewAPI(s, 100, zap.NewNop()).Register(mux)
	w := httptest.NewRecorder()
	auth.As(p, mux).ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs:\n%s", path, got)
	}
}

// TestGolden: the JSON and the CSV reports of acme over 2025-12-31..2026-01-02.
func TestGolden(t *testing.T) {
	w := serve(t, fixture(), reader, "/services/organizations/acme/report/2025-12-31/2026-01-02")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("JSON: %d %s", w.Code, w.Body)
	}
	var r Report
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	pretty, _ := json.MarshalIndent(r, "", "  ")
	golden(t, "report.golden.json", append(pretty, '\n'))
	costs := map[string]string{}
	for _, e := range r.Cost {
		var s []string
		for _, c := range e.Cost {
			s = append(s, c.String())
		}
		costs[e.Service.ID] = strings.Join(s, ",")
	}
	// eb-a3: 0.005 + 0.005 dollars is 1 cent (rounded once, not 2); its document after the
	// period is not counted.
	if costs["eb-a1"] != "48,30,0" || costs["eb-a2"] != "10,0,125" || costs["eb-a3"] != "0,1,0" || len(costs) != 3 {
		t.Errorf("costs %v", costs)
	}
	c := serve(t, fixture(), reader, "/services/organizations/acme/csv/2025-12-31/2026-01-02")
	if c.Code != 200 || !strings.HasPrefix(c.Header().Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV: %d %s", c.Code, c.Body)
	}
	golden(t, "report.golden.csv", c.Body.Bytes())
	lines := strings.Split(strings.TrimSpace(c.Body.String()), "\n")
	if len(lines) != 1+3*3 || lines[0] != strings.Join(CSVHeader, ",") || len(CSVHeader) != 21 {
		t.Errorf("CSV lines %d, header %q", len(lines), lines[0])
	}
	// eb-a2 on 2025-12-31 (from the JSON) and 2026-01-02 (from the CSV fallback): every one
	// of the 21 columns filled; on 2026-01-01, without a document, down.
	for _, l := range []string{lines[4], lines[6]} {
		if f := strings.Split(l, ","); len(f) != 21 || slices.Contains(f, "") || f[10] != "up" {
			t.Errorf("eb-a2's row has an empty column or is not up: %q", l)
		}
	}
	if f := strings.Split(lines[5], ","); f[10] != "down" || f[18] != "0" {
		t.Errorf("eb-a2's day without documents: %q", lines[5])
	}
}

// TestBadInput: a wrong date, an end before start or a too long period is 400, each problem
// named; an unknown organization 404; a known one without usage in the period an empty
// report; another organization's reader 403; the store down 503; all in ElasticBox's body.
func TestBadInput(t *testing.T) {
	other := auth.NewPrincipal("o", auth.MethodJWT, []string{auth.ScopeRead}, []string{"beta"})
	long := strings.Repeat("x", 300)
	for _, c := range []struct {
		name, path string
		p          *auth.Principal
		store      Store
		status     int
		want       []string
	}{
		{"day format", "/services/organizations/acme/report/2025-12-1/31-12-2025", reader, nil, 400,
			[]string{`"message":"Wrong date format"`, `"field":"start"`, `"value":"2025-12-1"`, `"field":"end"`, `"value":"31-12-2025"`}},
		{"no such day", "/services/organizations/acme/csv/2025-02-30/2025-03-01", reader, nil, 400, []string{`"field":"start"`}},
		{"end before start", "/services/organizations/acme/report/2026-01-02/2026-01-01", reader, nil, 400, []string{`"field":"end"`, "not before start"}},
		{"too long", "/services/organizations/acme/report/2024-01-01/2026-01-01", reader, nil, 400, []string{"at most 366 days"}},
		{"long organization", "/services/organizations/" + long + "/report/2026-01-01/2026-01-01", admin, nil, 400,
			[]string{`"field":"organization"`, "…"}},
		{"unknown organization", "/services/organizations/nobody/report/2025-12-31/2026-01-02", reader, nil, 404,
			[]string{`"message":"Organization not found`}},
		{"unknown organization CSV", "/services/organizations/nobody/csv/2025-12-31/2026-01-02", admin, nil, 404, []string{"Organization not found"}},
		{"known, nothing in the period", "/services/organizations/gamma/report/2025-12-31/2026-01-02", admin, nil, 200, []string{`{"cost":[]}`}},
		{"another's reader", "/services/organizations/acme/report/2025-12-31/2026-01-02", other, nil, 403,
			[]string{"User not authorized to get the reports"}},
		{"store down", "/services/organizations/acme/report/2025-12-31/2026-01-02", reader,
			&memStore{err: fault.Unavailable(context.DeadlineExceeded, "test")}, 503, []string{"try again later"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := c.store
			if s == nil {
				s = fixture()
			}
			w := serve(t, s, c.p, c.path)
			if w.Code != c.status || w.Header().Get("Content-Type") != "application/json" && c.status != 200 {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, c.status)
			}
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			for _, want := range c.want {
				if !strings.Contains(w.Body.String(), want) {
					t.Errorf("body %s does not hold %s", w.Body, want)
				}
			}
		})
	}
}
