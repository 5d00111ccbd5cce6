package clickhouse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/report/pcf"
	"github.com/meterline/meterline/internal/report/reporttest"
	"github.com/meterline/meterline/internal/testenv"
)

// TestCFMetadataOverClickHouse writes two rounds of metadata on the real ClickHouse (the
// second renames an app, scales it, and no longer lists a deleted service instance) and a
// round of another organization: the read gives each entity of the organization once, as
// the newest round said, the deleted instance as it last was, the service plan (of no
// organization), and nothing of the other organization.
func TestCFMetadataOverClickHouse(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	conn := testenv.ClickHouse(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	limit := int64(4096)
	org := pcf.Meta{Org: "o1", Kind: pcf.KindOrganization, GUID: "o1", Name: "Finance", Quota: "q", QuotaName: "default", QuotaMemoryMB: &limit}
	app := pcf.Meta{Org: "o1", Kind: pcf.KindApp, GUID: "a1", Space: "s1", Name: "old", State: "STARTED", Buildpack: "go_buildpack", Instances: 1, MemoryMB: 256, DiskMB: 1024}
	svc := pcf.Meta{Org: "o1", Kind: pcf.KindService, GUID: "si", Space: "s1", Name: "db", Plan: "p", PlanName: "small", Offering: "postgres"}
	plan := pcf.Meta{Kind: pcf.KindPlan, GUID: "p", Name: "small", Plan: "p", PlanName: "small", Offering: "postgres"}
	table := clickhouse.NewCFMetadata(conn)
	t0 := time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)
	if err := table.Insert(ctx, "f", []pcf.Meta{org, app, svc, plan}, t0); err != nil {
		t.Fatal(err)
	}
	renamed := app
	renamed.Name, renamed.Instances = "new", 3
	if err := table.Insert(ctx, "f", []pcf.Meta{org, renamed}, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := table.Insert(ctx, "f", []pcf.Meta{{Org: "o2", Kind: pcf.KindOrganization, GUID: "o2", Name: "Other"}}, t0); err != nil {
		t.Fatal(err)
	}
	got, err := table.Metadata(ctx, "o1")
	if err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal([]pcf.Meta{plan, renamed, org, svc})
	if string(g) != string(w) {
		t.Errorf("metadata of o1\n got %s\nwant %s", g, w)
	}
	if only, err := table.Metadata(ctx, "o3"); err != nil || len(only) != 1 || only[0] != plan {
		t.Errorf("metadata of an unknown organization: %v, %v; want the plan alone", only, err)
	}
}

// BenchmarkPCFReportOverClickHouse builds PCF usage reports over the real ClickHouse: an
// organization with 1,000 apps in 20 spaces running the whole of December and 100 service
// instances (their day and month instance cells in usage_cells, 35,200 rows, and their
// metadata in cf_metadata), for the month (month cells) and for 2 to 31 December (day cells).
func BenchmarkPCFReportOverClickHouse(b *testing.B) {
	conn := testenv.ClickHouse(b, testenv.Get(b).Config(b))
	ctx := context.Background()
	const org = "bench-org"
	since, now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC)
	price := decimal.RequireFromString("0.00028")
	var rows []clickhouse.CellRow
	meta := []pcf.Meta{{Org: org, Kind: pcf.KindOrganization, GUID: org, Name: "Big"}}
	add := func(r pcf.Run) {
		for _, c := range r.Cells() {
			rows = append(rows, cellRow(b, reporttest.Version{Org: org, Cell: c, Visible: c.Processed, Offset: int64(len(rows))}))
		}
	}
	for i := range 1100 {
		space := fmt.Sprintf("sp-%02d", i%20)
		r := pcf.Run{Space: space, Metric: "memory", Resource: pcf.ResourceApp, C: decimal.NewFromInt(1), Price: price,
			Plan: "standard/standard-linux-container/linux-rating-plan/linux-pricing-standard", Since: since, Until: since.AddDate(0, 1, 0), Now: now}
		if i < 1000 {
			app := fmt.Sprintf("app-%04d", i)
			r.Consumer, r.Instance = "app:"+app, "memory:"+app
			meta = append(meta, pcf.Meta{Org: org, Kind: pcf.KindApp, GUID: app, Space: space, Name: "name-" + app, Instances: 2, MemoryMB: 512})
		} else {
			svc := fmt.Sprintf("svc-%03d", i)
			r.Consumer, r.Instance, r.Resource, r.Metric = "service:"+svc, "service:"+svc+":small", pcf.ResourceService, "instances"
			r.Plan = "standard/standard-service/service-rating-standard/service-pricing-standard"
		}
		add(r)
	}
	cells := clickhouse.NewCells(conn)
	cells.Clock = clock.NewManual(since.AddDate(0, 1, 0))
	if err := cells.Insert(ctx, rows); err != nil {
		b.Fatal(err)
	}
	if err := clickhouse.NewCFMetadata(conn).Insert(ctx, "bench", meta, since); err != nil {
		b.Fatal(err)
	}
	plans, err := catalog.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	bl := pcf.NewBuilder(&report.Reporter{Store: cells, Plans: plans, Slots: metering.DefaultSlots, Clock: clock.NewManual(now)},
		clickhouse.NewCFMetadata(conn))
	for _, bc := range []struct {
		name  string
		first int
	}{{"month", 1}, {"days", 2}} {
		b.Run(bc.name, func(b *testing.B) {
			rg := pcf.Range{Start: since.AddDate(0, 0, bc.first-1), End: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)}
			want := int64(1000 * 1024 * 24 * (32 - bc.first))
			reporttest.Latencies(b, func() error {
				rep, err := bl.Build(ctx, org, rg)
				if err != nil {
					return err
				}
				if len(rep.Spaces) != 20 || rep.Totals.MemoryMBHours.Decimal().IntPart() != want {
					return fmt.Errorf("%d spaces, %v MB-hours; want 20 and %d", len(rep.Spaces), rep.Totals.MemoryMBHours.Decimal(), want)
				}
				return nil
			})
		})
	}
	// The read alone of the days' cells: what of the days' report is ClickHouse's and the
	// cells' decoding.
	b.Run("days-read", func(b *testing.B) {
		var periods []report.Period
		for d := 2; d <= 31; d++ {
			periods = append(periods, report.Period{Level: metering.Day, From: time.Date(2026, 12, d, 0, 0, 0, 0, time.UTC).UnixMilli()})
		}
		q := report.Query{Org: org, AsOf: now.UnixMilli(), Scopes: []metering.Scope{metering.ScopeInstance}, Periods: periods}
		reporttest.Latencies(b, func() error {
			got, err := cells.Read(ctx, q)
			if err == nil && len(got) != 1100*30 {
				err = fmt.Errorf("%d cells, want %d", len(got), 1100*30)
			}
			return err
		})
	})
}
