package e2e

import (
	"fmt"
	"math/rand/v2"
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
	rng := crashRand(t, 0x6e6f7661)
	s := newStack(t)
	now := s.now()
	fleet := novaFleet(rng, now)
	scriptFile := writeScript(t, map[string]any{
		"flavors": novaFlavors, "servers": fleet,
		"faults": map[string]any{"rate_limit_every": 7, "retry_after": 1, "server_error_every": 11, "slow_every": 5, "slow": "300ms",
			"unknown_marker_every": 13, "token_ttl": "4s"},
	})
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
		"METERLINE_POLL_TIMEOUT=5s", "METERLINE_POLL_BACKOFF_MAX=5s", "METERLINE_LOG_LEVEL=info",
	}
	const source = "poller:nova/e2e"
	poller := killPoller(t, s, rng, []string{"poller", "nova"}, pollerEnv, 5, 5*time.Second)
	t.Logf("want %d documents of %d windows", wantDocs, int(end.Sub(start)/time.Hour))
	waitPolled(t, s, poller, source, wantDocs, 2*3600, 3*time.Minute)
	checkStoredOnce(t, s, wantDocs)
	logPollerErrors(t, poller, source, "rate_limited", "server", "unauthorized", "timeout")

	asOf := s.nowMs()
	waitOrgCells(t, s, asOf, cells, costs)
	// The usage summary report of each tenant, month level (slot 0: June).
	for k, want := range cells {
		if k.level != "month" {
			continue
		}
		w, found := reportWindow(t, reportMetrics(t, orgReport(t, dev, k.org, asOf), "", k.flavor), k.metric, 4, 0)
		if !found {
			t.Errorf("report of %s has no %s %s", k.org, k.flavor, k.metric)
			continue
		}
		if q := windowDecimal(t, w, "quantity"); !q.Equal(want) {
			t.Errorf("report of %s: %s %s month quantity %s, want %s", k.org, k.flavor, k.metric, q, want)
		}
		if c, ok := costs[k]; ok {
			if got := windowDecimal(t, w, "cost"); !got.Equal(c) {
				t.Errorf("report of %s: %s %s month cost %s, want %s", k.org, k.flavor, k.metric, got, c)
			}
		}
	}
	if !t.Failed() {
		t.Logf("%d documents once each; %d tenant cells and the month reports equal the ground truth", wantDocs, len(cells))
	}
}
