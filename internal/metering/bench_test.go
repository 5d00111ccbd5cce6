package metering_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/usage"
)

// BenchmarkProcess meters, accumulates, aggregates and rates the documents of the processor's
// throughput benchmark (object storage, 200 organizations, 2,000 instances, an hour of end
// times) into one partition's cells, rating the changed cells and committing every 20,000
// documents as the processor's transactions do: the CPU cost per document of the processor
// without Kafka.
func BenchmarkProcess(b *testing.B) {
	p := &metering.Engine{Plans: builtinCatalog(b), Acceptance: metering.DefaultAcceptance}
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC).UnixMilli()
	docs := make([]usage.Document, 20000)
	for i := range docs {
		d := objectDoc(fmt.Sprintf("i-%d", i%2000), now-int64(i%3600)*1000)
		d.OrganizationID = fmt.Sprintf("org-%d", i%200)
		d.DedupID = fmt.Sprint(i)
		docs[i] = *d
	}
	cells := metering.NewCells()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := p.Meter(&docs[i%len(docs)], now, cells); err != nil {
			b.Fatal(err)
		}
		if i%len(docs) == len(docs)-1 {
			if err := p.Rate(cells); err != nil {
				b.Fatal(err)
			}
			cells.Commit()
		}
	}
}
