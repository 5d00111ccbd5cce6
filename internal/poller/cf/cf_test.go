package cf

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/poller/cf/cfsim"
	"github.com/meterline/meterline/internal/usage"
)

// t0 is where the tests' clocks start; each test also runs at the month and year boundaries.
var instants = clock.Instants

const minAge = time.Minute

// foundation is a simulator and a provider reading it through UAA.
type foundation struct {
	sim *cfsim.Sim
	clk *clock.Manual
	p   *Provider
	st  []byte
}

func newFoundation(t *testing.T, t0 time.Time, script cfsim.Script, client string, wrap ...func(http.Handler) http.Handler) *foundation {
	t.Helper()
	f := &foundation{clk: clock.NewManual(t0)}
	f.sim = cfsim.New(script, f.clk)
	h := f.sim.Handler()
	for _, w := range wrap {
		h = w(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	auth := &UAA{URL: cfsim.UAAURL(srv.URL), ClientID: client, ClientSecret: cfsim.Secret, HTTP: srv.Client()}
	f.p = New(Config{Foundation: "sim", API: cfsim.APIURL(srv.URL), MinAge: minAge, Overlap: 15 * time.Minute, PerPage: 3, MaxPages: 4,
		Client: &poller.Client{HTTP: srv.Client(), Auth: auth, Clock: f.clk}})
	st, err := f.p.Initial(t0)
	if err != nil {
		t.Fatal(err)
	}
	f.st = st
	return f
}

// poll polls until idle, collecting the documents and notices.
func (f *foundation) poll(t *testing.T) ([]usage.Document, []poller.Notice) {
	t.Helper()
	var docs []usage.Document
	var notices []poller.Notice
	for range 50 {
		b, err := f.p.Poll(context.Background(), f.st, f.clk.Now())
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		if b.Idle {
			return docs, notices
		}
		for _, d := range b.Docs {
			if _, err := usage.NewEvent(d, Source("sim"), f.clk.Now(), ""); err != nil {
				t.Fatalf("document %+v is refused by the collector's rules: %v", d, err)
			}
		}
		docs, notices, f.st = append(docs, b.Docs...), append(notices, b.Notices...), b.State
	}
	t.Fatal("the poller never became idle")
	return nil, nil
}

// line is a document in short: resource instance @ offset from t0, current/previous.
func lines(t0 time.Time, docs []usage.Document) []string {
	t0 = t0.Truncate(time.Second) // events carry whole seconds
	var out []string
	for _, d := range docs {
		var q []string
		for _, m := range d.MeasuredUsage {
			q = append(q, m.Quantity.String())
		}
		out = append(out, d.ResourceID+" "+d.ResourceInstanceID+" @"+time.UnixMilli(d.End).Sub(t0).String()+" "+strings.Join(q, "/"))
	}
	return out
}

func eq(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
}

const gb = "1073741824"

// fleet: app a1 in org o1 runs since two days before t0 (its start is in the stream: the
// first start must not replay it), a2 starts after the first poll.
func fleet(t0 time.Time) cfsim.Script {
	return cfsim.Script{Actions: []cfsim.Action{
		{At: t0.Add(-48 * time.Hour), Kind: "start", Org: "o1", Space: "s1", App: "a1", MemoryMB: 1024, Instances: 2},
		{At: t0.Add(-47 * time.Hour), Kind: "start", Org: "o1", Space: "s1", App: "old", MemoryMB: 512, Instances: 1},
		{At: t0.Add(-46 * time.Hour), Kind: "stop", App: "old"},
		{At: t0.Add(-45 * time.Hour), Kind: "create_service", Org: "o1", Space: "s1", Instance: "db1", Plan: "small", Name: "db"},
	}}
}

func TestFirstStartTakesASnapshotAndPreviousComesFromState(t *testing.T) {
	for _, t0 := range instants {
		f := newFoundation(t, t0, fleet(t0), cfsim.Client)
		docs, _ := f.poll(t)
		at := "0s"
		eq(t, "first start", lines(t0, docs), []string{
			"linux-container memory:a1 @" + at + " 1073741824/2/0/0",
			"cf-service service:db1:small @" + at + " 1/0",
		})
		f.sim.Play(cfsim.Action{At: t0.Truncate(time.Second).Add(10 * time.Second), Kind: "scale", App: "a1", Instances: 3},
			cfsim.Action{At: t0.Truncate(time.Second).Add(20 * time.Second), Kind: "start", Org: "o2", Space: "s2", App: "a2", MemoryMB: 256, Instances: 1})
		f.clk.Set(t0.Add(20*time.Second + minAge))
		docs, _ = f.poll(t)
		eq(t, "after the snapshot", lines(t0, docs), []string{
			"linux-container memory:a1 @10s 1073741824/3/1073741824/2",
			"linux-container memory:a2 @20s 268435456/1/0/0",
		})
		if docs[0].OrganizationID != "o1" || docs[1].OrganizationID != "o2" || docs[1].SpaceID != "s2" || docs[1].ConsumerID != "app:a2" {
			t.Fatalf("hierarchy: %+v", docs)
		}
	}
}

// corrupt rewrites every previous value Cloud Controller sends: the documents must not change.
func corrupt(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		body := rec.Body.String()
		if strings.Contains(r.URL.Path, "usage_events") {
			var m map[string]any
			if json.Unmarshal([]byte(body), &m) == nil {
				for _, res := range m["resources"].([]any) {
					for _, k := range []string{"memory_in_mb_per_instance", "instance_count"} {
						if p, ok := res.(map[string]any)[k].(map[string]any); ok {
							p["previous"] = 777
						}
					}
				}
				raw, _ := json.Marshal(m)
				body = string(raw)
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write([]byte(body))
	})
}

func scenario(t0 time.Time) []cfsim.Action {
	return []cfsim.Action{
		{At: t0.Add(5 * time.Second), Kind: "start", Org: "o1", Space: "s1", App: "a3", MemoryMB: 128, Instances: 1},
		// same second: scaled twice, one document from nothing to the last footprint
		{At: t0.Add(5*time.Second + 300*time.Millisecond), Kind: "scale", App: "a3", Instances: 4},
		{At: t0.Add(5*time.Second + 600*time.Millisecond), Kind: "scale", App: "a3", MemoryMB: 256},
		// a restage: staging and BUILDPACK_SET in one second count nothing
		{At: t0.Add(30 * time.Second), Kind: "restage", App: "a1"},
		{At: t0.Add(40 * time.Second), Kind: "task", Org: "o1", Space: "s1", App: "a1", Task: "t1", MemoryMB: 512, Duration: 90 * time.Second},
		{At: t0.Add(50 * time.Second), Kind: "staging", Org: "o1", Space: "s1", App: "a3", Duration: 70 * time.Second},
		{At: t0.Add(60 * time.Second), Kind: "update_service", Instance: "db1", Name: "renamed"},
		{At: t0.Add(70 * time.Second), Kind: "update_service", Instance: "db1", Plan: "large"},
		{At: t0.Add(80 * time.Second), Kind: "delete_service", Instance: "db1"},
		{At: t0.Add(90 * time.Second), Kind: "stop", App: "a1"},
		{At: t0.Add(91 * time.Second), Kind: "stop", App: "a1"}, // stopped twice: nothing
	}
}

var scenarioLines = []string{
	"linux-container memory:a3 @5s 268435456/4/0/0",
	"cf-task task:t1 @40s 536870912/1/0/0",
	"cf-staging staging:a3 @50s 1073741824/1/0/0",
	"linux-container memory:a1 @1m30s 0/0/" + gb + "/2",
	"cf-task task:t1 @2m10s 0/0/536870912/1",
	"cf-staging staging:a3 @2m0s 0/0/1073741824/1",
	"cf-service service:db1:small @1m10s 0/1",
	"cf-service service:db1:large @1m10s 1/0",
	"cf-service service:db1:large @1m20s 0/1",
}

func runScenario(t *testing.T, t0 time.Time, v2 bool, wrap ...func(http.Handler) http.Handler) []string {
	t0 = t0.Truncate(time.Minute)
	sc := fleet(t0)
	sc.V2Only = v2
	f := newFoundation(t, t0, sc, cfsim.Client, wrap...)
	f.poll(t)
	f.sim.Play(scenario(t0)...)
	var got []usage.Document
	for step := time.Duration(0); step <= 4*time.Minute; step += 7 * time.Second {
		f.clk.Set(t0.Add(step))
		docs, _ := f.poll(t)
		got = append(got, docs...)
	}
	for _, d := range got {
		if !strings.HasPrefix(d.DedupID, "cf:sim:") {
			t.Fatalf("dedup id %q without the foundation", d.DedupID)
		}
	}
	return lines(t0, got)
}

func TestEventsFoldBuildpackTasksStagingServices(t *testing.T) {
	for _, t0 := range instants {
		got := runScenario(t, t0, false)
		slices.Sort(got)
		want := slices.Clone(scenarioLines)
		slices.Sort(want)
		eq(t, "v3", got, want)
	}
}

func TestPreviousValuesComeFromTheState(t *testing.T) {
	got := runScenario(t, instants[0], false, corrupt)
	slices.Sort(got)
	want := slices.Clone(scenarioLines)
	slices.Sort(want)
	eq(t, "with Cloud Controller's previous values rewritten", got, want)
}

func TestV2FallbackGivesTheSameDocuments(t *testing.T) {
	got := runScenario(t, instants[1], true)
	slices.Sort(got)
	want := slices.Clone(scenarioLines)
	slices.Sort(want)
	eq(t, "v2", got, want)
}

func TestMinimumAgeByTheProvidersDate(t *testing.T) {
	t0 := instants[2]
	f := newFoundation(t, t0, fleet(t0), cfsim.Client)
	f.poll(t)
	f.sim.Play(cfsim.Action{At: t0.Add(time.Second), Kind: "start", Org: "o1", Space: "s1", App: "a9", MemoryMB: 64, Instances: 1})
	f.clk.Set(t0.Add(time.Second + minAge - time.Millisecond))
	if docs, _ := f.poll(t); len(docs) != 0 {
		t.Fatalf("an event younger than the minimum age was read: %v", lines(t0, docs))
	}
	f.clk.Set(t0.Add(time.Second + minAge))
	if docs, _ := f.poll(t); len(docs) != 1 {
		t.Fatalf("the mature event: %v", lines(t0, docs))
	}
}

func TestOverlapReadsRowsCommittedLateOnce(t *testing.T) {
	t0 := instants[0]
	play := func(overlap time.Duration) (before, after []string) {
		f := newFoundation(t, t0, fleet(t0), cfsim.Client)
		f.p.cfg.Overlap = overlap
		f.poll(t)
		f.sim.Play(
			cfsim.Action{At: t0.Add(time.Second), Kind: "start", Org: "o1", Space: "s1", App: "late", MemoryMB: 64, Instances: 1, CommitDelay: 3 * time.Minute},
			cfsim.Action{At: t0.Add(2 * time.Second), Kind: "start", Org: "o1", Space: "s1", App: "early", MemoryMB: 64, Instances: 1},
			cfsim.Action{At: t0.Add(50 * time.Second), Kind: "scale", App: "early", Instances: 2})
		f.clk.Set(t0.Add(2 * time.Minute))
		docs, _ := f.poll(t)
		before = lines(t0, docs)
		for _, d := range []time.Duration{4 * time.Minute, 5 * time.Minute, 30 * time.Minute} {
			f.clk.Set(t0.Add(d))
			docs, _ = f.poll(t)
			after = append(after, lines(t0, docs)...)
		}
		return before, after
	}
	early := []string{"linux-container memory:early @2s 67108864/1/0/0", "linux-container memory:early @50s 67108864/2/67108864/1"}
	before, after := play(15 * time.Minute)
	eq(t, "before the late commit", before, early)
	eq(t, "after the late commit, read once", after, []string{"linux-container memory:late @1s 67108864/1/0/0"})
	// The control: without the overlap, the late row is lost (what the overlap is for).
	before, after = play(time.Second)
	eq(t, "no overlap, before", before, early)
	eq(t, "no overlap, after", after, nil)
}

func TestPrunedCursorAndPurgeAreReconciledAgainstASnapshot(t *testing.T) {
	for _, fault := range []string{"prune", "purge"} {
		t0 := instants[3].Truncate(time.Second)
		f := newFoundation(t, t0, fleet(t0), cfsim.Client)
		f.poll(t)
		// Between two polls a1 stops, b1 starts, and the stream is pruned or purged.
		f.sim.Play(
			cfsim.Action{At: t0.Add(20 * time.Second), Kind: "start", Org: "o1", Space: "s1", App: "keep", MemoryMB: 64, Instances: 1})
		f.clk.Set(t0.Add(2 * time.Minute))
		f.poll(t)
		f.sim.Play(
			cfsim.Action{At: t0.Add(3 * time.Minute), Kind: "stop", App: "a1"},
			cfsim.Action{At: t0.Add(3 * time.Minute), Kind: "start", Org: "o3", Space: "s3", App: "b1", MemoryMB: 64, Instances: 2},
			cfsim.Action{At: t0.Add(3*time.Minute + time.Second), Kind: "start", Org: "o3", Space: "s3", App: "filler", MemoryMB: 64, Instances: 1},
			cfsim.Action{At: t0.Add(4 * time.Minute), Kind: fault})
		f.clk.Set(t0.Add(6 * time.Minute))
		docs, notices := f.poll(t)
		at := t0.Add(6 * time.Minute).Truncate(time.Second).Sub(t0).String()
		eq(t, fault, lines(t0, docs), []string{
			"linux-container memory:a1 @" + at + " 0/0/" + gb + "/2",
			"linux-container memory:b1 @" + at + " 67108864/2/0/0",
			"linux-container memory:filler @" + at + " 67108864/1/0/0",
		})
		if !slices.ContainsFunc(notices, func(n poller.Notice) bool { return n.Kind == "discontinuity" }) {
			t.Fatalf("%s: no discontinuity notice: %v", fault, notices)
		}
		f.sim.Play(cfsim.Action{At: t0.Add(7 * time.Minute), Kind: "stop", App: "keep"})
		f.clk.Set(t0.Add(9 * time.Minute))
		docs, _ = f.poll(t)
		eq(t, fault+", then", lines(t0, docs), []string{"linux-container memory:keep @7m0s 0/0/67108864/1"})
	}
}

func TestWeakTokenIsAMisconfiguration(t *testing.T) {
	t0 := instants[0]
	f := newFoundation(t, t0, fleet(t0), cfsim.WeakClient)
	_, err := f.p.Poll(context.Background(), f.st, f.clk.Now())
	var me *poller.MisconfiguredError
	if !errors.As(err, &me) || poller.KindOf(err) != poller.KindMisconfigured {
		t.Fatalf("Poll with a weak token = %v, want a misconfiguration", err)
	}
}

func TestReauthenticatesOn401AndRetriesFaults(t *testing.T) {
	t0 := instants[0]
	f := newFoundation(t, t0, fleet(t0), cfsim.Client)
	f.poll(t)
	f.sim.Inject(cfsim.Faults{ExpireTokens: true})
	f.sim.Play(cfsim.Action{At: t0.Add(time.Second), Kind: "start", Org: "o1", Space: "s1", App: "a9", MemoryMB: 64, Instances: 1})
	f.clk.Set(t0.Add(2 * time.Minute))
	if docs, _ := f.poll(t); len(docs) != 1 {
		t.Fatalf("after the token expired: %v", lines(t0, docs))
	}
	f.sim.Inject(cfsim.Faults{TooMany: 1})
	_, err := f.p.Poll(context.Background(), f.st, f.clk.Now())
	if poller.KindOf(err) != poller.KindRateLimited || poller.RetryAfterOf(err) != time.Second {
		t.Fatalf("429: %v", err)
	}
	f.sim.Inject(cfsim.Faults{Errors: 1})
	if _, err := f.p.Poll(context.Background(), f.st, f.clk.Now()); poller.KindOf(err) != poller.KindServer {
		t.Fatalf("503: %v", err)
	}
}

// TestPruneThatEmptiesTheAppStreamIsNotAMisconfiguration: a prune that leaves only a service
// event, so the app stream is empty while apps run (found by TestCFPollerCrashes with a short
// overlap), is a discontinuity reconciled against the snapshot, not a token without global
// read: the poll succeeds, nothing changed is emitted, and an app started later is counted
// from its own event's time (before, the poller failed as misconfigured until the next app
// event, and then dated that app's start at the late snapshot).
func TestPruneThatEmptiesTheAppStreamIsNotAMisconfiguration(t *testing.T) {
	t0 := instants[3].Truncate(time.Second)
	f := newFoundation(t, t0, fleet(t0), cfsim.Client)
	f.p.cfg.Overlap = time.Second
	f.poll(t)
	f.sim.Play(cfsim.Action{At: t0.Add(20 * time.Second), Kind: "scale", App: "a1", Instances: 3},
		cfsim.Action{At: t0.Add(30 * time.Second), Kind: "scale", App: "a1", Instances: 2})
	f.clk.Set(t0.Add(2 * time.Minute))
	f.poll(t)
	f.sim.Play(cfsim.Action{At: t0.Add(3 * time.Minute), Kind: "delete_service", Instance: "db1"},
		cfsim.Action{At: t0.Add(4 * time.Minute), Kind: "prune"})
	f.clk.Set(t0.Add(6 * time.Minute))
	docs, notices := f.poll(t)
	at := t0.Add(6 * time.Minute).Sub(t0).String()
	eq(t, "after the prune", lines(t0, docs), []string{"cf-service service:db1:small @" + at + " 0/1"})
	if !slices.ContainsFunc(notices, func(n poller.Notice) bool { return n.Kind == "discontinuity" }) {
		t.Fatalf("no discontinuity notice: %v", notices)
	}
	f.sim.Play(cfsim.Action{At: t0.Add(7 * time.Minute), Kind: "start", Org: "o1", Space: "s1", App: "late", MemoryMB: 64, Instances: 1})
	f.clk.Set(t0.Add(9 * time.Minute))
	docs, _ = f.poll(t)
	eq(t, "then", lines(t0, docs), []string{"linux-container memory:late @7m0s 67108864/1/0/0"})
}
