package nova_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report/nova"
	"github.com/meterline/meterline/internal/report/reporttest"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// The benchmark tenant: benchServers servers running through November 2026, each with one
// document per hour as the Nova poller writes them (METERLINE_NOVA_WINDOW 1h): 720 documents
// a server, 7.2 million in all. Every tenth server was launched during the month and every
// tenth other one ended during it, so the view clips their first or last hour. The report
// asks for the month, as of 00:10 on December 1st (a year's last month, read across its end).
// METERLINE_BENCH_NOVA_SERVERS makes the tenant smaller, for a quick look.
var (
	benchMonth   = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	benchEnd     = benchMonth.AddDate(0, 1, 0)
	benchServers = 10_000
)

const benchTenant = "bench-tenant"

var (
	benchOnce sync.Once
	benchConn clickhouse.Conn
	benchErr  error
)

// benchHandler fills the database meterline_bench_nova of the real test server, once per
// run, unless it holds the benchmark's documents already (filling it takes a few minutes on
// 18.16; the count and a fingerprint of the settings decide). It is kept for the next run.
func benchHandler(b *testing.B) http.Handler {
	b.Helper()
	if s := os.Getenv("METERLINE_BENCH_NOVA_SERVERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			b.Fatalf("METERLINE_BENCH_NOVA_SERVERS=%q: a number from 10", s)
		}
		benchServers = n
	}
	cfg := testenv.Get(b).Config(b)
	benchOnce.Do(func() {
		ctx := context.Background()
		cfg.ClickHouse.Database = fmt.Sprintf("meterline_bench_nova_%d", benchServers)
		conn, err := clickhouse.Open(ctx, cfg.ClickHouse)
		if err == nil {
			err = clickhouse.Migrate(ctx, conn, zap.NewNop())
		}
		var have uint64
		if err == nil {
			have, err = clickhouse.NewEvents(conn).Count(ctx, "organization_id = ?", false, benchTenant)
		}
		if want := uint64(benchDocuments()); err == nil && have != want {
			b.Logf("filling %s: %d documents there, %d wanted", cfg.ClickHouse.Database, have, want)
			// The summaries the view reads (migration 0010) are kept from usage_events' blocks:
			// emptied with it.
			for _, table := range []string{"usage_events", "nova_servers_v2", "nova_server_days_v2"} {
				if err == nil {
					err = conn.Exec(ctx, "TRUNCATE TABLE "+table)
				}
			}
			if err == nil {
				err = fillBench(ctx, conn)
			}
		}
		benchConn, benchErr = conn, err
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	mux := http.NewServeMux()
	nova.NewAPI(clickhouse.NewNovaServers(benchConn), clock.NewManual(benchEnd.Add(10*time.Minute)), zap.NewNop()).Register(mux)
	return auth.AsAdmin(mux)
}

// benchRun is server i's run in the month: launched at the month's start (every tenth: on
// day 1 + i%28 at 07:30), ended at the month's end (every tenth other: on day 1 + i%28 at
// 16:45, after its launch).
func benchRun(i int) (start, end time.Time) {
	start, end = benchMonth, benchEnd
	day := time.Duration(i%28) * 24 * time.Hour
	switch i % 10 {
	case 3:
		start = benchMonth.Add(day + 7*time.Hour + 30*time.Minute)
	case 7:
		end = benchMonth.Add(day + 16*time.Hour + 45*time.Minute)
	}
	return start, end
}

// benchDocuments is the number of documents: one per server and hour it ran in.
func benchDocuments() int {
	n := 0
	for i := range benchServers {
		start, end := benchRun(i)
		for h := start.Truncate(time.Hour); h.Before(end); h = h.Add(time.Hour) {
			n++
		}
	}
	return n
}

var flavors = []struct {
	name              string
	vcpus, mem, local int64
}{{"m1.tiny", 1, 512, 1}, {"m1.small", 1, 2048, 20}, {"m1.medium", 2, 4096, 40}, {"m1.large", 4, 8192, 80}}

// fillBench writes the documents in batches of 100,000, as the raw sink writes large batches.
func fillBench(ctx context.Context, conn clickhouse.Conn) error {
	events := clickhouse.NewEvents(conn)
	batch := make([]usage.EventRow, 0, 100_000)
	offset := int64(0)
	flush := func() error {
		err := events.Insert(ctx, batch)
		batch = batch[:0]
		return err
	}
	for i := range benchServers {
		start, end := benchRun(i)
		f := flavors[i%len(flavors)]
		server := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		for h := start.Truncate(time.Hour); h.Before(end); h = h.Add(time.Hour) {
			from, to := h, h.Add(time.Hour)
			if start.After(from) {
				from = start
			}
			if end.Before(to) {
				to = end
			}
			secs := decimal.NewFromInt(int64(to.Sub(from) / time.Second))
			d := usage.Document{Start: from.UnixMilli(), End: h.Add(time.Hour).UnixMilli() - 1, OrganizationID: benchTenant,
				SpaceID: benchTenant, ResourceID: nova.Resource, PlanID: f.name, ResourceInstanceID: server,
				DedupID: "nova:bench:" + server + ":" + h.Format(time.RFC3339),
				MeasuredUsage: []usage.Measure{{Measure: nova.MeasureNames[0], Quantity: secs},
					{Measure: nova.MeasureNames[1], Quantity: secs.Mul(decimal.NewFromInt(f.vcpus))},
					{Measure: nova.MeasureNames[2], Quantity: secs.Mul(decimal.NewFromInt(f.mem))},
					{Measure: nova.MeasureNames[3], Quantity: secs.Mul(decimal.NewFromInt(f.local))}}}
			offset++
			batch = append(batch, usage.EventRow{Event: &meterlinev1.UsageEvent{Id: d.ID(), Document: d.Proto(),
				ReceivedMs: d.End + 60_000, StoredMs: d.End + 60_000}, Offset: offset})
			if len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return conn.Exec(ctx, "OPTIMIZE TABLE usage_events FINAL")
}

// get answers path at microversion 2.40 and decodes the answer.
func get(h http.Handler, path string) (map[string]any, error) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("OpenStack-API-Version", "compute 2.40")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		return nil, fmt.Errorf("%s: %d %s", path, w.Code, w.Body)
	}
	var body map[string]any
	err := json.Unmarshal(w.Body.Bytes(), &body)
	return body, err
}

func monthQuery() string {
	return "start=" + url.QueryEscape(benchMonth.Format(nova.TimeFormat)) + "&end=" + url.QueryEscape(benchEnd.Format(nova.TimeFormat))
}

// BenchmarkNovaTenantPage is one page of the tenant's month, detailed (1,000 servers of
// benchServers, Nova's max_limit), as GET /os-simple-tenant-usage/{tenant_id}?detailed=1
// answers it at 2.40: the servers are read from ClickHouse, clipped to the month and written.
func BenchmarkNovaTenantPage(b *testing.B) {
	h := benchHandler(b)
	path := nova.Base + "/os-simple-tenant-usage/" + benchTenant + "?detailed=1&" + monthQuery()
	b.ReportAllocs()
	reporttest.Latencies(b, func() error {
		body, err := get(h, path)
		if err != nil {
			return err
		}
		tu, _ := body["tenant_usage"].(map[string]any)
		if sus, _ := tu["server_usages"].([]any); len(sus) != min(nova.MaxLimit, benchServers) {
			return fmt.Errorf("%d servers on the page", len(sus))
		}
		return nil
	})
}

// BenchmarkNovaTenantMonth is the whole tenant's month as a client pages through it
// (gophercloud's SingleTenant pager: the next link until a short page), summing the pages'
// total_hours; an iteration is every page.
func BenchmarkNovaTenantMonth(b *testing.B) {
	h := benchHandler(b)
	want := 0.0
	for i := range benchServers {
		start, end := benchRun(i)
		want += end.Sub(start).Hours()
	}
	b.ReportAllocs()
	reporttest.Latencies(b, func() error {
		path := nova.Base + "/os-simple-tenant-usage/" + benchTenant + "?" + monthQuery()
		total, pages := 0.0, 0
		for path != "" {
			body, err := get(h, path)
			if err != nil {
				return err
			}
			pages++
			tu, _ := body["tenant_usage"].(map[string]any)
			hours, _ := tu["total_hours"].(float64)
			total += hours
			path = ""
			if links, _ := body["tenant_usage_links"].([]any); len(links) == 1 {
				u, err := url.Parse(links[0].(map[string]any)["href"].(string))
				if err != nil {
					return err
				}
				path = u.RequestURI()
			}
		}
		if diff := total - want; diff > 1e-6*want || diff < -1e-6*want || pages != (benchServers+nova.MaxLimit-1)/nova.MaxLimit+boolInt(benchServers%nova.MaxLimit == 0) {
			return fmt.Errorf("%d pages, %f hours, want %f", pages, total, want)
		}
		return nil
	})
}

// boolInt is 1 for true: a tenant of exactly whole pages ends with an empty one.
func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}
