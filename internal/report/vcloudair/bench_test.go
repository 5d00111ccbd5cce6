package vcloudair

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/clickhouse/vcarows"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report"
)

// indexedStore is a report.Store over the final values of cells, indexed by organization and
// period, so that a benchmark measures the view (rating, roll-up, JSON) rather than a scan.
type indexedStore map[string]map[report.Period][]report.Cell

func (s indexedStore) Read(_ context.Context, q report.Query) ([]report.Cell, error) {
	var out []report.Cell
	for _, p := range q.Periods {
		out = append(out, s[q.Org][p]...)
	}
	return out, nil
}

// benchGroup is a service group of 10 instances of 100 VMs each (1,000 entities) with vCPU and
// memory usage every hour of December 2026 (hour and day cells), billed by calendar month.
func benchGroup(b *testing.B) *ViewAPI {
	st := indexedStore{}
	dir := &memDir{groups: []vcarows.Group{{Account: "bench", ID: "sg-bench", Name: "Bench", Currency: "USD", Anniversary: 1}}}
	from := at("2026-12-01T00:00:00Z")
	add := func(org string, c report.Cell) {
		if st[org] == nil {
			st[org] = map[report.Period][]report.Cell{}
		}
		p := report.Period{Level: c.Level, From: c.From}
		st[org][p] = append(st[org][p], c)
	}
	for i := 0; i < 10; i++ {
		sid := fmt.Sprintf("si-%02d", i)
		dir.insts = append(dir.insts, vcarows.Instance{Account: "bench", ID: sid, Group: "sg-bench"})
		for j := 0; j < 100; j++ {
			vm := fmt.Sprintf("vm-%02d-%03d", i, j)
			for _, m := range []struct{ metric, q string }{{"vcpu_hours", "2"}, {"memory_gb_hours", "3.75"}} {
				q, price := decimal.RequireFromString(m.q), decimal.RequireFromString(prices[m.metric])
				cell := func(l metering.Level, t time.Time, n int64) report.Cell {
					qty := q.Mul(decimal.NewFromInt(n))
					return report.Cell{Scope: metering.ScopeInstance, Space: fmt.Sprintf("vdc-%02d", i), Consumer: vm, Instance: vm, Resource: Resource,
						Plan: planKey, Metric: m.metric, Level: l, From: t.UnixMilli(), Quantity: report.DecimalValue(qty),
						Cost: report.DecimalValue(qty.Mul(price)), Processed: t.UnixMilli()}
				}
				for d := 0; d < 31; d++ {
					day := from.AddDate(0, 0, d)
					add(sid, cell(metering.Day, day, 24))
					for h := 0; h < 24; h++ {
						add(sid, cell(metering.Hour, day.Add(time.Duration(h)*time.Hour), 1))
					}
				}
			}
		}
	}
	p := loadPlans(b)
	r := &report.Reporter{Store: st, Plans: p, Slots: metering.DefaultSlots, Future: time.Minute, Settle: 5 * time.Second,
		Clock: clock.NewManual(at("2027-01-02T00:00:00Z"))}
	return NewViewAPI(NewView(r, dir, p), zap.NewNop())
}

// benchRoute runs GET path b.N times and reports the 99th percentile in milliseconds.
func benchRoute(b *testing.B, a *ViewAPI, path string) {
	mux := http.NewServeMux()
	a.Register(mux)
	h := auth.As(admin, mux)
	var took []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		took = append(took, time.Since(start))
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[(len(took)*99)/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkGroupBilledMonth: December's billed usage of the 1,000 entities (day cells).
func BenchmarkGroupBilledMonth(b *testing.B) {
	benchRoute(b, benchGroup(b), "/api/billing/service-group/sg-bench/billed-usage?month=12&year=2026")
}

// BenchmarkInstanceHourly: one instance's 100 VMs rolled up by hour over December (hour
// cells: 744 periods), as billed usage.
func BenchmarkInstanceHourly(b *testing.B) {
	benchRoute(b, benchGroup(b), "/api/billing/service-instance/si-00/l2/vdc-00/billed-usage?month=12&year=2026&rollup=hour")
}
