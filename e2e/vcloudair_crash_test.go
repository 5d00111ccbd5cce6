package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// vcaUse, vcaEntity, vcaL2 and vcaInstance are the vCloud Air simulator's script format
// (vcasim.Script): a billable metered at PerHour per whole hour from From to To (nil: on).
type vcaUse struct {
	Billable string     `json:"billable"`
	Unit     string     `json:"unit"`
	PerHour  string     `json:"per_hour"`
	Rate     string     `json:"rate"`
	From     time.Time  `json:"from"`
	To       *time.Time `json:"to,omitempty"`
}

type vcaEntity struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Type  string   `json:"type"`
	Usage []vcaUse `json:"usage"`
}

type vcaL2 struct {
	ID  string      `json:"id"`
	Own []vcaUse    `json:"own,omitempty"`
	L1s []vcaEntity `json:"l1"`
}

type vcaInstance struct {
	ID    string  `json:"id"`
	Group string  `json:"service_group"`
	Name  string  `json:"name"`
	L2s   []vcaL2 `json:"l2"`
}

// vcaPrices are the USA prices of the built-in pricing plan vcloudair-vpc-ondemand
// (internal/plans/builtin/vcloudair/pricing-plans.json), per billable.
var vcaPrices = map[string]decimal.Decimal{
	"vcpu_hours": decimal.RequireFromString("0.0125"), "memory_gb_hours": decimal.RequireFromString("0.0035"),
	"storage_gb_hours": decimal.RequireFromString("0.0001"), "public_ip_hours": decimal.RequireFromString("0.005"),
}

// vcaFleet scripts three service instances in two service groups, each with one or two
// virtual data centers (L2, some with storage of their own) of one to three VMs and gateways
// (L1), each coming at a random hour from three hours before first on and going one hour to
// the span's length plus two hours later (or staying), so that they come and go across the
// hours, the day and the month that [first, last) spans. Quantities per hour are decimals drawn
// from rng (quarters of a GB, hundredths of a storage GB).
func vcaFleet(rng *rand.Rand, first, last time.Time) []vcaInstance {
	hours := int(last.Sub(first) / time.Hour)
	span := func() (time.Time, *time.Time) {
		from := first.Add(time.Duration(rng.IntN(hours+3)-3) * time.Hour)
		if rng.IntN(3) == 0 {
			return from, nil
		}
		to := from.Add(time.Duration(1+rng.IntN(hours+2)) * time.Hour)
		return from, &to
	}
	use := func(billable, unit, perHour string) vcaUse {
		from, to := span()
		return vcaUse{Billable: billable, Unit: unit, PerHour: perHour, Rate: vcaPrices[billable].String(), From: from, To: to}
	}
	groups := []string{"sg-e2e-a", "sg-e2e-a", "sg-e2e-b"}
	var out []vcaInstance
	for i, g := range groups {
		in := vcaInstance{ID: fmt.Sprintf("si-e2e-%d", i), Group: g, Name: "Virtual Private Cloud OnDemand"}
		for j := range 1 + rng.IntN(2) {
			l2 := vcaL2{ID: fmt.Sprintf("vdc-e2e-%d-%d", i, j)}
			if rng.IntN(2) == 0 {
				l2.Own = []vcaUse{use("storage_gb_hours", "GB-hour", decimal.New(1+rng.Int64N(50000), -2).String())}
			}
			for k := range 1 + rng.IntN(3) {
				id := fmt.Sprintf("%d-%d-%d", i, j, k)
				if rng.IntN(4) == 0 {
					l2.L1s = append(l2.L1s, vcaEntity{ID: "gw-e2e-" + id, Name: "edge", Type: "gateway",
						Usage: []vcaUse{use("public_ip_hours", "hour", fmt.Sprint(1+rng.IntN(3)))}})
					continue
				}
				// A VM's vCPUs and memory come and go together.
				vcpu := use("vcpu_hours", "vCPU-hour", fmt.Sprint(1+rng.IntN(8)))
				mem := vcaUse{Billable: "memory_gb_hours", Unit: "GB-hour", PerHour: decimal.New(1+rng.Int64N(256), 0).Div(decimal.NewFromInt(4)).String(),
					Rate: vcaPrices["memory_gb_hours"].String(), From: vcpu.From, To: vcpu.To}
				l2.L1s = append(l2.L1s, vcaEntity{ID: "vm-e2e-" + id, Name: "vm " + id, Type: "vm", Usage: []vcaUse{vcpu, mem}})
			}
			in.L2s = append(in.L2s, l2)
		}
		out = append(out, in)
	}
	return out
}

// vcaHour is what us meter in the hour [h, h+1h): per billable, the sum of the per-hour
// quantities of the uses running the whole hour (vCloud Air meters whole hours).
func vcaHour(us []vcaUse, h time.Time) map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	for _, u := range us {
		if !u.From.After(h) && (u.To == nil || !u.To.Before(h.Add(time.Hour))) {
			out[u.Billable] = out[u.Billable].Add(decimal.RequireFromString(u.PerHour))
		}
	}
	return out
}

// vcaTruth computes what the poller must publish for the hours of [first, last) and what the
// cells then hold: one document per L1 entity and hour with usage, and one per L2 and hour
// with usage of its own (its roll-up less its L1s'); an organization (service instance) cell
// of plan vpc-ondemand holds the sum of its billable over the day or month, and costs the
// price times it.
func vcaTruth(fleet []vcaInstance, first, last time.Time) (docs int, cells, costs map[orgCell]decimal.Decimal) {
	cells, costs = map[orgCell]decimal.Decimal{}, map[orgCell]decimal.Decimal{}
	for _, in := range fleet {
		for h := first; h.Before(last); h = h.Add(time.Hour) {
			day := time.Date(h.Year(), h.Month(), h.Day(), 0, 0, 0, 0, time.UTC)
			month := time.Date(h.Year(), h.Month(), 1, 0, 0, 0, 0, time.UTC)
			var hourly []map[string]decimal.Decimal
			for _, l2 := range in.L2s {
				hourly = append(hourly, vcaHour(l2.Own, h))
				for _, l1 := range l2.L1s {
					hourly = append(hourly, vcaHour(l1.Usage, h))
				}
			}
			for _, q := range hourly {
				if len(q) == 0 {
					continue
				}
				docs++
				for billable, v := range q {
					for level, at := range map[string]time.Time{"day": day, "month": month} {
						k := orgCell{in.ID, "vpc-ondemand", billable, level, at.UnixMilli()}
						cells[k] = cells[k].Add(v)
					}
				}
			}
		}
	}
	for k, q := range cells {
		costs[k] = vcaPrices[k.metric].Mul(q).RoundBank(12)
		cells[k] = q.RoundBank(12)
	}
	return docs, cells, costs
}

// TestVCloudAirPollerCrashes runs the vCloud Air simulator (a scripted company of two service
// groups whose VMs, gateways and virtual data centers come and go over the last hours of July
// and the first of August, with 429s with Retry-After, 503s, slow answers, tokens that expire
// (a 401: the poller logs in again) and a lastUpdateTime lagging behind the clock), the
// vCloud Air poller as its own process, SIGKILLed at seeded random moments and started again,
// and Meterline (dev: processor, sinks, reporting) on the real broker and ClickHouse; then
// every document of the script is in usage_events once, nothing is rejected, and the service
// instances' cells and usage reports equal the ground truth computed from the script, to the
// last decimal, on July 31 and August 1 and in both months.
func TestVCloudAirPollerCrashes(t *testing.T) {
	rng := crashRand(t, 0x766361)
	// Fifteen seconds before 03:00 on August 1: the hours read are July 31 19:00 to August 1
	// 03:00, the last of them once vCloud Air's lastUpdateTime, 40 s behind, has passed it.
	s := newStackAt(t, time.Date(2026, 8, 1, 2, 59, 45, 0, time.UTC))
	first, last := time.Date(2026, 7, 31, 19, 0, 0, 0, time.UTC), time.Date(2026, 8, 1, 3, 0, 0, 0, time.UTC)
	fleet := vcaFleet(rng, first, last)
	scriptFile := writeScript(t, map[string]any{
		"service_groups": []map[string]any{
			{"id": "sg-e2e-a", "name": "a", "currency": "USD", "anniversary": 1},
			{"id": "sg-e2e-b", "name": "b", "currency": "USD", "anniversary": 15},
		},
		"service_instances": fleet,
		"users":             map[string]string{"meterline": "pw"},
		"faults": map[string]any{"rate_limit_every": 7, "retry_after": 1, "server_error_every": 11, "slow_every": 5,
			"slow": 300 * time.Millisecond, "lag": 40 * time.Second, "token_uses": 9},
	})
	wantDocs, cells, costs := vcaTruth(fleet, first, last)

	dev := s.start([]string{"dev"}, "METERLINE_REPORT_SLOTS=1,1,1,3,2")
	sim := s.start([]string{"sim", "vcloudair"}, "METERLINE_VCASIM_SCRIPT="+scriptFile)
	pollerEnv := []string{
		"METERLINE_VCLOUDAIR_URL=http://" + sim.addr, "METERLINE_VCLOUDAIR_USERNAME=meterline", "METERLINE_VCLOUDAIR_PASSWORD=pw",
		"METERLINE_VCLOUDAIR_ACCOUNT=e2e", "METERLINE_POLL_START=" + first.Format(time.RFC3339), "METERLINE_POLL_LAG=5s",
		"METERLINE_POLL_INTERVAL=1s", "METERLINE_POLL_TIMEOUT=5s", "METERLINE_POLL_BACKOFF_MAX=5s", "METERLINE_LOG_LEVEL=info",
	}
	const source = "poller:vcloudair/e2e"
	poller := killPoller(t, s, rng, []string{"poller", "vcloudair"}, pollerEnv, 5, 6*time.Second)
	t.Logf("want %d documents of %d hours", wantDocs, int(last.Sub(first)/time.Hour))
	// Caught up: the last hour read, its lag under half an hour (before, at least an hour).
	waitPolled(t, s, poller, source, wantDocs, 1800, 90*time.Second)
	checkStoredOnce(t, s, wantDocs)
	logPollerErrors(t, poller, source, "rate_limited", "server", "unauthorized", "timeout")
	// Every fault was met: the simulator counts what it injected (into the poller and its
	// billing loop, which share a login). A 401 cured by a new login is no poller error.
	var stats struct {
		Logins, Requests, Unauthorized int
		RateLimited                    int `json:"rate_limited"`
		ServerErrors                   int `json:"server_errors"`
		Slow, Lagging                  int
	}
	if r := do(t, http.MethodGet, "http://"+sim.addr+"/sim/stats", "", nil); r.status != http.StatusOK || json.Unmarshal(r.body, &stats) != nil {
		t.Fatalf("simulator stats: %d %s", r.status, r.body)
	}
	t.Logf("simulator: %+v", stats)
	if stats.RateLimited == 0 || stats.ServerErrors == 0 || stats.Slow == 0 || stats.Unauthorized == 0 || stats.Lagging == 0 || stats.Logins <= 6 {
		t.Errorf("not every fault was injected (%d logins for 6 poller starts): %+v", stats.Logins, stats)
	}

	asOf := s.nowMs()
	waitOrgCells(t, s, asOf, cells, costs)
	// The usage summary report of each service instance: the plan's quantity and cost and the
	// resource's summary and charge, of the day (slot 0 August 1, slot 1 July 31) and of the
	// month (slot 0 August, slot 1 July).
	at := time.UnixMilli(asOf).UTC()
	reports := map[string]map[string]any{}
	for k, want := range cells {
		rep, ok := reports[k.org]
		if !ok {
			rep = orgReport(t, dev, k.org, asOf)
			reports[k.org] = rep
		}
		level, slot := 3, int(at.Truncate(24*time.Hour).Sub(time.UnixMilli(k.from))/(24*time.Hour))
		if k.level == "month" {
			level, slot = 4, monthsBack(k.from, at)
		}
		for _, c := range []struct {
			plan, quantity, cost string
		}{{"vpc-ondemand", "quantity", "cost"}, {"", "summary", "charge"}} {
			w, found := reportWindow(t, reportMetrics(t, rep, "vcloudair", c.plan), k.metric, level, slot)
			if !found || w == nil {
				t.Errorf("report of %s has no %s %s slot %d (plan %q)", k.org, k.metric, k.level, slot, c.plan)
				continue
			}
			if q := windowDecimal(t, w, c.quantity); !q.Equal(want) {
				t.Errorf("report of %s: %s %s %d %s %s, want %s (plan %q)", k.org, k.metric, k.level, slot, c.quantity, q, want, c.plan)
			}
			if q := windowDecimal(t, w, c.cost); !q.Equal(costs[k]) {
				t.Errorf("report of %s: %s %s %d %s %s, want %s (plan %q)", k.org, k.metric, k.level, slot, c.cost, q, costs[k], c.plan)
			}
		}
	}
	if !t.Failed() {
		t.Logf("%d documents once each; %d service instance cells and the day and month reports equal the ground truth", wantDocs, len(cells))
	}
}
