package pcf

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/report/reporttest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// builtinPlans is the built-in plans, compiled, as a first start of Meterline stores them.
func builtinPlans(t testing.TB) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// metaStore is an in-memory Store.
type metaStore []Meta

func (m metaStore) Metadata(_ context.Context, org string) ([]Meta, error) {
	var out []Meta
	for _, r := range m {
		if r.Org == org || r.Kind == KindPlan {
			out = append(out, r)
		}
	}
	return out, nil
}

// The plan keys of the cf poller's documents (internal/plans/builtin and builtin/cf).
const (
	appKey     = "standard/standard-linux-container/linux-rating-plan/linux-pricing-standard"
	serviceKey = "standard/standard-service/service-rating-standard/service-pricing-standard"
	objectKey  = "basic/basic-object-storage/object-rating-plan/object-pricing-basic"
	org        = "org-1"
)

var price = decimal.RequireFromString("0.00028")

// fleet writes into st the day and month cells of a time-based metric consuming c from since
// to until (until zero: still running at clockNow).
func fleet(st *reporttest.Memory, space, consumer, instance, resource, key, metric string, c decimal.Decimal, since, until time.Time) {
	r := Run{Space: space, Consumer: consumer, Instance: instance, Resource: resource, Plan: key, Metric: metric, C: c, Price: price,
		Since: since, Until: until, Now: clockNow}
	for _, cell := range r.Cells() {
		st.Write(reporttest.Version{Org: org, Cell: cell, Visible: cell.Processed})
	}
}

// clockNow is the report's time: noon of the last day of the year, so that a range over the
// year's end reads a day that has not ended.
var clockNow = time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC)

func day(s string) time.Time { d, _ := time.Parse(DateLayout, s); return d }

func i64(v int64) *int64 { return &v }

// fixture is org-1 over the end of November into December's end: app a1 (3 × 512 MB) running
// since 30 November 18:00, app a2 (1 GB) from 1 to 2 December 06:00, a task and a staging of
// a1, service instance s1 on plan small then updated to large on 31 December 00:00, object
// storage posted through the collector, an app the metadata does not know (collector usage),
// and usage of 29 November outside the ranges.
func fixture(t testing.TB) *Builder {
	st := &reporttest.Memory{}
	gb := func(mb int64) decimal.Decimal { return decimal.NewFromInt(mb).Div(decimal.NewFromInt(1024)) }
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	fleet(st, "sp-1", "app:a1", "memory:a1", ResourceApp, appKey, "memory", gb(1536), at("2026-11-30T18:00:00Z"), time.Time{})
	fleet(st, "sp-1", "app:a2", "memory:a2", ResourceApp, appKey, "memory", gb(1024), at("2026-12-01T00:00:00Z"), at("2026-12-02T06:00:00Z"))
	fleet(st, "sp-1", "app:a1", "task:t1", ResourceTask, appKey, "memory", gb(256), at("2026-12-31T01:00:00Z"), at("2026-12-31T01:30:00Z"))
	fleet(st, "sp-1", "app:a1", "staging:a1", ResourceStaging, appKey, "memory", gb(1024), at("2026-12-30T23:59:00Z"), at("2026-12-31T00:01:00Z"))
	fleet(st, "sp-2", "service:s1", "service:s1:small", ResourceService, serviceKey, "instances", decimal.NewFromInt(1), at("2026-11-29T12:00:00Z"), at("2026-12-31T00:00:00Z"))
	fleet(st, "sp-2", "service:s1", "service:s1:large", ResourceService, serviceKey, "instances", decimal.NewFromInt(1), at("2026-12-31T00:00:00Z"), time.Time{})
	fleet(st, "sp-2", "app:unknown", "memory:unknown", ResourceApp, appKey, "memory", gb(128), at("2026-12-31T06:00:00Z"), time.Time{})
	obj := report.Cell{Scope: metering.ScopeInstance, Space: "sp-2", Consumer: "app:backup", Instance: "bucket-1", Resource: "object-storage",
		Plan: objectKey, Metric: "storage", Level: metering.Day, From: day("2026-12-31").UnixMilli(),
		Quantity: report.DecimalValue(decimal.RequireFromString("2.5")), Cost: report.DecimalValue(decimal.RequireFromString("2.5")),
		Processed: day("2026-12-31").UnixMilli() + 1000}
	st.Write(reporttest.Version{Org: org, Cell: obj, Visible: obj.Processed})
	obj.Level, obj.From = metering.Month, day("2026-12-01").UnixMilli()
	st.Write(reporttest.Version{Org: org, Cell: obj, Visible: obj.Processed})
	meta := metaStore{
		{Org: org, Kind: KindOrganization, GUID: org, Name: "Finance", Quota: "q1", QuotaName: "default", QuotaMemoryMB: i64(10240),
			QuotaInstanceMemoryMB: i64(2048), QuotaAppInstances: i64(50), QuotaServiceInstances: i64(10), QuotaRoutes: i64(100)},
		{Org: org, Kind: KindSpace, GUID: "sp-1", Space: "sp-1", Name: "CarLoans", Quota: "sq1", QuotaName: "dev", QuotaMemoryMB: i64(4096)},
		{Org: org, Kind: KindSpace, GUID: "sp-2", Space: "sp-2", Name: "Backend"},
		{Org: org, Kind: KindApp, GUID: "a1", Space: "sp-1", Name: "game-2048", State: "STARTED", Buildpack: "go_buildpack", Instances: 3, MemoryMB: 512, DiskMB: 1024},
		{Org: org, Kind: KindApp, GUID: "a2", Space: "sp-1", Name: "loans-api", State: "STOPPED", Buildpack: "java_buildpack", Instances: 1, MemoryMB: 1024, DiskMB: 2048},
		{Org: org, Kind: KindService, GUID: "s1", Space: "sp-2", Name: "db", Plan: "large", PlanName: "large", Offering: "postgres"},
		{Org: "org-2", Kind: KindOrganization, GUID: "org-2", Name: "Other"},
		{Kind: KindPlan, GUID: "small", Name: "small", Plan: "small", PlanName: "small", Offering: "postgres"},
	}
	return NewBuilder(&report.Reporter{Store: st, Plans: builtinPlans(t), Slots: metering.DefaultSlots, Settle: 5 * time.Second,
		Clock: clock.NewManual(clockNow)}, meta)
}

// golden compares got with testdata/name; -update writes got there first.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update && os.WriteFile(file, got, 0o644) != nil {
		t.Fatalf("cannot write %s", file)
	}
	if want, err := os.ReadFile(file); err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (%v):\n%s", name, err, got)
	}
}

// TestReportGolden builds the report of 30 November to 31 December (a month's end, and a
// year's end the day after) as JSON and CSV against the golden files, and checks its
// figures against what the fixture ran.
func TestReportGolden(t *testing.T) {
	b := fixture(t)
	rep, err := b.Build(context.Background(), org, Range{Start: day("2026-11-30"), End: day("2027-01-01")})
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden.json", append(js, '\n'))
	var csv bytes.Buffer
	if err := WriteCSV(&csv, rep); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden.csv", csv.Bytes())

	// The ground truth: a1 ran 1536 MB from 30 Nov 18:00 to 31 Dec 12:00 (the report's
	// time); a2 1024 MB for 30 hours; the task 256 MB for 30 minutes; staging 1024 MB for 2
	// minutes; s1 on small from 30 Nov 00:00 (the range) to 31 Dec 00:00, on large 12 hours.
	hours := func(from, to string) decimal.Decimal {
		a, _ := time.Parse(time.RFC3339, from)
		z, _ := time.Parse(time.RFC3339, to)
		return decimal.NewFromFloat(z.Sub(a).Hours())
	}
	a1 := decimal.NewFromInt(1536).Mul(hours("2026-11-30T18:00:00Z", "2026-12-31T12:00:00Z"))
	a2 := decimal.NewFromInt(1024 * 30)
	task, staging := decimal.NewFromInt(128), decimal.NewFromInt(1024*2).Div(decimal.NewFromInt(60))
	small, large := hours("2026-11-30T00:00:00Z", "2026-12-31T00:00:00Z").Mul(secPerHour), decimal.NewFromInt(12*3600)
	sp1 := rep.Spaces[1]
	if sp1.SpaceName != "CarLoans" || len(sp1.Apps) != 2 || sp1.Apps[0].AppName != "game-2048" {
		t.Fatalf("space CarLoans: %+v", sp1)
	}
	check := func(what string, got report.Number, want decimal.Decimal) {
		t.Helper()
		if g := plans.Round(got.Decimal()).(decimal.Decimal); !g.Equal(plans.Round(want).(decimal.Decimal)) {
			t.Errorf("%s = %s, want %s", what, g, want)
		}
	}
	check("a1 memory MB-hours", sp1.Apps[0].MemoryMBHours, a1)
	check("a1 task MB-hours", sp1.Apps[0].TaskMemoryMBHours, task)
	check("a1 staging MB-hours", sp1.Apps[0].StagingMemoryMBHours, staging)
	check("a2 memory MB-hours", sp1.Apps[1].MemoryMBHours, a2)
	mbCharge := func(mb decimal.Decimal) decimal.Decimal { return mb.Div(mbPerGB).Mul(price) }
	check("a1 charge", sp1.Apps[0].Charge, mbCharge(a1.Add(task).Add(staging)))
	check("CarLoans memory total", sp1.Totals.MemoryMBHours, a1.Add(a2))
	sp2 := rep.Spaces[0]
	if sp2.SpaceName != "Backend" || len(sp2.Services) != 2 || len(sp2.Other) != 1 || len(sp2.Apps) != 1 {
		t.Fatalf("space Backend: %+v", sp2)
	}
	check("s1 large seconds", sp2.Services[0].DurationInSeconds, large)
	check("s1 small seconds", sp2.Services[1].DurationInSeconds, small)
	if sp2.Services[0].ServicePlanName != "large" || sp2.Services[1].ServicePlanName != "small" {
		t.Errorf("plan names: %+v", sp2.Services)
	}
	check("organization service seconds", rep.Totals.ServiceDurationInSeconds, small.Add(large))
	unknown := decimal.NewFromInt(128 * 6)
	check("organization charge", rep.Totals.Charge, mbCharge(a1.Add(a2).Add(task).Add(staging).Add(unknown)).
		Add(small.Add(large).Div(secPerHour).Mul(price)).Add(decimal.RequireFromString("2.5")))
	if rep.Totals.AppInstances != 4 || rep.Quota == nil || *rep.Quota.TotalMemoryMB != 10240 || sp1.Quota == nil || sp2.Quota != nil {
		t.Errorf("instances %d, quotas %+v %+v %+v", rep.Totals.AppInstances, rep.Quota, sp1.Quota, sp2.Quota)
	}
}

// TestReportRanges: a range of the past day alone, and one that ends before the usage began,
// and an organization without metadata or usage (NotFound), a range that begins after the
// report's time (Invalid).
func TestReportRanges(t *testing.T) {
	b := fixture(t)
	ctx := context.Background()
	rep, err := b.Build(ctx, org, Range{Start: day("2026-12-02"), End: day("2026-12-02")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"game-2048": "36864", "loans-api": "6144"} // 1536 × 24, 1024 × 6
	for _, a := range rep.Spaces[1].Apps {
		if got := plans.Round(a.MemoryMBHours.Decimal()).(decimal.Decimal).String(); got != want[a.AppName] {
			t.Errorf("2 December: %s %s MB-hours, want %s", a.AppName, got, want[a.AppName])
		}
	}
	rep, err = b.Build(ctx, "org-2", Range{Start: day("2026-12-01"), End: day("2026-12-31")})
	if err != nil || rep.OrganizationName != "Other" || len(rep.Spaces) != 0 || !rep.Totals.Charge.Decimal().IsZero() {
		t.Errorf("org-2 without usage: %+v, %v", rep, err)
	}
	if _, err := b.Build(ctx, "org-nope", Range{Start: day("2026-12-01"), End: day("2026-12-31")}); err == nil || !isKind(err, "not_found") {
		t.Errorf("unknown organization: %v", err)
	}
	if _, err := b.Build(ctx, org, Range{Start: day("2027-01-01"), End: day("2027-01-31")}); err == nil || !isKind(err, "invalid") {
		t.Errorf("a range after the report's time: %v", err)
	}
}
