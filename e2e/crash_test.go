package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The crash test's stream: crashDocs distinct documents, about 2% of them posted a second
// time to the same collector (answered 409) and about 1% a second time to another collector
// (answered 201 when the sink has not stored the original yet, so that the duplicate reaches
// Kafka and the processor must drop it, else 409).
const (
	crashDocs       = 100_000
	crashPosters    = 16
	processorKills  = 4
	sinkKills       = 4
	killAfterAtMost = 25 * time.Second // a component is killed after this even when it made no progress
)

// TestCrashExactlyOnce is the exactly-once crash test: it runs migrate, provisioning, two
// collectors, the sinks and the metering processor as separate processes against the real
// Kafka and ClickHouse, streams 100,000 object storage documents (with exact duplicates) and,
// meanwhile, SIGKILLs the processor and the sink at random moments (after a random amount of
// progress, from a logged seed; METERLINE_CRASH_SEED replays one), restarting each, with a
// second processor instance running for part of the time. Once everything has drained it
// checks that usage_events holds every accepted document once, that nothing was rejected,
// and that the organization and consumer cells of usage_cells, read as reports read them,
// equal the ground truth computed from the documents, to the last decimal.
func TestCrashExactlyOnce(t *testing.T) {
	rng := seeded(t, "METERLINE_CRASH_SEED", "the same documents and kill schedule")
	began := time.Now()

	s := newStack(t)
	s.start([]string{"migrate"})
	prov := s.start([]string{"provisioning"})
	plan := applyObjectStoragePlan(t, prov)
	colls := []*proc{s.start([]string{"collector"}), s.start([]string{"collector"})}
	sinkArgs := []string{"sink"}
	sink := s.start(sinkArgs)
	procArgs := []string{"processor"}
	procEnv := func(n int) string { return fmt.Sprintf("METERLINE_PROCESSOR_ID=%s-processor-%d", s.prefix, n) }
	procs := []*proc{s.start(procArgs, procEnv(0)), nil}

	now := s.now()
	docs := crashStream(rng, now, crashDocs)
	stream := newPoster(t, colls, docs)
	stream.run(crashPosters)

	// The chaos: each component is killed once it has made a random amount of progress since
	// it (re)started, then started again at once. The second processor joins after the first
	// processor kill and leaves (SIGTERM: a rebalance, not a crash) before the last one.
	type target struct {
		metrics   []string
		threshold float64
		since     time.Time
	}
	threshold := func() float64 { return float64(500 + rng.IntN(10_000)) }
	procTarget := func() *target {
		return &target{metrics: []string{"meterline_processor_documents_total"}, threshold: threshold(), since: time.Now()}
	}
	sinkTarget := func() *target {
		return &target{metrics: []string{"meterline_rawsink_rows_written_total", "meterline_cellsink_rows_written_total"},
			threshold: threshold() * 3, since: time.Now()}
	}
	procT := []*target{procTarget(), nil}
	sinkT := sinkTarget()
	pKills, sKills := 0, 0
	due := func(p *proc, tg *target) bool {
		if time.Since(tg.since) >= killAfterAtMost {
			return true
		}
		return metricSum(p, tg.metrics) >= tg.threshold
	}
	kill := func(p *proc, what string) {
		t.Helper()
		if err := p.stop(t, syscall.SIGKILL); err == nil {
			t.Fatalf("the %s exited cleanly on SIGKILL?", what)
		}
	}
	for (pKills < processorKills || sKills < sinkKills) && !t.Failed() {
		time.Sleep(50 * time.Millisecond)
		if sKills < sinkKills && due(sink, sinkT) {
			kill(sink, "sink")
			sKills++
			t.Logf("%6.1fs SIGKILL sink (%d/%d), %d documents posted", time.Since(began).Seconds(), sKills, sinkKills, stream.posted.Load())
			sink = s.start(sinkArgs)
			sinkT = sinkTarget()
		}
		if pKills >= processorKills {
			continue
		}
		for i, p := range procs {
			if p == nil || !due(p, procT[i]) {
				continue
			}
			kill(p, "processor")
			pKills++
			t.Logf("%6.1fs SIGKILL processor %d (%d/%d), %d documents posted", time.Since(began).Seconds(), i, pKills, processorKills, stream.posted.Load())
			procs[i] = s.start(procArgs, procEnv(i))
			procT[i] = procTarget()
			break
		}
		switch {
		case pKills == 1 && procs[1] == nil:
			procs[1] = s.start(procArgs, procEnv(1))
			procT[1] = procTarget()
			t.Logf("%6.1fs second processor started", time.Since(began).Seconds())
		case pKills == processorKills-1 && procs[1] != nil:
			if err := procs[1].stop(t, syscall.SIGTERM); err != nil {
				t.Errorf("second processor after SIGTERM: %v\n%s", err, procs[1].logs)
			}
			procs[1] = nil
			t.Logf("%6.1fs second processor stopped (SIGTERM)", time.Since(began).Seconds())
		}
	}
	stream.wait()
	t.Logf("%6.1fs stream ended: %d documents accepted, %d duplicates answered 409, %d duplicates accepted again by the other collector",
		time.Since(began).Seconds(), len(docs), stream.conflicts.Load(), stream.reaccepted.Load())
	if t.Failed() {
		t.FailNow()
	}

	waitDrained(t, s)
	t.Logf("%6.1fs drained", time.Since(began).Seconds())
	checkCounted(t, s, docs, plan, s.start(reportingArgs, reportingSlots))
	t.Logf("%6.1fs checked", time.Since(began).Seconds())
}

// seeded returns a random source from a logged seed, the one the environment variable name
// holds when it is set (so that a run can be replayed: what says what is replayed).
func seeded(t *testing.T, name, what string) *rand.Rand {
	t.Helper()
	seed := time.Now().UnixNano()
	if v := os.Getenv(name); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", name, v, err)
		}
	}
	t.Logf("seed %d (%s=%d replays %s)", seed, name, seed, what)
	return rand.New(rand.NewPCG(uint64(seed), 0x6d657465726c696e))
}

// reportingArgs and reportingSlots start a reporting service whose reports show every
// document of crashStream: the documents end up to 41 hours ago, so three day slots.
var reportingArgs, reportingSlots = []string{"reporting"}, "METERLINE_REPORT_SLOTS=1,1,1,3,2"

// checkCounted checks, once the stack has drained, that usage_events holds every document
// of docs (all answered 201 or 409) exactly once and nothing was rejected, and that the
// organization and consumer cells of usage_cells and of every organization's usage summary
// report from reporting equal the ground truth computed from the documents, to the last
// decimal.
func checkCounted(t *testing.T, s *stack, docs []crashDoc, plan objectStoragePlan, reporting *proc) {
	t.Helper()
	checkEvents(t, s, docs)
	truth, asOf := groundTruthOf(docs, plan), s.nowMs()
	checkGroundTruth(t, s, truth, asOf)
	checkReports(t, reporting, truth, asOf)
}

// crashDoc is one document of the stream and what the collector answered.
type crashDoc struct {
	org, space, consumer, instance string // consumer "" is omitted from the document
	end                            int64
	storageEighths, light, heavy   int64 // storage in eighths of a GiB
	body                           []byte
	dupSame, dupOther              bool // post again to the same, or the other, collector
	id                             string
}

// crashStream makes n documents: distinct (their start times differ), over 3 organizations
// × 2 spaces × 3 consumers (one of them left unnamed, metered as UNKNOWN) × 3 instances, with
// ends at a few times from 41 hours to 2 minutes before now, so they span two or three days
// (and two months near a month's start) yet touch few second, minute and hour cells.
func crashStream(rng *rand.Rand, now time.Time, n int) []crashDoc {
	ago := []time.Duration{41 * time.Hour, 30 * time.Hour, 22 * time.Hour, 13 * time.Hour, 4 * time.Hour, 2 * time.Minute}
	docs := make([]crashDoc, n)
	for i := range docs {
		d := &docs[i]
		o, sp, c, in := rng.IntN(3), rng.IntN(2), rng.IntN(3), rng.IntN(3)
		d.org = fmt.Sprintf("crash-org-%d", o)
		d.space = fmt.Sprintf("space-%d-%d", o, sp)
		if c > 0 {
			d.consumer = fmt.Sprintf("app:%d-%d-%d", o, sp, c)
		}
		d.instance = fmt.Sprintf("instance-%d-%d-%d-%d", o, sp, c, in)
		d.end = now.Add(-ago[rng.IntN(len(ago))]).UnixMilli()
		d.storageEighths, d.light, d.heavy = 1+rng.Int64N(64), rng.Int64N(5000), rng.Int64N(200)
		consumer := ""
		if d.consumer != "" {
			consumer = `"consumer_id":"` + d.consumer + `",`
		}
		d.body = fmt.Appendf(nil, `{"start":%d,"end":%d,"organization_id":"%s","space_id":"%s",%s"resource_id":"object-storage",`+
			`"plan_id":"basic","resource_instance_id":"%s","measured_usage":[{"measure":"storage","quantity":%d},`+
			`{"measure":"light_api_calls","quantity":%d},{"measure":"heavy_api_calls","quantity":%d}]}`,
			d.end-1000-int64(i), d.end, d.org, d.space, consumer, d.instance, d.storageEighths*(1<<27), d.light, d.heavy)
		d.dupSame, d.dupOther = rng.IntN(50) == 0, rng.IntN(100) == 0
	}
	return docs
}

// metricSum scrapes p's /metrics and adds up the named counters (0 when unreachable).
func metricSum(p *proc, names []string) float64 {
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && slices.Contains(names, name) {
			v, _ := strconv.ParseFloat(value, 64)
			sum += v
		}
	}
	return sum
}

// objectStoragePlan is the built-in plan the stream is metered with.
type objectStoragePlan struct {
	key    string                     // the plan column of usage_cells
	prices map[string]decimal.Decimal // per metric, in the default account's country (USA)
}

// applyObjectStoragePlan loads the built-in metering, rating and pricing plans of resource
// object-storage, plan basic (internal/plans/builtin) into the provisioning API with
// `meterline plans apply`, and returns their plan key and USA prices.
func applyObjectStoragePlan(t *testing.T, prov *proc) objectStoragePlan {
	t.Helper()
	builtin := filepath.Join(repoRoot(), "internal", "plans", "builtin")
	read := func(name string, v any) {
		b, err := os.ReadFile(filepath.Join(builtin, name))
		if err == nil {
			err = json.Unmarshal(b, v)
		}
		if err != nil {
			t.Fatalf("built-in %s: %v", name, err)
		}
	}
	var mappings map[string]map[string]map[string]string
	read("mappings.json", &mappings)
	dir := t.TempDir()
	write := func(name string, v any) {
		b, err := json.Marshal(v)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]string{}
	for _, kind := range []string{"metering", "rating", "pricing"} {
		id := mappings[kind]["object-storage"]["basic"]
		var all []map[string]any
		read(kind+"-plans.json", &all)
		i := slices.IndexFunc(all, func(p map[string]any) bool { return p["plan_id"] == id })
		if id == "" || i < 0 {
			t.Fatalf("no built-in %s plan for object-storage/basic", kind)
		}
		ids[kind] = id
		write(filepath.Join(kind, id+".json"), all[i])
		write("mappings-"+kind+".json", map[string]map[string]string{"object-storage": {"basic": id}})
	}
	out, err := exec.Command(binary, "plans", "apply", "-f", dir, "--url", "http://"+prov.addr).CombinedOutput()
	if err != nil {
		t.Fatalf("meterline plans apply: %v\n%s", err, out)
	}

	var pricing []struct {
		PlanID  string `json:"plan_id"`
		Metrics []struct {
			Name   string `json:"name"`
			Prices []struct {
				Country string          `json:"country"`
				Price   decimal.Decimal `json:"price"`
			} `json:"prices"`
		} `json:"metrics"`
	}
	read("pricing-plans.json", &pricing)
	plan := objectStoragePlan{key: "basic/" + ids["metering"] + "/" + ids["rating"] + "/" + ids["pricing"], prices: map[string]decimal.Decimal{}}
	for _, p := range pricing {
		if p.PlanID != ids["pricing"] {
			continue
		}
		for _, m := range p.Metrics {
			for _, pr := range m.Prices {
				if pr.Country == "USA" {
					plan.prices[m.Name] = pr.Price
				}
			}
		}
	}
	if len(plan.prices) != 3 {
		t.Fatalf("USA prices of %s: %v, want one per metric", ids["pricing"], plan.prices)
	}
	return plan
}

// truthKey names a cell as usage_cells does.
type truthKey struct {
	scope, org, space, consumer, plan, metric, level string
	from                                             int64
}

// truthValue is a cell's quantity and, for plan-level cells, its cost.
type truthValue struct {
	quantity decimal.Decimal
	cost     *decimal.Decimal
}

// groundTruth is what the organization and consumer cells at the day and month levels must
// hold.
type groundTruth map[truthKey]truthValue

// groundTruthOf computes the cells from the accepted documents (each once), as the built-in
// plan defines them: storage is the GiB maximum of each instance in the period, summed over
// instances; thousand_light_api_calls the light calls / 1000 and heavy_api_calls the heavy
// calls, summed; the cost of a plan-level cell is the price times its quantity (the rating
// plan's rate formulas, and the default one, multiply).
func groundTruthOf(docs []crashDoc, plan objectStoragePlan) groundTruth {
	type inst struct {
		org, space, consumer, instance, level string
		from                                  int64
	}
	type sums struct{ storage, light, heavy int64 }
	perInstance := map[inst]*sums{}
	seen := map[string]bool{}
	for _, d := range docs {
		if seen[d.id] {
			continue
		}
		seen[d.id] = true
		consumer := d.consumer
		if consumer == "" {
			consumer = "UNKNOWN"
		}
		day := d.end - d.end%86_400_000
		tm := time.UnixMilli(d.end).UTC()
		month := time.Date(tm.Year(), tm.Month(), 1, 0, 0, 0, 0, time.UTC).UnixMilli()
		for level, from := range map[string]int64{"day": day, "month": month} {
			k := inst{d.org, d.space, consumer, d.instance, level, from}
			v := perInstance[k]
			if v == nil {
				v = &sums{}
				perInstance[k] = v
			}
			v.storage = max(v.storage, d.storageEighths)
			v.light += d.light
			v.heavy += d.heavy
		}
	}
	type agg struct {
		scope, org, space, consumer, level string
		from                               int64
	}
	totals := map[agg]*sums{}
	for k, v := range perInstance {
		for _, a := range []agg{{"consumer", k.org, k.space, k.consumer, k.level, k.from}, {"organization", k.org, "", "", k.level, k.from}} {
			s := totals[a]
			if s == nil {
				s = &sums{}
				totals[a] = s
			}
			s.storage += v.storage
			s.light += v.light
			s.heavy += v.heavy
		}
	}
	truth := groundTruth{}
	for a, s := range totals {
		for metric, q := range map[string]decimal.Decimal{
			"storage":                  decimal.New(s.storage, 0).Div(decimal.New(8, 0)),
			"thousand_light_api_calls": decimal.New(s.light, -3),
			"heavy_api_calls":          decimal.New(s.heavy, 0),
		} {
			cost := plan.prices[metric].Mul(q)
			truth[truthKey{a.scope, a.org, a.space, a.consumer, plan.key, metric, a.level, a.from}] = truthValue{quantity: q, cost: &cost}
			truth[truthKey{a.scope, a.org, a.space, a.consumer, "", metric, a.level, a.from}] = truthValue{quantity: q}
		}
	}
	return truth
}

// checkGroundTruth compares the organization and consumer cells at the day and month levels
// of usage_cells, read as reports read them (each cell's latest value processed not after
// asOf), with truth: the same cells, the same quantities and costs, exactly.
func checkGroundTruth(t *testing.T, s *stack, truth groundTruth, asOf int64) {
	t.Helper()
	rows, err := s.ch.Query(t.Context(), `SELECT scope, organization_id, space_id, consumer_id, plan, metric, level, period_start_ms,
  toString(argMax(quantity, (processed_ms, kafka_offset))), toString(argMax(cost, (processed_ms, kafka_offset)))
FROM `+s.database+`.usage_cells
WHERE scope IN ('organization', 'consumer') AND level IN ('day', 'month') AND processed_ms <= ? AND visible_ms <= ?
GROUP BY scope, organization_id, space_id, consumer_id, plan, metric, level, period_start_ms`, asOf, asOf)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[truthKey]bool{}
	wrong := 0
	report := func(format string, args ...any) {
		if wrong++; wrong <= 20 {
			t.Errorf(format, args...)
		}
	}
	for rows.Next() {
		var k truthKey
		var q, c *string
		if err := rows.Scan(&k.scope, &k.org, &k.space, &k.consumer, &k.plan, &k.metric, &k.level, &k.from, &q, &c); err != nil {
			t.Fatal(err)
		}
		got[k] = true
		want, ok := truth[k]
		if !ok {
			report("usage_cells has a cell the documents do not make: %+v = %s / %s", k, trim(q), trim(c))
			continue
		}
		if q == nil || !decimal.RequireFromString(*q).Equal(want.quantity) {
			report("cell %+v: quantity %s, want %s", k, trim(q), want.quantity)
		}
		switch {
		case want.cost == nil && c != nil:
			report("cell %+v: cost %s, want none", k, *c)
		case want.cost != nil && (c == nil || !decimal.RequireFromString(*c).Equal(*want.cost)):
			report("cell %+v: cost %s, want %s", k, trim(c), want.cost)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for k, v := range truth {
		if !got[k] {
			report("usage_cells lacks cell %+v, want quantity %s", k, v.quantity)
		}
	}
	if wrong > 20 {
		t.Errorf("... %d wrong cells in all, of %d", wrong, len(truth))
	}
	if wrong == 0 {
		t.Logf("usage_cells: all %d organization and consumer cells equal the ground truth", len(truth))
	}
}

// checkReports reads the usage summary report of every organization of truth as of asOf and
// compares its organization and consumer resources at the day and month levels with truth:
// every plan-level quantity and cost and every resource-level quantity, exactly, and the
// organization's charge (the object storage charge is the cost) as their sum.
func checkReports(t *testing.T, reporting *proc, truth groundTruth, asOf int64) {
	t.Helper()
	orgs := map[string]bool{}
	for k := range truth {
		orgs[k.org] = true
	}
	checked, wrong := 0, 0
	report := func(format string, args ...any) {
		if wrong++; wrong <= 20 {
			t.Errorf(format, args...)
		}
	}
	levels := map[string]int{"day": 3, "month": 4}
	for org := range orgs {
		rep := orgReport(t, reporting, org, asOf)
		// window returns a field of a slot of a level as a decimal, or nil.
		window := func(node any, level string, from int64, field string) *decimal.Decimal {
			lv := levels[level]
			cur := asOf - asOf%86_400_000
			slot := int((cur - from) / 86_400_000)
			if level == "month" {
				a, f := time.UnixMilli(asOf).UTC(), time.UnixMilli(from).UTC()
				slot = (a.Year()-f.Year())*12 + int(a.Month()-f.Month())
			}
			w, _ := path(t, node, "windows", lv, slot).(map[string]any)
			if w == nil || w[field] == nil {
				return nil
			}
			d := decimal.RequireFromString(w[field].(json.Number).String())
			return &d
		}
		// resource checks a resource node against the truth of scope, space and consumer.
		resource := func(res any, scope, space, consumer string) {
			for k, want := range truth {
				if k.org != org || k.scope != scope || k.space != space || k.consumer != consumer {
					continue
				}
				checked++
				var node any
				if k.plan == "" {
					for _, m := range path(t, res, "aggregated_usage").([]any) {
						if path(t, m, "metric") == k.metric {
							node = m
						}
					}
				} else {
					for _, p := range path(t, res, "plans").([]any) {
						for _, m := range path(t, p, "aggregated_usage").([]any) {
							if path(t, m, "metric") == k.metric {
								node = m
							}
						}
					}
				}
				if node == nil {
					report("report of %s: no %s %s/%s metric %s", org, scope, space, consumer, k.metric)
					continue
				}
				if q := window(node, k.level, k.from, "quantity"); q == nil || !q.Equal(want.quantity) {
					report("report of %s: %+v quantity %v, want %s", org, k, q, want.quantity)
				}
				if want.cost != nil {
					if c := window(node, k.level, k.from, "cost"); c == nil || !c.Equal(*want.cost) {
						report("report of %s: %+v cost %v, want %s", org, k, c, want.cost)
					}
				}
			}
		}
		resource(path(t, rep, "resources", 0), "organization", "", "")
		for _, sp := range path(t, rep, "spaces").([]any) {
			for _, c := range path(t, sp, "consumers").([]any) {
				resource(path(t, c, "resources", 0), "consumer", path(t, sp, "space_id").(string), path(t, c, "consumer_id").(string))
			}
		}
		// The organization's charge is the sum of its plan-level costs.
		charges := map[truthKey]decimal.Decimal{}
		for k, v := range truth {
			if k.org == org && k.scope == "organization" && v.cost != nil {
				ck := truthKey{level: k.level, from: k.from}
				charges[ck] = charges[ck].Add(*v.cost)
			}
		}
		for k, want := range charges {
			if got := window(rep, k.level, k.from, "charge"); got == nil || !got.Equal(want) {
				report("report of %s: %s %d charge %v, want %s", org, k.level, k.from, got, want)
			}
		}
	}
	if wrong > 20 {
		t.Errorf("... %d wrong values in the reports in all", wrong)
	}
	if wrong == 0 {
		t.Logf("reports: all %d organization and consumer cells of %d organizations equal the ground truth", checked, len(orgs))
	}
}

// checkEvents checks that usage_events holds each accepted document exactly once, and that
// the processor rejected none.
func checkEvents(t *testing.T, s *stack, docs []crashDoc) {
	t.Helper()
	want := map[string]bool{}
	for _, d := range docs {
		want[d.id] = true
	}
	var rows, distinct, final, rejected uint64
	q := "SELECT count(), uniqExact(id), (SELECT count() FROM " + s.database + ".usage_events FINAL), (SELECT count() FROM " +
		s.database + ".usage_rejections) FROM " + s.database + ".usage_events"
	if err := s.ch.QueryRow(t.Context(), q).Scan(&rows, &distinct, &final, &rejected); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if rows != uint64(len(want)) || distinct != uint64(len(want)) || final != uint64(len(want)) {
		t.Errorf("usage_events has %d rows (%d with FINAL) of %d distinct ids, want %d accepted documents once each",
			rows, final, distinct, len(want))
	}
	if rejected != 0 {
		t.Errorf("usage_rejections has %d rows, want none", rejected)
	}
	ids, err := s.ch.Query(t.Context(), "SELECT DISTINCT id FROM "+s.database+".usage_events")
	if err != nil {
		t.Fatal(err)
	}
	defer ids.Close()
	for ids.Next() {
		var id string
		if err := ids.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if !want[id] {
			t.Errorf("usage_events has %s, which no POST answered", id)
		}
		delete(want, id)
	}
	if len(want) > 0 {
		missing := slices.Sorted(func(yield func(string) bool) {
			for id := range want {
				if !yield(id) {
					return
				}
			}
		})
		t.Errorf("usage_events lacks %d accepted documents, such as %v", len(want), missing[:min(5, len(missing))])
	}
}

// waitDrained waits until the raw sink has stored every document, the processor has
// committed its way to the end of the collected topic, and the cell and rejection sinks have
// written everything the processor committed.
func waitDrained(t *testing.T, s *stack) {
	t.Helper()
	adm := s.admin()
	// lag returns how many offsets group has still to consume of topic, by partition. On a
	// transactional topic, offsets past a consumer's last record may hold only transaction
	// markers and aborted records, which it never commits past: there the partitions it
	// lags in are those where a read-committed consumer still finds a record.
	lag := func(group, topic string, transactional bool) (map[int32]int64, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error() // a partition's unknown end is no drained partition
		}
		if err != nil {
			return nil, err
		}
		committed, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return nil, err
		}
		out := map[int32]int64{}
		ends.Each(func(o kadm.ListedOffset) {
			at := int64(0)
			if c, ok := committed.Lookup(topic, o.Partition); ok && c.At > 0 {
				at = c.At
			}
			if o.Offset > at {
				out[o.Partition] = o.Offset - at
			}
		})
		if !transactional || len(out) == 0 {
			return out, nil
		}
		from := map[int32]kgo.Offset{}
		for p, n := range out {
			from[p] = kgo.NewOffset().At(ends[topic][p].Offset - n)
		}
		tail, err := kgo.NewClient(kgo.SeedBrokers(s.brokers), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))
		if err != nil {
			return nil, err
		}
		defer tail.Close()
		for len(out) > 0 {
			fetches := tail.PollFetches(ctx)
			if err := fetches.Err0(); err != nil {
				return nil, err
			}
			for _, r := range fetches.Records() {
				if _, open := out[r.Partition]; !open {
					continue
				}
				if !r.Attrs.IsControl() {
					return out, nil // a record the group has yet to consume
				}
				if r.Offset+1 >= ends[topic][r.Partition].Offset {
					delete(out, r.Partition)
				}
			}
		}
		return out, nil
	}
	wait := func(what, group, topic string, transactional bool) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			l, err := lag(group, topic, transactional)
			if err == nil && len(l) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s (group %s) did not reach the end of %s within 3 minutes: offsets left by partition %v (%v)", what, group, topic, l, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	wait("the raw sink", s.prefix+"-sink-raw", s.prefix+".usage.collected.v1", false)
	wait("the metering processor", s.prefix+"-processor", s.prefix+".usage.collected.v1", false)
	wait("the cell sink", s.prefix+"-sink-cells", s.prefix+".usage.rated.v2", true)
	wait("the rejection sink", s.prefix+"-sink-rejections", s.prefix+".usage.rejected.v1", true)
}
