package reporttest

import (
	"slices"
	"testing"
	"time"
)

// Latencies runs run b.N times and reports the median and the 99th percentile of the
// iterations' durations (p50-ms, p99-ms), as the report benchmarks of docs/benchmarks.md
// state their aims.
func Latencies(b *testing.B, run func() error) {
	b.Helper()
	var d []time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := run(); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(d)
	ms := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))]) / 1e6 }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}
