package e2e

// The helpers of the pollers' crash tests (TestNovaPollerCrashes, TestElasticBoxPollerCrashes,
// TestCFPollerCrashes, TestVCloudAirPollerCrashes): each runs a provider's simulator on a
// scripted fleet, the provider's poller as its own process, SIGKILLed at seeded random
// moments and started again, and Meterline (dev) on the real broker and ClickHouse; then it
// checks that every document is stored once, nothing is rejected, and the organization cells
// and usage reports equal the ground truth computed from the script.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// crashRand returns the random source of a crash test: seeded from METERLINE_CRASH_SEED when
// it is set, else from the clock, and the seed logged, so that a failed run's fleet and kill
// schedule can be replayed. stream tells the tests apart (the same seed gives each test its
// own sequence).
func crashRand(t *testing.T, stream uint64) *rand.Rand {
	t.Helper()
	seed := time.Now().UnixNano()
	if v := os.Getenv("METERLINE_CRASH_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("METERLINE_CRASH_SEED=%q: %v", v, err)
		}
	}
	t.Logf("seed %d (METERLINE_CRASH_SEED=%d replays the same fleet and kill schedule)", seed, seed)
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// writeScript writes a simulator's script as JSON into the test's temporary directory and
// returns the file's path (for METERLINE_<SIM>_SCRIPT).
func writeScript(t *testing.T, script any) string {
	t.Helper()
	b, err := json.Marshal(script)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "fleet.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// killPoller starts `meterline args...` (a poller) with env, then kills times: after a pause
// of 300 ms plus up to maxPause drawn from rng, it SIGKILLs the poller (which must not exit
// cleanly) and starts it again. It returns the instance running after the last kill.
func killPoller(t *testing.T, s *stack, rng *rand.Rand, args, env []string, kills int, maxPause time.Duration) *proc {
	t.Helper()
	p := s.start(args, env...)
	began := time.Now()
	for kill := 1; kill <= kills; kill++ {
		time.Sleep(300*time.Millisecond + time.Duration(rng.Int64N(int64(maxPause))))
		if err := p.stop(t, syscall.SIGKILL); err == nil {
			t.Fatal("the poller exited cleanly on SIGKILL?")
		}
		t.Logf("%5.1fs SIGKILL poller (%d/%d), %d documents stored", time.Since(began).Seconds(), kill, kills, s.count(""))
		p = s.start(args, env...)
	}
	return p
}

// pollerLag is the poller's meterline_poller_lag_seconds of source (0 when not yet known).
func pollerLag(p *proc, source string) float64 {
	return metricSum(p, []string{`meterline_poller_lag_seconds{source="` + source + `"}`})
}

// waitPolled waits until usage_events holds at least want documents and the poller of source
// has caught up (its lag known and at most maxLag seconds), failing after within; then it
// waits three seconds more, for what must not come.
func waitPolled(t *testing.T, s *stack, p *proc, source string, want int, maxLag float64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for s.count("") < uint64(want) || pollerLag(p, source) > maxLag || pollerLag(p, source) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d documents stored, want %d; poller lag %vs", within, s.count(""), want, pollerLag(p, source))
		}
		time.Sleep(300 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // nothing more may come
}

// checkStoredOnce checks that usage_events holds want documents, each once (want < 0: some,
// each once), and that usage_rejections is empty.
func checkStoredOnce(t *testing.T, s *stack, want int) {
	t.Helper()
	n, distinct := s.count(""), s.countDistinct()
	if want >= 0 && (n != uint64(want) || distinct != uint64(want)) {
		t.Errorf("usage_events holds %d documents (%d distinct), want %d", n, distinct, want)
	}
	if want < 0 && (n != distinct || n == 0) {
		t.Errorf("usage_events holds %d documents, %d distinct", n, distinct)
	}
	if n := s.countRows("usage_rejections"); n != 0 {
		t.Errorf("%d documents rejected, want none", n)
	}
}

// logPollerErrors logs the poller's errors of each kind (of its last instance: the counters
// start over with each process), to show which faults a run met.
func logPollerErrors(t *testing.T, p *proc, source string, kinds ...string) {
	t.Helper()
	for _, kind := range kinds {
		t.Logf("poller errors %s: %v (last instance)", kind,
			metricSum(p, []string{`meterline_poller_errors_total{kind="` + kind + `",source="` + source + `"}`}))
	}
}

// orgCell names an organization cell at the plan level: organization, plan id (its flavor for
// Nova), metric, level and period start.
type orgCell = novaCell

// novaCell names an organization cell at the plan level: tenant, flavor, metric, level and
// period start.
type novaCell struct {
	org, flavor, metric, level string
	from                       int64
}

// waitOrgCells waits until the organization cells at the plan level of the day and month
// levels as of asOf equal cells (quantities) and costs (the charges of the cells it names),
// and every other cell is zero.
func waitOrgCells(t *testing.T, s *stack, asOf int64, cells, costs map[orgCell]decimal.Decimal) {
	t.Helper()
	waitFor(t, "the cells of every organization", func() (bool, string) {
		got := s.orgCells(asOf)
		for k, want := range cells {
			g, ok := got[k]
			if !ok || !g[0].Equal(want) {
				return false, fmt.Sprintf("cell %+v = %v, want %s", k, g, want)
			}
			if c, ok := costs[k]; ok && !g[1].Equal(c) {
				return false, fmt.Sprintf("cell %+v cost %s, want %s", k, g[1], c)
			}
		}
		for k, g := range got {
			if _, ok := cells[k]; !ok && !g[0].IsZero() {
				return false, fmt.Sprintf("cell %+v = %v, want none", k, g)
			}
		}
		return true, ""
	})
}

// countDistinct returns the distinct document ids of usage_events.
func (s *stack) countDistinct() uint64 {
	s.t.Helper()
	var n uint64
	if err := s.ch.QueryRow(s.t.Context(), "SELECT uniqExact(id) FROM "+s.database+".usage_events").Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

// countRows returns the rows of table.
func (s *stack) countRows(table string) uint64 {
	s.t.Helper()
	var n uint64
	if err := s.ch.QueryRow(s.t.Context(), "SELECT count() FROM "+s.database+"."+table).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

// novaCells reads the organization cells at the plan level of the day and month levels as of
// asOf: quantity and cost (the name of orgCells the Nova test started with).
func (s *stack) novaCells(asOf int64) map[novaCell][2]decimal.Decimal { return s.orgCells(asOf) }

// orgCells reads the organization cells at the plan level of the day and month levels as of
// asOf: quantity and cost, by organization, plan id, metric, level and period start.
func (s *stack) orgCells(asOf int64) map[orgCell][2]decimal.Decimal {
	s.t.Helper()
	rows, err := s.ch.Query(s.t.Context(), `SELECT organization_id, plan, metric, level, period_start_ms,
  toString(argMax(quantity, (processed_ms, kafka_offset))), toString(argMax(cost, (processed_ms, kafka_offset)))
FROM `+s.database+`.usage_cells
WHERE scope = 'organization' AND level IN ('day', 'month') AND plan != '' AND processed_ms <= ? AND visible_ms <= ?
GROUP BY organization_id, plan, metric, level, period_start_ms`, asOf, asOf)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	out := map[orgCell][2]decimal.Decimal{}
	for rows.Next() {
		var k orgCell
		var plan string
		var q, c *string
		if err := rows.Scan(&k.org, &plan, &k.metric, &k.level, &k.from, &q, &c); err != nil {
			s.t.Fatal(err)
		}
		k.flavor, _, _ = strings.Cut(plan, "/")
		var v [2]decimal.Decimal
		if q != nil {
			v[0] = decimal.RequireFromString(*q)
		}
		if c != nil {
			v[1] = decimal.RequireFromString(*c)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// orgReport GETs the usage summary report of org as of asOf from dev (reporting) and decodes
// it with its numbers kept exact.
func orgReport(t *testing.T, dev *proc, org string, asOf int64) map[string]any {
	t.Helper()
	r := do(t, http.MethodGet, fmt.Sprintf("http://%s/v1/metering/organizations/%s/aggregated/usage/%d", dev.addr, org, asOf), "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("report of %s: %d %s", org, r.status, r.body)
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	var rep map[string]any
	if err := dec.Decode(&rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// reportMetrics returns the aggregated_usage entries of a report: of the resource resource
// ("": every resource), at the resource level (plan "") or of the plan plan.
func reportMetrics(t *testing.T, rep map[string]any, resource, plan string) []any {
	t.Helper()
	var out []any
	for _, res := range path(t, rep, "resources").([]any) {
		if resource != "" && path(t, res, "resource_id") != resource {
			continue
		}
		if plan == "" {
			out = append(out, path(t, res, "aggregated_usage").([]any)...)
			continue
		}
		for _, p := range path(t, res, "plans").([]any) {
			if path(t, p, "plan_id") == plan {
				out = append(out, path(t, p, "aggregated_usage").([]any)...)
			}
		}
	}
	return out
}

// reportWindow returns the window slot of level (0 second … 4 month) of metric in a report's
// aggregated_usage entries, and whether the metric is there.
func reportWindow(t *testing.T, metrics []any, metric string, level, slot int) (map[string]any, bool) {
	t.Helper()
	for _, m := range metrics {
		if path(t, m, "metric") == metric {
			w, _ := path(t, m, "windows", level, slot).(map[string]any) // nil: a slot without usage
			return w, true
		}
	}
	return nil, false
}

// windowDecimal is the decimal of a report window's field (quantity, cost, summary, charge).
func windowDecimal(t *testing.T, w map[string]any, field string) decimal.Decimal {
	t.Helper()
	n, ok := w[field].(json.Number)
	if !ok {
		t.Fatalf("window %v: %s is not a number", w, field)
	}
	return decimal.RequireFromString(n.String())
}

// monthsBack is the report slot of the month that starts at from, seen at now: 0 for now's
// month, 1 for the one before, and so on.
func monthsBack(from int64, now time.Time) int {
	f := time.UnixMilli(from).UTC()
	return (now.Year()-f.Year())*12 + int(now.Month()) - int(f.Month())
}

// jsonDecimal finds the field name anywhere in v and returns the first number (or decimal
// string) under it; zero when there is none.
func jsonDecimal(v any, name string) decimal.Decimal {
	var leaf func(v any) (decimal.Decimal, bool)
	leaf = func(v any) (decimal.Decimal, bool) {
		switch x := v.(type) {
		case json.Number:
			d, err := decimal.NewFromString(x.String())
			return d, err == nil
		case string:
			d, err := decimal.NewFromString(x)
			return d, err == nil
		case map[string]any:
			for _, e := range x {
				if d, ok := leaf(e); ok {
					return d, true
				}
			}
		}
		return decimal.Decimal{}, false
	}
	var find func(v any) (decimal.Decimal, bool)
	find = func(v any) (decimal.Decimal, bool) {
		m, ok := v.(map[string]any)
		if !ok {
			return decimal.Decimal{}, false
		}
		if e, ok := m[name]; ok {
			return leaf(e)
		}
		for _, e := range m {
			if d, ok := find(e); ok {
				return d, true
			}
		}
		return decimal.Decimal{}, false
	}
	d, _ := find(v)
	return d
}
