package metering_test

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/benchtest"

	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
)

// stopwatch times the restore the soak logs: the only clock it reads, and only for a duration
// (the documents' times are simulated, from a pinned start).
var stopwatch = clock.Or(nil)

// BenchmarkSoak feeds METERLINE_SOAK_DOCS documents (10 million unless set) of
// METERLINE_SOAK_INSTANCES running instances (1,000) whose stored times advance evenly over
// METERLINE_SOAK_HOURS simulated hours (48), in transactions of 20,000 documents committed
// and pruned as the processor does (Commit, then Expiring and Expire at the horizon of the
// transaction's latest stored time). Every eighth of the run it logs the cells held, in all
// and per level (the live cell keys of the changelog once compacted), the cell records and
// tombstones written so far, the live heap after a GC and the time to load the live cells
// into new Cells (the in-memory part of a restore). METERLINE_SOAK_RETENTION=slack keeps
// every level for the slack, as before retention (only for small counts: the second and
// minute cells then grow with the documents).
// Run it once: go test ./internal/metering/ -run '^$' -bench Soak -benchtime 1x.
func BenchmarkSoak(b *testing.B) {
	docs := benchtest.EnvInt(b, "METERLINE_SOAK_DOCS", 10_000_000)
	instances := benchtest.EnvInt(b, "METERLINE_SOAK_INSTANCES", 1000)
	a := metering.DefaultAcceptance
	if os.Getenv("METERLINE_SOAK_RETENTION") == "slack" {
		a.Retention = metering.Retention{}
	}
	const txn = 20_000
	span := int64(benchtest.EnvInt(b, "METERLINE_SOAK_HOURS", 48)) * time.Hour.Milliseconds()
	start := time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC).UnixMilli() // through a year's end
	names := make([]string, instances)
	for i := range names {
		names[i] = fmt.Sprintf("instance-%05d", i)
	}
	for range b.N {
		p := &metering.Engine{Plans: builtinCatalog(b), Acceptance: a}
		cells := metering.NewCells()
		cells.SetRetention(a)
		var records, tombstones int
		var peakCells int
		var peakHeap uint64
		next := start
		b.ResetTimer()
		for i := 0; i < docs; {
			var stored int64
			for j := 0; j < txn && i < docs; i, j = i+1, j+1 {
				stored = start + int64(i)*span/int64(docs)
				changed, err := p.Process(objectDoc(names[i%instances], stored), stored, cells)
				if err != nil {
					b.Fatal(err)
				}
				_ = changed
			}
			records += len(cells.Changed())
			cells.Commit()
			h := a.Horizon(stored)
			cells.Expiring(h, func(*metering.Cell) { tombstones++ })
			cells.Expire(h)
			peakCells = max(peakCells, cells.Len())
			if stored >= next || i == docs {
				b.StopTimer()
				heap := liveHeap()
				peakHeap = max(peakHeap, heap)
				t0 := stopwatch.Now()
				restored := metering.NewCells()
				restored.SetRetention(a)
				cells.Each(restored.Load)
				took := stopwatch.Now().Sub(t0)
				var byLevel [metering.Levels]int
				cells.Each(func(k metering.CellKey, _ any) { byLevel[k.Level]++ })
				b.Logf("%5.1fh docs %10d cells %9d %v records %11d tombstones %11d live-heap %7.1f MiB restore %8.1f ms",
					float64(stored-start)/3.6e6, i, cells.Len(), byLevel, records, tombstones, float64(heap)/(1<<20),
					float64(took.Microseconds())/1000)
				b.ReportMetric(float64(cells.Len()), "cells-final")
				b.ReportMetric(float64(heap)/(1<<20), "MiB-final")
				b.ReportMetric(float64(took.Microseconds())/1000, "restore-ms-final")
				next += span / 8 // go test shows the first 10 lines of a benchmark's log
				b.StartTimer()
			}
		}
		b.ReportMetric(float64(peakCells), "cells-peak")
		b.ReportMetric(float64(peakHeap)/(1<<20), "MiB-peak")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(docs), "ns/doc")
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
