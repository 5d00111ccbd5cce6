package focus

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/report/reporttest"
)

// BenchmarkExportCSV exports a month of an organization with 10,000 object storage
// instances (30,000 rows) as CSV, and BenchmarkExportParquet as Parquet.
func BenchmarkExportCSV(b *testing.B)     { benchExport(b, FormatCSV) }
func BenchmarkExportParquet(b *testing.B) { benchExport(b, FormatParquet) }

func benchExport(b *testing.B, format string) {
	e := seedExporter(b, goldenTime)
	st := &reporttest.Memory{}
	for i := range 10_000 {
		for _, c := range objectCells("space-1", fmt.Sprintf("app:%d", i), fmt.Sprintf("instance-%05d", i), goldenTime, goldenTime-1000, [3]string{"1", "3", "300"}) {
			st.Write(reporttest.Version{Org: "big", Cell: c, Visible: c.Processed})
		}
	}
	e.r = &report.Reporter{Store: st, Plans: e.r.Plans, Slots: e.r.Slots, Future: e.r.Future, Settle: e.r.Settle, Clock: e.r.Clock}
	p := params(b, e, "billing_period=2026-11&time=2026-11-20T12:00:00Z&organization_id=big")
	b.ReportAllocs()
	for b.Loop() {
		rows, err := e.Rows(context.Background(), "big", p)
		if err != nil || len(rows) != 30_000 {
			b.Fatal(len(rows), err)
		}
		var w rowWriter
		if format == FormatParquet {
			w = NewParquetWriter(io.Discard)
		} else if w, err = NewCSVWriter(io.Discard); err != nil {
			b.Fatal(err)
		}
		if err := w.Write(rows); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
