package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// cfAction is a step of the Cloud Foundry simulator's script (cfsim.Action).
type cfAction struct {
	At       time.Time     `json:"at"`
	Kind     string        `json:"kind"`
	Org      string        `json:"org,omitempty"`
	Space    string        `json:"space,omitempty"`
	App      string        `json:"app,omitempty"`
	MemoryMB int64         `json:"memory_mb,omitempty"`
	Inst     int64         `json:"instances,omitempty"`
	Task     string        `json:"task,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	Instance string        `json:"instance,omitempty"`
	Plan     string        `json:"plan,omitempty"`
	Name     string        `json:"name,omitempty"`
}

var cfOrgs = []string{"e2e0cf00-0000-4000-8000-00000000000a", "e2e0cf00-0000-4000-8000-00000000000b"}

// cfFleet scripts, from base on, in whole seconds: apps started, scaled (twice in one second:
// folded), restaged (BUILDPACK_SET and a staging of no length between its STARTED and STOPPED:
// nothing counted, so the ground truth ignores it), stopped and started again, a task,
// services created, updated to another plan, renamed and deleted; then a pruned event stream, more apps, a purge and reseed, and at the
// end everything stopped. Memory and instances are drawn from rng.
func cfFleet(rng *rand.Rand, base time.Time) []cfAction {
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
	app := func(i int) string { return fmt.Sprintf("e2e0a000-0000-4000-8000-%012d", i) }
	svc := func(i int) string { return fmt.Sprintf("e2e05000-0000-4000-8000-%012d", i) }
	space := func(o int) string { return fmt.Sprintf("e2e05ace-0000-4000-8000-%012d", o) }
	mem := func() int64 { return 128 * (1 + rng.Int64N(8)) }
	inst := func() int64 { return 1 + rng.Int64N(4) }
	start := func(sec, i, o int) cfAction {
		return cfAction{At: at(sec), Kind: "start", Org: cfOrgs[o], Space: space(o), App: app(i), MemoryMB: mem(), Inst: inst()}
	}
	return []cfAction{
		start(8, 0, 0), start(8, 1, 1),
		{At: at(8), Kind: "create_service", Org: cfOrgs[0], Space: space(0), Instance: svc(0), Plan: "small", Name: "db"},
		{At: at(12), Kind: "task", Org: cfOrgs[0], Space: space(0), App: app(0), Task: "e2e07a00-0000-4000-8000-000000000000",
			MemoryMB: mem(), Duration: time.Duration(5+rng.IntN(20)) * time.Second},
		{At: at(15), Kind: "scale", App: app(0), Inst: inst()},
		{At: at(15), Kind: "scale", App: app(0), MemoryMB: mem()},
		start(20, 2, 0),
		{At: at(20), Kind: "create_service", Org: cfOrgs[1], Space: space(1), Instance: svc(1), Plan: "small", Name: "cache"},
		{At: at(25), Kind: "restage", App: app(2)},
		{At: at(30), Kind: "update_service", Instance: svc(0), Plan: "large"},
		{At: at(30), Kind: "update_service", Instance: svc(1), Name: "cache-renamed"},
		{At: at(35), Kind: "stop", App: app(1)},
		start(40, 1, 1),
		{At: at(45), Kind: "stop", App: app(2)},
		{At: at(45), Kind: "delete_service", Instance: svc(1)},
		{At: at(60), Kind: "prune"},
		start(68, 3, 1),
		{At: at(78), Kind: "purge"},
		{At: at(93), Kind: "scale", App: app(3), Inst: inst()},
		{At: at(100), Kind: "stop", App: app(0)}, {At: at(100), Kind: "stop", App: app(1)}, {At: at(100), Kind: "stop", App: app(3)},
		{At: at(100), Kind: "delete_service", Instance: svc(0)},
	}
}

// cfCell names an organization cell: organization, resource, metric, level and period start.
type cfCell struct {
	org, resource, metric, level string
	from                         int64
}

// cfTruth plays the script as Cloud Controller does and returns the organization cells at
// the day and month levels: memory in GB-hours of apps (linux-container) and tasks
// (cf-task), instance-hours of services (cf-service): what ran, in ms, clipped to each
// period (so an app running over midnight counts in both months: the carry), summed, divided
// once and rounded once to 12 places; and their cost at the USA price of 0.00028.
func cfTruth(script []cfAction) (cells, costs map[cfCell]decimal.Decimal) {
	type running struct {
		org, resource string
		consuming     int64 // MB × instances, or instances
		since         time.Time
		mem, inst     int64
	}
	sums := map[cfCell]decimal.Decimal{} // MB·ms or instance·ms
	closeRun := func(r running, end time.Time) {
		metric := "memory"
		if r.resource == "cf-service" {
			metric = "instances"
		}
		for _, level := range []string{"day", "month"} {
			from := time.Date(r.since.Year(), r.since.Month(), r.since.Day(), 0, 0, 0, 0, time.UTC)
			if level == "month" {
				from = time.Date(r.since.Year(), r.since.Month(), 1, 0, 0, 0, 0, time.UTC)
			}
			for from.Before(end) {
				to := from.AddDate(0, 0, 1)
				if level == "month" {
					to = from.AddDate(0, 1, 0)
				}
				a, b := max(from.UnixMilli(), r.since.UnixMilli()), min(to.UnixMilli(), end.UnixMilli())
				if b > a {
					k := cfCell{r.org, r.resource, metric, level, from.UnixMilli()}
					sums[k] = sums[k].Add(decimal.NewFromInt(r.consuming * (b - a)))
				}
				from = to
			}
		}
	}
	run := map[string]running{}
	var ends []cfAction // task ends
	play := func(a cfAction) {
		switch a.Kind {
		case "start", "scale":
			old, was := run[a.App]
			r := running{org: a.Org, resource: "linux-container", mem: a.MemoryMB, inst: a.Inst, since: a.At}
			if was {
				closeRun(old, a.At)
				r.org = old.org
				if r.mem == 0 {
					r.mem = old.mem
				}
				if r.inst == 0 {
					r.inst = old.inst
				}
			}
			r.consuming = r.mem * r.inst
			run[a.App] = r
		case "stop":
			closeRun(run[a.App], a.At)
			delete(run, a.App)
		case "task":
			run[a.Task] = running{org: a.Org, resource: "cf-task", consuming: a.MemoryMB, since: a.At}
			ends = append(ends, cfAction{At: a.At.Add(a.Duration), Kind: "task_end", Task: a.Task})
		case "task_end":
			closeRun(run[a.Task], a.At)
			delete(run, a.Task)
		case "create_service":
			run[a.Instance] = running{org: a.Org, resource: "cf-service", consuming: 1, since: a.At}
		case "delete_service":
			closeRun(run[a.Instance], a.At)
			delete(run, a.Instance)
		}
	}
	for _, a := range script {
		for i := 0; i < len(ends); i++ {
			if ends[i].At.Before(a.At) {
				play(ends[i])
				ends = append(ends[:i], ends[i+1:]...)
				i--
			}
		}
		play(a)
	}
	for _, e := range ends {
		play(e)
	}
	if len(run) != 0 {
		panic(fmt.Sprintf("the script leaves %d running", len(run)))
	}
	cells, costs = map[cfCell]decimal.Decimal{}, map[cfCell]decimal.Decimal{}
	price := decimal.RequireFromString("0.00028")
	for k, sum := range sums {
		q := sum.DivRound(decimal.NewFromInt(3600000), 24)
		if k.metric == "memory" {
			q = sum.DivRound(decimal.NewFromInt(1024*3600000), 24)
		}
		cells[k], costs[k] = q.RoundBank(12), price.Mul(q).RoundBank(12)
	}
	return cells, costs
}

// TestCFPollerCrashes runs the Cloud Foundry simulator (a scripted fleet over a month's end,
// with 429s, 5xx, events of one process in one second, a restage, a pruned event stream and a
// purge and reseed), the cf poller as its own process, SIGKILLed at seeded random moments over
// the whole run and right after the simulator answered each stream fault (killCFPoller), and
// started again, and Meterline (dev on the real broker and ClickHouse); then no document is stored
// twice, nothing is rejected, and the organizations' cells and usage reports equal the ground
// truth computed from the script, to the last decimal, in June and in July (the carry).
func TestCFPollerCrashes(t *testing.T) {
	rng := crashRand(t, 0x6366)
	// Half a minute before July: the apps running at midnight count in both months.
	s := newStackAt(t, time.Date(2026, 6, 30, 23, 59, 30, 0, time.UTC))
	dev := s.start([]string{"dev"}, "METERLINE_REPORT_SLOTS=1,1,1,3,2")
	base := s.now().Truncate(time.Second).Add(time.Second)
	fleet := cfFleet(rng, base)
	cells, costs := cfTruth(fleet)
	scriptFile := writeScript(t, map[string]any{"actions": fleet, "faults": map[string]any{"rate_limit_every": 11, "server_error_every": 29}})
	sim := s.start([]string{"sim", "cf"}, "METERLINE_CFSIM_SCRIPT="+scriptFile)
	pollerEnv := []string{
		"METERLINE_CF_API_URL=http://" + sim.addr, "METERLINE_CF_UAA_URL=http://" + sim.addr + "/uaa",
		"METERLINE_CF_CLIENT_ID=meterline", "METERLINE_CF_CLIENT_SECRET=dev", "METERLINE_CF_FOUNDATION=e2e", "METERLINE_CF_MIN_AGE=1s",
		// The cursor trails the newest event read by 5s (not 15m), so that the pruned stream cuts it.
		"METERLINE_CF_OVERLAP=5s",
		"METERLINE_POLL_INTERVAL=1s", "METERLINE_POLL_TIMEOUT=5s", "METERLINE_POLL_BACKOFF_MAX=5s", "METERLINE_LOG_LEVEL=info",
	}
	// Kills until the fleet's last events (100s after base), during the faults too.
	poller := killCFPoller(t, s, sim, rng, pollerEnv, base.Add(100*time.Second))
	// Until the last event is old enough to be read, and read.
	for s.now().Before(base.Add(103 * time.Second)) {
		time.Sleep(300 * time.Millisecond)
	}
	asOf := func() int64 { return s.nowMs() }
	waitFor(t, "the cells of every organization", func() (bool, string) {
		got := s.cfCells(asOf())
		for k, want := range cells {
			if g, ok := got[k]; !ok || !g.Equal(want) {
				return false, fmt.Sprintf("cell %+v = %v, want %s; cells: %v", k, g, want, got)
			}
		}
		for k, g := range got {
			if _, ok := cells[k]; !ok && !g.IsZero() {
				return false, fmt.Sprintf("cell %+v = %v, want none", k, g)
			}
		}
		return true, ""
	})
	time.Sleep(3 * time.Second) // nothing more may come
	checkStoredOnce(t, s, -1)
	logPollerErrors(t, poller, "poller:cf/e2e", "rate_limited", "server", "unauthorized", "timeout")
	// The usage summary report of each organization, month level (slot 0 July, slot 1 June):
	// each resource's summary (GB-hours, instance-hours) and charge at the price.
	now := s.nowMs()
	for k, want := range cells {
		if k.level != "month" {
			continue
		}
		slot := monthsBack(k.from, s.now())
		w, found := reportWindow(t, reportMetrics(t, orgReport(t, dev, k.org, now), k.resource, ""), k.metric, 4, slot)
		if !found {
			t.Errorf("report of %s has no %s %s", k.org, k.resource, k.metric)
			continue
		}
		if q := windowDecimal(t, w, "summary"); !q.Equal(want) {
			t.Errorf("report of %s: %s %s month %d summary %s, want %s", k.org, k.resource, k.metric, slot, q, want)
		}
		if c := windowDecimal(t, w, "charge"); !c.Equal(costs[k]) {
			t.Errorf("report of %s: %s %s month %d charge %s, want %s", k.org, k.resource, k.metric, slot, c, costs[k])
		}
	}
	if !t.Failed() {
		t.Logf("%d organization cells and the month reports equal the ground truth", len(cells))
	}
}

// killCFPoller starts `meterline poller cf` with env and, until the stack's clock reaches
// until, SIGKILLs it and starts it again: at seeded moments spread over the whole run (a pause
// of 300 ms plus up to 12 s), and while each stream fault is being handled: once the simulator
// (GET /sim/stats) has answered an event list showing a pruned stream or a purge and reseed
// (which the poller reconciles against a snapshot of what runs), after up to 800 ms drawn
// from rng, and once more after the restarted poller read the changed stream again. It fails
// the test when a fault was not played, the pruned stream did not cut the poller's cursor
// (an unknown after_guid), or a fault went by without its kills, and returns the instance
// running at the end.
func killCFPoller(t *testing.T, s *stack, sim *proc, rng *rand.Rand, env []string, until time.Time) *proc {
	t.Helper()
	args := []string{"poller", "cf"}
	type simStats struct {
		UnknownCursor int `json:"unknown_cursor"`
		EventReads    int `json:"event_reads"`
		FaultReads    int `json:"fault_reads"`
		Pruned        int `json:"pruned"`
		Purged        int `json:"purged"`
		Restaged      int `json:"restaged"`
		RateLimited   int `json:"rate_limited"`
		ServerErrors  int `json:"server_errors"`
	}
	stats := func() (st simStats) {
		r := do(t, http.MethodGet, "http://"+sim.addr+"/sim/stats", "", nil)
		if r.status != http.StatusOK || json.Unmarshal(r.body, &st) != nil {
			t.Fatalf("simulator stats: %d %s", r.status, r.body)
		}
		return st
	}
	p := s.start(args, env...)
	began := time.Now()
	kills := 0
	kill := func(why string) {
		if err := p.stop(t, syscall.SIGKILL); err == nil {
			t.Fatal("the poller exited cleanly on SIGKILL?")
		}
		kills++
		t.Logf("%5.1fs SIGKILL poller (%d, %s), %d documents stored", time.Since(began).Seconds(), kills, why, s.count(""))
		p = s.start(args, env...)
	}
	pause := func() time.Time {
		return time.Now().Add(300*time.Millisecond + time.Duration(rng.Int64N(int64(12*time.Second))))
	}
	next := pause()
	var faultKills [3]int // by the faults played so far: 1 pruned, 2 also purged
	var readsAtKill [3]int
	for s.now().Before(until) {
		st := stats()
		fault := min(st.Pruned+st.Purged, 2)
		switch {
		case fault > 0 && faultKills[fault] < 2 && st.FaultReads > readsAtKill[fault]:
			delay := time.Duration(rng.Int64N(int64(800 * time.Millisecond)))
			time.Sleep(delay)
			faultKills[fault]++
			readsAtKill[fault] = stats().FaultReads
			kill(fmt.Sprintf("%v after the poller read the %s stream", delay.Round(time.Millisecond), map[int]string{1: "pruned", 2: "purged"}[fault]))
			next = pause()
		case time.Now().After(next):
			kill("seeded moment")
			next = pause()
		default:
			time.Sleep(50 * time.Millisecond)
		}
	}
	st := stats()
	t.Logf("simulator: %+v; %d kills, after the faults %v", st, kills, faultKills[1:])
	if st.Pruned != 1 || st.Purged != 1 || st.Restaged != 1 {
		t.Errorf("the faults played: %+v, want one prune, one purge and one restage", st)
	}
	if st.UnknownCursor == 0 {
		t.Errorf("the poller never met an unknown cursor (a pruned stream answered 422): %+v", st)
	}
	if faultKills[1] != 2 || faultKills[2] != 2 {
		t.Errorf("kills while the faults were handled: %v (pruned, purged), want 2 each; simulator %+v", faultKills[1:], st)
	}
	return p
}

// cfCells reads the organization cells of the day and month levels as of asOf, by resource:
// the time-based value (consumed and consuming, in quantity_json) summarized as the plans'
// summarize formula does at asOf: (consumed - consuming × (from + to - 2·min(asOf, to))) / 2
// / 3600000, rounded once to 12 places.
func (s *stack) cfCells(asOf int64) map[cfCell]decimal.Decimal {
	s.t.Helper()
	rows, err := s.ch.Query(s.t.Context(), `SELECT organization_id, resource_id, metric, level, period_start_ms, period_end_ms,
  argMax(quantity_json, (processed_ms, kafka_offset))
FROM `+s.database+`.usage_cells
WHERE scope = 'organization' AND level IN ('day', 'month') AND plan != '' AND processed_ms <= ? AND visible_ms <= ?
GROUP BY organization_id, resource_id, plan, metric, level, period_start_ms, period_end_ms`, asOf, asOf)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	out := map[cfCell]decimal.Decimal{}
	for rows.Next() {
		var k cfCell
		var to int64
		var raw string
		if err := rows.Scan(&k.org, &k.resource, &k.metric, &k.level, &k.from, &to, &raw); err != nil {
			s.t.Fatal(err)
		}
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			s.t.Fatalf("cell %+v: quantity_json %q: %v", k, raw, err)
		}
		consumed, consuming := jsonDecimal(v, "consumed"), jsonDecimal(v, "consuming")
		t := min(asOf, to)
		q := consumed.Sub(consuming.Mul(decimal.NewFromInt(k.from+to-2*t))).DivRound(decimal.NewFromInt(2*3600000), 24)
		out[k] = q.RoundBank(12)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}
