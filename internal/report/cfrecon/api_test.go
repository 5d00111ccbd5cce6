package cfrecon

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json with what the tests get")

type fakeStore struct {
	rows  []Row
	steps map[string][]Step // by organization
}

func (f fakeStore) UsageService(_ context.Context, org string, day time.Time) ([]Row, bool, error) {
	var out []Row
	known := false
	for _, r := range f.rows {
		if r.Organization == org {
			known = true
			if r.Day.Equal(day) {
				out = append(out, r)
			}
		}
	}
	return out, known, nil
}

func (f fakeStore) Metered(_ context.Context, org string, from, to int64) ([]Step, error) {
	steps := slices.Clone(f.steps[org])
	slices.SortStableFunc(steps, func(a, b Step) int {
		if c := strings.Compare(a.Resource+a.Instance, b.Resource+b.Instance); c != 0 {
			return c
		}
		return int(a.AtMs - b.AtMs)
	})
	return steps, nil
}

var d = decimal.RequireFromString

// The last day of 2026 (the next is in another year).
var day = time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)

func at(hhmm string) int64 {
	t, err := time.Parse("2006-01-02 15:04", hhmm)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func app(org, space, name, proc string, mem, inst int64, sec string) Row {
	return Row{Organization: org, Day: day, Kind: KindApp, Space: space, App: name, AppName: "app-" + name, Process: proc, Memory: mem, Instances: inst, Seconds: d(sec)}
}

func svc(org, space, guid, plan, typ, sec string) Row {
	return Row{Organization: org, Day: day, Kind: KindService, Space: space, ServiceInstance: guid, InstanceName: "si-" + guid, InstanceType: typ, Plan: plan, Seconds: d(sec)}
}

func appStep(space, app, proc string, atMs, memMB, inst int64) Step {
	return Step{Resource: ResourceApp, Instance: "memory:" + proc, Space: space, Consumer: "app:" + app, AtMs: atMs,
		Memory: decimal.NewFromInt(memMB << 20), Instances: decimal.NewFromInt(inst)}
}

func svcStep(space, guid, plan string, atMs, open int64) Step {
	return Step{Resource: ResourceService, Instance: "service:" + guid + ":" + plan, Space: space, Consumer: "service:" + guid, AtMs: atMs, Instances: decimal.NewFromInt(open)}
}

// fixture: organization o-1's last day of 2026, as the Usage Service reported it and as the
// cf poller's documents metered it.
func fixture() fakeStore {
	const o, sp = "o-1", "sp-1"
	return fakeStore{rows: []Row{
		{Organization: o, Day: day, Kind: KindDay},
		app(o, sp, "a-whole-day", "a-whole-day", 1024, 2, "86400"),
		// Scaled from 1 to 3 instances at noon, stopped at 18:00.
		app(o, sp, "b-scaled", "b-scaled", 512, 1, "43200"),
		app(o, sp, "b-scaled", "b-scaled", 512, 3, "21600"),
		// 30 minutes more than it ran.
		app(o, sp, "c-skewed", "c-skewed", 256, 1, "5400"),
		// Only the Usage Service knows it, for a fraction of seconds.
		app(o, sp, "e-unmetered", "e-worker", 1000, 1, "100.31"),
		// Two tasks of 1 GB, 2 h and 1 h; the second one metered 10 minutes shorter.
		{Organization: o, Day: day, Kind: KindTask, Space: sp, App: "a-whole-day", AppName: "app-a-whole-day", Memory: 1024, Instances: 2, Seconds: d("10800")},
		svc(o, sp, "s-1", "small", "managed_service_instance", "86400"),
		svc(o, sp, "s-2", "small", "managed_service_instance", "43200"),
		svc(o, sp, "s-2", "large", "managed_service_instance", "43200"),
		svc(o, sp, "s-up", "", "user_provided_service_instance", "86400"),
		{Organization: "o-2", Day: day.AddDate(0, 0, -1), Kind: KindDay},
	}, steps: map[string][]Step{o: {
		appStep(sp, "a-whole-day", "a-whole-day", at("2026-12-30 10:00"), 1024, 2),
		appStep(sp, "b-scaled", "b-scaled", at("2026-12-31 00:00"), 512, 1),
		appStep(sp, "b-scaled", "b-scaled", at("2026-12-31 12:00"), 512, 3),
		appStep(sp, "b-scaled", "b-scaled", at("2026-12-31 18:00"), 0, 0),
		appStep(sp, "c-skewed", "c-skewed", at("2026-12-31 10:00"), 256, 1),
		appStep(sp, "c-skewed", "c-skewed", at("2026-12-31 11:00"), 0, 0),
		// Started an hour before midnight, still running in 2027.
		appStep(sp, "d-late", "d-late", at("2026-12-31 23:00"), 128, 1),
		// Stopped the day before: nothing in the day, no line.
		appStep(sp, "z-gone", "z-gone", at("2026-12-29 08:00"), 0, 0),
		svcStep(sp, "s-1", "small", at("2026-11-02 09:00"), 1),
		svcStep(sp, "s-2", "small", at("2026-12-01 00:00"), 1),
		svcStep(sp, "s-2", "small", at("2026-12-31 12:00"), 0),
		svcStep(sp, "s-2", "large", at("2026-12-31 12:00"), 1),
		svcStep(sp, "s-2", "large", at("2027-01-01 03:00"), 0),
		{Resource: ResourceTask, Instance: "task:t-1", Space: sp, Consumer: "app:a-whole-day", AtMs: at("2026-12-31 05:00"), Memory: d("1073741824"), Instances: d("1")},
		{Resource: ResourceTask, Instance: "task:t-1", Space: sp, Consumer: "app:a-whole-day", AtMs: at("2026-12-31 07:00"), Memory: d("0"), Instances: d("0")},
		{Resource: ResourceTask, Instance: "task:t-2", Space: sp, Consumer: "app:a-whole-day", AtMs: at("2026-12-31 20:00"), Memory: d("1073741824"), Instances: d("1")},
		{Resource: ResourceTask, Instance: "task:t-2", Space: sp, Consumer: "app:a-whole-day", AtMs: at("2026-12-31 20:50"), Memory: d("0"), Instances: d("0")},
		{Resource: "cf-staging", Instance: "staging:a-whole-day", Space: sp, Consumer: "app:a-whole-day", AtMs: at("2026-12-31 04:00"), Memory: d("1073741824"), Instances: d("1")},
	}}}
}

var admin = auth.NewPrincipal("admin", auth.MethodAdminKey, []string{auth.ScopeAdmin}, nil)

func serve(t *testing.T, s Store, p *auth.Principal, path string) (int, []byte) {
	t.Helper()
	mux := http.NewServeMux()
	NewAPI(s, zap.NewNop()).Register(mux)
	w := httptest.NewRecorder()
	auth.As(p, mux).ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w.Code, w.Body.Bytes()
}

// golden compares got with testdata/name.golden.json (indented), or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, got, "", "  "); err != nil {
		t.Fatalf("%s: %v in %s", name, err, got)
	}
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./internal/report/cfrecon -update writes it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("%s differs from %s (go test ./internal/report/cfrecon -update rewrites it):\n%s", name, path, b.Bytes())
	}
}

// The organization's last day of 2026: apps and services equal on both sides, a skewed app,
// an app only metered (running into 2027) and one only reported (fractional seconds), tasks
// metered shorter than reported, a service moved to another plan at noon, a user-provided
// service and staging left out.
func TestReconciliationGolden(t *testing.T) {
	code, body := serve(t, fixture(), admin, "/v1/cf/organizations/o-1/reconciliation/2026-12-31")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	golden(t, "o-1_2026-12-31", body)
	var rec struct {
		Differences Lines `json:"differences"`
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range rec.Differences.Apps {
		names = append(names, l.App+"="+l.Difference.MemoryGBHours.String()+"/"+l.Difference.InstanceHours.String())
	}
	// c: 256 MB × 1800 s = 0.125 GB-hours; d: 128 MB × 1 h metered only; e: 1000 MB × 100.31 s.
	want := []string{"c-skewed=0.125/0.5", "d-late=-0.125/-1", "e-unmetered=0.027210828993/0.027863888889"}
	if !slices.Equal(names, want) || len(rec.Differences.Services) != 0 {
		t.Errorf("differences %v %+v, want %v and no service", names, rec.Differences.Services, want)
	}
	// The tasks: 3 h reported, 2 h 50 min metered, of 1 GB; staging is not set against anything.
	if l := rec.Differences.Tasks; len(l) != 1 || l[0].App != "a-whole-day" || l[0].Difference.MemoryGBHours.String() != "0.166666666667" ||
		!l[0].Metered.InstanceHours.Equal(d("2.833333333333")) {
		t.Errorf("task differences %+v", l)
	}
}

// A day not read yet, bad parameters, an unknown organization, a range of days, and the
// access checks.
func TestReconciliationErrorsAndAccess(t *testing.T) {
	s := fixture()
	if code, body := serve(t, s, admin, "/v1/cf/organizations/o-2/reconciliation/2026-12-31"); code != 200 ||
		!strings.Contains(string(body), `"read":false`) || !strings.Contains(string(body), `"apps":[]`) {
		t.Errorf("a day not read: %d %s", code, body)
	}
	reader := func(orgs ...string) *auth.Principal {
		return auth.NewPrincipal("r", auth.MethodJWT, []string{auth.ScopeRead}, orgs)
	}
	for _, c := range []struct {
		name, path string
		p          *auth.Principal
		code       int
		has        []string
	}{
		{"bad org and date", "/v1/cf/organizations/%20x/reconciliation/2026-13-01", admin, 400, []string{`"field":"org_guid"`, `"field":"date"`}},
		{"a date before 2000", "/v1/cf/organizations/o-1/reconciliation/1999-12-31", admin, 400, []string{`"field":"date"`, `"value":"1999-12-31"`}},
		{"not a date", "/v1/cf/organizations/o-1/reconciliation/yesterday", admin, 400, []string{`"reason":"a UTC day YYYY-MM-DD`}},
		{"unknown organization", "/v1/cf/organizations/o-9/reconciliation/2026-12-31", admin, 404, []string{"o-9"}},
		{"unknown organization, its reader", "/v1/cf/organizations/o-9/reconciliation/2026-12-31", reader("o-9"), 404, []string{"o-9"}},
		{"reader of the organization", "/v1/cf/organizations/o-1/reconciliation/2026-12-31", reader("o-1"), 200, []string{`"organization":"o-1"`}},
		{"reader of another", "/v1/cf/organizations/o-1/reconciliation/2026-12-31", reader("o-2"), 403, nil},
		{"no reads", "/v1/cf/organizations/o-1/reconciliation/2026-12-31", auth.NewPrincipal("w", auth.MethodJWT, []string{auth.ScopeWrite}, []string{"o-1"}), 403, nil},
		{"a range", "/v1/cf/organizations/o-1/reconciliation?start=2026-12-30&end=2027-01-01", reader("o-1"), 200,
			[]string{`"days_with_differences":["2026-12-31"]`, `"date":"2026-12-30","from":"2026-12-30T00:00:00Z","to":"2026-12-31T00:00:00Z","read":false`, `"date":"2027-01-01"`}},
		{"a range, end before start", "/v1/cf/organizations/o-1/reconciliation?start=2026-12-30&end=2026-12-29", admin, 400, []string{`"field":"end"`, "not before start"}},
		{"a range of 32 days", "/v1/cf/organizations/o-1/reconciliation?start=2026-12-01&end=2027-01-01", admin, 400, []string{`"field":"end"`, "at most 31 days"}},
		{"a range without dates", "/v1/cf/organizations/o-1/reconciliation", admin, 400, []string{`"field":"start"`, `"field":"end"`}},
		{"a range, reader of another", "/v1/cf/organizations/o-1/reconciliation?start=2026-12-30&end=2026-12-31", reader("o-2"), 403, nil},
		{"a range, unknown organization", "/v1/cf/organizations/o-9/reconciliation?start=2026-12-30&end=2026-12-31", admin, 404, []string{"o-9"}},
	} {
		code, body := serve(t, s, c.p, c.path)
		ok := code == c.code
		for _, h := range c.has {
			ok = ok && strings.Contains(string(body), h)
		}
		if !ok || !json.Valid(body) {
			t.Errorf("%s: %d %s", c.name, code, body)
		}
	}
}
