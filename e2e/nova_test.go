package e2e

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

// novaFlavor is a flavor of the simulated cloud, with the USA price of an instance hour of
// its built-in pricing plan (internal/plans/builtin/pricing-plans.json).
type novaFlavor struct {
	Name     string `json:"name"`
	VCPUs    int64  `json:"vcpus"`
	MemoryMB int64  `json:"memory_mb"`
	DiskGB   int64  `json:"disk_gb"`
	price    string
}

var novaFlavors = []novaFlavor{
	{"m1.tiny", 1, 512, 1, "0.0066"},
	{"m1.small", 1, 2048, 20, "0.026"},
	{"m1.medium", 2, 4096, 40, "0.052"},
	{"m1.large", 4, 8192, 80, "0.104"},
	{"m1.xlarge", 8, 16384, 160, "0.208"},
}

// novaServer is a server of the scripted fleet (the simulator's script format).
type novaServer struct {
	ID         string       `json:"id"`
	Name       string       `json:"name"`
	Tenant     string       `json:"tenant_id"`
	Flavor     string       `json:"flavor"`
	Launched   time.Time    `json:"launched_at"`
	Terminated *time.Time   `json:"terminated_at,omitempty"`
	Resizes    []novaResize `json:"resizes,omitempty"`
	Archived   *time.Time   `json:"archived_at,omitempty"`
}

type novaResize struct {
	At     time.Time `json:"at"`
	Flavor string    `json:"flavor"`
}

// novaFleet scripts servers over the thirty hours before now: launched and terminated at
// random microseconds, some resized (Nova then reports the last flavor for the whole life),
// some still running, one archived (listed in no window).
func novaFleet(rng *rand.Rand, now time.Time) []novaServer {
	tenants := []string{"e2e-tenant-a", "e2e-tenant-b", "e2e-tenant-c"}
	var out []novaServer
	for i := range 14 {
		launched := now.Add(-time.Duration(rng.Int64N(int64(32 * time.Hour)))).Truncate(time.Microsecond)
		sv := novaServer{ID: fmt.Sprintf("e2e00000-0000-4000-8000-%012d", i), Name: fmt.Sprintf("server-%d", i),
			Tenant: tenants[i%len(tenants)], Flavor: novaFlavors[rng.IntN(len(novaFlavors))].Name, Launched: launched}
		if rng.IntN(3) > 0 {
			end := launched.Add(time.Duration(rng.Int64N(int64(20 * time.Hour)))).Truncate(time.Microsecond)
			if end.Before(now) {
				sv.Terminated = &end
			}
		}
		if rng.IntN(4) == 0 {
			sv.Resizes = []novaResize{{At: now.Add(-time.Minute), Flavor: novaFlavors[rng.IntN(len(novaFlavors))].Name}}
		}
		out = append(out, sv)
	}
	archived := now.Add(-time.Minute)
	out[0].Archived = &archived
	return out
}

// novaCell names an organization cell at the plan level: tenant, flavor, metric, level and
// period start.
type novaCell struct {
	org, flavor, metric, level string
	from                       int64
}

// novaTruth computes what the poller must publish for the windows of [from, to) and what the
// cells then hold: one document per server and hour it existed in, of its seconds there; the
// built-in metering plan meters each as hours carried to 24 places; a cell holds their sum,
// rounded once to 12 places, and an instance_hours cell costs its price times the sum.
func novaTruth(fleet []novaServer, from, to time.Time) (docs int, cells map[novaCell]decimal.Decimal, costs map[novaCell]decimal.Decimal) {
	cells, costs = map[novaCell]decimal.Decimal{}, map[novaCell]decimal.Decimal{}
	hour := decimal.NewFromInt(3600)
	for _, sv := range fleet {
		if sv.Archived != nil {
			continue
		}
		flavor := sv.Flavor
		for _, r := range sv.Resizes {
			flavor = r.Flavor
		}
		var fl novaFlavor
		for _, f := range novaFlavors {
			if f.Name == flavor {
				fl = f
			}
		}
		for w := from; w.Before(to); w = w.Add(time.Hour) {
			start, end := sv.Launched, w.Add(time.Hour)
			if start.Before(w) {
				start = w
			}
			if sv.Terminated != nil && sv.Terminated.Before(end) {
				end = *sv.Terminated
			}
			if !end.After(start) {
				continue
			}
			docs++
			secs := decimal.New(end.Sub(start).Microseconds(), -6)
			day := time.Date(w.Year(), w.Month(), w.Day(), 0, 0, 0, 0, time.UTC)
			month := time.Date(w.Year(), w.Month(), 1, 0, 0, 0, 0, time.UTC)
			for metric, factor := range map[string]int64{"instance_hours": 1, "vcpu_hours": fl.VCPUs, "memory_mb_hours": fl.MemoryMB, "local_gb_hours": fl.DiskGB} {
				q := secs.Mul(decimal.NewFromInt(factor)).DivRound(hour, 24)
				for level, at := range map[string]time.Time{"day": day, "month": month} {
					k := novaCell{sv.Tenant, flavor, metric, level, at.UnixMilli()}
					cells[k] = cells[k].Add(q)
				}
			}
		}
	}
	for k, q := range cells {
		if k.metric == "instance_hours" {
			for _, f := range novaFlavors {
				if f.Name == k.flavor {
					costs[k] = decimal.RequireFromString(f.price).Mul(q).RoundBank(12)
				}
			}
		}
		cells[k] = q.RoundBank(12)
	}
	return docs, cells, costs
}

// TestNovaPollerCrashes runs the Nova simulator (a scripted fleet, with 429s, 5xx, slow
// answers, unknown markers and tokens that expire), the Nova poller as its own process,
// SIGKILLed at random moments and started again, and Meterline (dev on the real broker and
// ClickHouse); then every document of the fleet is in usage_events once, and the tenants'
// cells and usage reports equal the ground truth computed from the script, to the last
// decimal.
func TestNovaPollerCrashes(t *testing.T) {
	seed := time.Now().UnixNano()
	if v := os.Getenv("METERLINE_CRASH_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("METERLINE_CRASH_SEED=%q: %v", v, err)
		}
	}
	t.Logf("seed %d (METERLINE_CRASH_SEED=%d replays the same fleet and kill schedule)", seed, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6e6f7661))

	s := newStack(t)
	now := s.now()
	fleet := novaFleet(rng, now)
	script := map[string]any{
		"flavors": novaFlavors, "servers": fleet,
		"faults": map[string]any{"rate_limit_every": 7, "retry_after": 1, "server_error_every": 11, "slow_every": 5, "slow": "300ms",
			"unknown_marker_every": 13, "token_ttl": "4s"},
	}
	b, err := json.Marshal(script)
	if err != nil {
		t.Fatal(err)
	}
	scriptFile := filepath.Join(t.TempDir(), "fleet.json")
	if err := os.WriteFile(scriptFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// The windows read: from the poll start to the last hour closed ten minutes before now.
	start := now.Truncate(time.Hour).Add(-30 * time.Hour)
	end := now.Add(-10 * time.Minute).Truncate(time.Hour)
	wantDocs, cells, costs := novaTruth(fleet, start, end)

	dev := s.start([]string{"dev"}, "METERLINE_REPORT_SLOTS=1,1,1,3,2")
	sim := s.start([]string{"sim", "nova"}, "METERLINE_NOVASIM_SCRIPT="+scriptFile)
	pollerEnv := []string{
		"METERLINE_NOVA_AUTH_URL=http://" + sim.addr + "/identity/v3", "METERLINE_NOVA_USERNAME=meterline", "METERLINE_NOVA_PASSWORD=pw",
		"METERLINE_NOVA_PROJECT_NAME=admin", "METERLINE_NOVA_CLOUD=e2e", "METERLINE_NOVA_PAGE_LIMIT=2",
		"METERLINE_POLL_START=" + start.Format(time.RFC3339), "METERLINE_POLL_LAG=10m", "METERLINE_POLL_INTERVAL=1s",
		"METERLINE_POLL_TIMEOUT=5s", "METERLINE_LOG_LEVEL=info",
	}
	pollerArgs := []string{"poller", "nova"}
	poller := s.start(pollerArgs, pollerEnv...)
	began := time.Now()
	for kill := 1; kill <= 5; kill++ {
		time.Sleep(time.Duration(300+rng.IntN(5000)) * time.Millisecond)
		if err := poller.stop(t, syscall.SIGKILL); err == nil {
			t.Fatal("the poller exited cleanly on SIGKILL?")
		}
		t.Logf("%5.1fs SIGKILL poller (%d/5), %d documents stored", time.Since(began).Seconds(), kill, s.count(""))
		poller = s.start(pollerArgs, pollerEnv...)
	}
	t.Logf("want %d documents of %d windows", wantDocs, int(end.Sub(start)/time.Hour))
	deadline := time.Now().Add(3 * time.Minute)
	for s.count("") < uint64(wantDocs) || metricSum(poller, []string{`meterline_poller_lag_seconds{source="poller:nova/e2e"}`}) > 2*3600 ||
		metricSum(poller, []string{`meterline_poller_lag_seconds{source="poller:nova/e2e"}`}) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after 3 minutes: %d documents stored, want %d; poller lag %vs", s.count(""), wantDocs,
				metricSum(poller, []string{`meterline_poller_lag_seconds{source="poller:nova/e2e"}`}))
		}
		time.Sleep(300 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // nothing more may come
	if n, distinct := s.count(""), s.countDistinct(); n != uint64(wantDocs) || distinct != uint64(wantDocs) {
		t.Errorf("usage_events holds %d documents (%d distinct), want %d", n, distinct, wantDocs)
	}
	if n := s.countRows("usage_rejections"); n != 0 {
		t.Errorf("%d documents rejected, want none", n)
	}
	for _, kind := range []string{"rate_limited", "server", "unauthorized", "timeout"} {
		t.Logf("poller errors %s: %v (last instance)", kind, metricSum(poller, []string{`meterline_poller_errors_total{kind="` + kind + `",source="poller:nova/e2e"}`}))
	}

	asOf := s.nowMs()
	waitFor(t, "the cells of every tenant", func() (bool, string) {
		got := s.novaCells(asOf)
		for k, want := range cells {
			g, ok := got[k]
			if !ok || !g[0].Equal(want) {
				return false, fmt.Sprintf("cell %+v = %v, want %s", k, g, want)
			}
			if c, ok := costs[k]; ok && !g[1].Equal(c) {
				return false, fmt.Sprintf("cell %+v cost %s, want %s", k, g[1], c)
			}
		}
		if len(got) != len(cells) {
			return false, fmt.Sprintf("%d cells, want %d", len(got), len(cells))
		}
		return true, ""
	})
	// The usage summary report of each tenant, month level (slot 0: June).
	for k, want := range cells {
		if k.level != "month" {
			continue
		}
		r := do(t, http.MethodGet, fmt.Sprintf("http://%s/v1/metering/organizations/%s/aggregated/usage/%d", dev.addr, k.org, asOf), "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("report of %s: %d %s", k.org, r.status, r.body)
		}
		dec := json.NewDecoder(bytes.NewReader(r.body))
		dec.UseNumber()
		var rep map[string]any
		if err := dec.Decode(&rep); err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, p := range path(t, rep, "resources", 0, "plans").([]any) {
			if path(t, p, "plan_id") != k.flavor {
				continue
			}
			for _, m := range path(t, p, "aggregated_usage").([]any) {
				if path(t, m, "metric") != k.metric {
					continue
				}
				found = true
				q := decimal.RequireFromString(path(t, m, "windows", 4, 0, "quantity").(json.Number).String())
				if !q.Equal(want) {
					t.Errorf("report of %s: %s %s month quantity %s, want %s", k.org, k.flavor, k.metric, q, want)
				}
				if c, ok := costs[k]; ok {
					if got := decimal.RequireFromString(path(t, m, "windows", 4, 0, "cost").(json.Number).String()); !got.Equal(c) {
						t.Errorf("report of %s: %s %s month cost %s, want %s", k.org, k.flavor, k.metric, got, c)
					}
				}
			}
		}
		if !found {
			t.Errorf("report of %s has no %s %s", k.org, k.flavor, k.metric)
		}
	}
	if !t.Failed() {
		t.Logf("%d documents once each; %d tenant cells and the month reports equal the ground truth", wantDocs, len(cells))
	}
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
// asOf: quantity and cost.
func (s *stack) novaCells(asOf int64) map[novaCell][2]decimal.Decimal {
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
	out := map[novaCell][2]decimal.Decimal{}
	for rows.Next() {
		var k novaCell
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
