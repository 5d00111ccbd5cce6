package pcf

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/report/reporttest"
)

// BenchmarkReportMonth builds the report of December (month cells: 1,100 of them) of an
// organization with 1,000 apps in 20 spaces, each running the whole month, and 100 service
// instances, from the in-memory store: the view's own cost (rating the cells at report time
// and building the document), without ClickHouse's read. BenchmarkReportDays builds the
// report of 2 to 31 December, 30 day cells per app and service instance (33,000).
func BenchmarkReportMonth(b *testing.B) { benchReport(b, 1) }

// BenchmarkReportDays: see BenchmarkReportMonth.
func BenchmarkReportDays(b *testing.B) { benchReport(b, 2) }

func benchReport(b *testing.B, firstDay int) {
	st := &reporttest.Memory{}
	var meta metaStore
	meta = append(meta, Meta{Org: org, Kind: KindOrganization, GUID: org, Name: "Big"})
	since := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		space := fmt.Sprintf("sp-%02d", i%20)
		app := fmt.Sprintf("app-%04d", i)
		fleet(st, space, "app:"+app, "memory:"+app, ResourceApp, appKey, "memory", decimal.NewFromInt(1), since, since.AddDate(0, 1, 0))
		meta = append(meta, Meta{Org: org, Kind: KindApp, GUID: app, Space: space, Name: "name-" + app, Instances: 2, MemoryMB: 512, DiskMB: 1024})
	}
	for i := range 100 {
		space := fmt.Sprintf("sp-%02d", i%20)
		svc := fmt.Sprintf("svc-%03d", i)
		fleet(st, space, "service:"+svc, "service:"+svc+":small", ResourceService, serviceKey, "instances", decimal.NewFromInt(1), since, since.AddDate(0, 1, 0))
	}
	for i := range 20 {
		meta = append(meta, Meta{Org: org, Kind: KindSpace, GUID: fmt.Sprintf("sp-%02d", i), Name: fmt.Sprintf("space %d", i)})
	}
	bl := NewBuilder(&report.Reporter{Store: st, Plans: builtinPlans(b), Slots: metering.DefaultSlots,
		Clock: clock.NewManual(time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC))}, meta)
	rg := Range{Start: since.AddDate(0, 0, firstDay-1), End: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)}
	hours := int64(24 * (32 - firstDay))
	b.ReportAllocs()
	for b.Loop() {
		rep, err := bl.Build(context.Background(), org, rg)
		if err != nil || len(rep.Spaces) != 20 || rep.Totals.MemoryMBHours.Decimal().IntPart() != 1000*1024*hours {
			b.Fatal(err, rep.Totals.MemoryMBHours)
		}
	}
}
