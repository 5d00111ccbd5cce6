package elasticbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/poller/elasticbox/ebsim"
	"github.com/meterline/meterline/internal/poller/pollertest"
	"github.com/meterline/meterline/internal/usage"
)

// d0 is the first day the tests read: two days before the pinned instant's day, so that the
// days read cross no boundary the tests do not choose.
var d0 = clock.Instants[0].Truncate(24*time.Hour).AddDate(0, 0, -2)

func ptr(t time.Time) *time.Time { return &t }

func at(h float64) time.Time { return d0.Add(time.Duration(h * float64(time.Hour))) }

// fleet: organization acme has an instance up all of d0 and on, one that goes down and up
// again within d0 at microsecond times, and one created and deleted inside d0+1; beta has one
// instance; gamma none.
func fleet() ebsim.Script {
	mk := func(id, org string, cents int64, created time.Time, deleted *time.Time, states ...ebsim.State) ebsim.Instance {
		return ebsim.Instance{ID: id, Organization: org, ProviderID: "prov-" + org, Flavor: "m1.small", Location: "us-east-1",
			Type: "Linux Compute", CPU: 1, MemoryGiB: 2, DiskGB: 20, Created: created, Deleted: deleted, CentsPerHour: cents, History: states}
	}
	return ebsim.Script{Token: "secret", Organizations: []string{"acme", "beta", "gamma"}, Instances: []ebsim.Instance{
		mk("eb-a1", "acme", 10, at(-30), nil, ebsim.State{State: "up", Started: at(-29)}),
		mk("eb-a2", "acme", 7, at(1), nil,
			ebsim.State{State: "up", Started: at(1).Add(250 * time.Microsecond)},
			ebsim.State{State: "down", Started: at(3.5).Add(17 * time.Microsecond)},
			ebsim.State{State: "up", Started: at(20)}),
		mk("eb-a3", "acme", 100, at(26), ptr(at(30.25)), ebsim.State{State: "up", Started: at(26.5)}),
		mk("eb-b1", "beta", 3, at(-100), nil, ebsim.State{State: "down", Started: at(-100)}, ebsim.State{State: "up", Started: at(12)}),
	}}
}

type env struct {
	sim *ebsim.Sim
	clk *clock.Manual
	p   *Provider
}

func newEnv(t *testing.T, sc ebsim.Script, scale int64, wrap ...func(http.Handler) http.Handler) *env {
	t.Helper()
	e := &env{clk: clock.NewManual(d0.Add(24*time.Hour + 30*time.Minute))}
	e.sim = ebsim.New(sc, e.clk)
	h := e.sim.Handler()
	for _, w := range wrap {
		h = w(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e.p = New(Config{URL: srv.URL, Organizations: []string{"beta", "acme", "gamma", "acme"}, CostScale: scale, Lag: 10 * time.Minute,
		Client: &poller.Client{HTTP: srv.Client(), Auth: Token("secret"), Clock: e.clk}})
	return e
}

func (e *env) initial(t *testing.T) []byte {
	t.Helper()
	st, err := e.p.Initial(d0.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"next":%q}`, d0.Format(DayLayout)); string(st) != want {
		t.Fatalf("Initial = %s, want %s (the first whole day after the start)", st, want)
	}
	return st
}

func (e *env) poll(t *testing.T, st []byte) poller.Batch {
	t.Helper()
	return pollertest.Poll(t, e.p, st, e.clk)
}

func secs(d time.Duration) decimal.Decimal { return decimal.New(d.Microseconds(), -6) }

func measures(d usage.Document) map[string]string {
	out := map[string]string{}
	for _, m := range d.MeasuredUsage {
		out[m.Measure] = m.Quantity.String()
	}
	return out
}

// TestDays reads d0 and d0+1: one document per instance and day with cost or up-time, the
// cost in dollars, the up-time exact to the microsecond from state_history clipped to the
// day; a day not yet due (lag) is idle.
func TestDays(t *testing.T) {
	e := newEnv(t, fleet(), 0)
	st := e.initial(t)
	b := e.poll(t, st)
	if b.Idle || !b.Through.Equal(d0.AddDate(0, 0, 1)) {
		t.Fatalf("batch idle %v through %v", b.Idle, b.Through)
	}
	a2up := secs(at(3.5).Add(17*time.Microsecond).Sub(at(1).Add(250*time.Microsecond)) + 4*time.Hour)
	want := []struct {
		id, dedup string
		m         map[string]string
	}{
		{"eb-a1", "eb:acme:eb-a1:" + d0.Format(DayLayout), map[string]string{Cost: "2.4", UpSeconds: "86400"}},
		{"eb-a2", "eb:acme:eb-a2:" + d0.Format(DayLayout), map[string]string{Cost: "0.45", UpSeconds: a2up.String()}},
		{"eb-b1", "eb:beta:eb-b1:" + d0.Format(DayLayout), map[string]string{Cost: "0.36", UpSeconds: "43200"}},
	}
	if len(b.Docs) != len(want) {
		t.Fatalf("%d documents, want %d: %+v", len(b.Docs), len(want), b.Docs)
	}
	for i, w := range want {
		d := b.Docs[i]
		if d.ResourceInstanceID != w.id || d.DedupID != w.dedup || d.ResourceID != Resource || d.PlanID != Plan ||
			d.Start != d0.UnixMilli() || d.End != d0.AddDate(0, 0, 1).UnixMilli()-1 {
			t.Errorf("document %d: %+v", i, d)
		}
		if got := measures(d); !mapsEqual(got, w.m) {
			t.Errorf("document %s measures %v, want %v", w.id, got, w.m)
		}
		if _, err := usage.NewEvent(d, Source("x"), e.clk.Now(), ""); err != nil {
			t.Errorf("document %s is not valid: %v", w.id, err)
		}
	}
	// Read again: the same documents (deterministic).
	again := e.poll(t, st)
	if !slices.EqualFunc(ids(b.Docs), ids(again.Docs), func(a, b string) bool { return a == b }) {
		t.Errorf("a re-read gave other documents: %v, %v", ids(b.Docs), ids(again.Docs))
	}
	// d0+1 is not due before its end plus the lag.
	e.clk.Set(d0.Add(48*time.Hour + 5*time.Minute))
	if idle := e.poll(t, b.State); !idle.Idle || !idle.Next.Equal(d0.Add(48*time.Hour+10*time.Minute)) {
		t.Errorf("d0+1 before its lag: %+v", idle)
	}
	e.clk.Set(d0.Add(48*time.Hour + 10*time.Minute))
	b2 := e.poll(t, b.State)
	got := map[string]map[string]string{}
	for _, d := range b2.Docs {
		got[d.ResourceInstanceID] = measures(d)
	}
	a3 := got["eb-a3"]
	if a3[UpSeconds] != "13500" || a3[Cost] != "3.75" { // up 26.5h..30.25h: 3.75 h at 100 cents
		t.Errorf("eb-a3 on d0+1: %v", a3)
	}
	if string(b2.State) != fmt.Sprintf(`{"next":%q}`, d0.AddDate(0, 0, 2).Format(DayLayout)) {
		t.Errorf("state %s", b2.State)
	}
}

func ids(docs []usage.Document) []string { return pollertest.IDs(docs) }

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestCostScale: a scale of 10000 reads the integers as hundredths of cents.
func TestCostScale(t *testing.T) {
	e := newEnv(t, fleet(), 10000)
	b := e.poll(t, e.initial(t))
	if got := measures(b.Docs[0])[Cost]; got != "0.024" {
		t.Errorf("cost %s, want 0.024", got)
	}
}

// TestCSVFallback: a broken JSON report makes the poller read the CSV of the same day: cost
// only, with a notice.
func TestCSVFallback(t *testing.T) {
	sc := fleet()
	sc.Faults.BrokenJSONDays = []string{d0.Format(DayLayout)}
	e := newEnv(t, sc, 0)
	b := e.poll(t, e.initial(t))
	if len(b.Docs) != 3 {
		t.Fatalf("%d documents, want 3", len(b.Docs))
	}
	for _, d := range b.Docs {
		if m := measures(d); len(m) != 1 || m[UpSeconds] != "" {
			t.Errorf("document %s from the CSV: %v, want the cost alone", d.ResourceInstanceID, m)
		}
	}
	if got := measures(b.Docs[1])[Cost]; got != "0.45" {
		t.Errorf("eb-a2 cost from the CSV %s, want 0.45", got)
	}
	var n int
	for _, ns := range b.Notices {
		if ns.Kind == "csv_fallback" {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d csv_fallback notices, want 3 (acme, beta, gamma): %+v", n, b.Notices)
	}
}

// TestUndecodable: when neither the JSON nor the CSV can be read, Poll fails with a
// DecodeError holding the JSON payload, and the state does not move.
func TestUndecodable(t *testing.T) {
	sc := fleet()
	sc.Faults.BrokenJSONDays = []string{d0.Format(DayLayout)}
	e := newEnv(t, sc, 0, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/csv/") {
				_, _ = w.Write([]byte("NOT,A,REPORT\n1,2,3\n"))
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	_, err := e.p.Poll(context.Background(), e.initial(t), e.clk.Now())
	var de *poller.DecodeError
	if !errors.As(err, &de) || len(de.Payload) == 0 || poller.KindOf(err) != poller.KindUndecodable {
		t.Fatalf("Poll = %v, want a DecodeError", err)
	}
}

// TestFaults: 429 (with its Retry-After), 5xx and a refused token are errors of their kinds;
// the day read after them is the same.
func TestFaults(t *testing.T) {
	for _, c := range []struct {
		name   string
		faults ebsim.Faults
		token  string
		kind   string
		retry  time.Duration
	}{
		{"429", ebsim.Faults{RateLimitEvery: 1, RetryAfter: 7}, "secret", poller.KindRateLimited, 7 * time.Second},
		{"5xx", ebsim.Faults{ServerErrorEvery: 1}, "secret", poller.KindServer, 0},
		{"401", ebsim.Faults{}, "other", poller.KindUnauthorized, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := fleet()
			sc.Faults = c.faults
			sc.Token = c.token
			e := newEnv(t, sc, 0)
			_, err := e.p.Poll(context.Background(), e.initial(t), e.clk.Now())
			if poller.KindOf(err) != c.kind || poller.RetryAfterOf(err) != c.retry {
				t.Fatalf("Poll = %v (kind %s, retry after %v), want kind %s after %v", err, poller.KindOf(err), poller.RetryAfterOf(err), c.kind, c.retry)
			}
		})
	}
}

// TestSamples parses the recorded samples: the JSON report (seven days, so refused for one
// day) and the CSV, whose rows carry 10 of the header's 21 columns.
func TestSamples(t *testing.T) {
	js, err := os.ReadFile("testdata/organization_report.elasticbox-docs.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseJSON(js, "elasticbox", d0); err == nil || !strings.Contains(err.Error(), "7 costs for one day") {
		t.Errorf("the 7-day sample read as one day: %v", err)
	}
	var r Report
	if err := json.Unmarshal(js, &r); err != nil || len(r.Cost) != 1 || r.Cost[0].Service.ID != "eb-zwm7u" || len(r.Cost[0].Service.StateHistory) != 1 {
		t.Errorf("sample decoded as %+v (%v)", r, err)
	}
	cs, err := os.ReadFile("testdata/organization_csv.elasticbox-docs.csv")
	if err != nil {
		t.Fatal(err)
	}
	items, err := parseCSV(cs, time.Date(2015, 10, 19, 0, 0, 0, 0, time.UTC))
	if err != nil || len(items) != 1 || items[0].service != "eb-o125v" || !items[0].cost.IsZero() || items[0].providerID != "5908ee9b-0c0a-4af6-8eef-2dc9f95d033a" {
		t.Errorf("CSV sample: %+v, %v", items, err)
	}
}

// TestBadCosts: a negative or fractional cost, a service twice or of another organization is
// refused, every problem named.
func TestBadCosts(t *testing.T) {
	body := `{"cost":[{"cost":[-1],"service":{"id":"eb-1"}},{"cost":[1.5],"service":{"id":"eb-2"}},
{"cost":[1],"service":{"id":"eb-3","organization":"other"}},{"cost":[1],"service":{"id":"eb-3"}},
{"cost":[1],"service":{"id":"eb-4","state_history":[{"started":"yesterday","state":"up"}]}}]}`
	_, err := parseJSON([]byte(body), "acme", d0)
	for _, want := range []string{"eb-1 cost \"-1\"", "eb-2 cost \"1.5\"", "organization \"other\"", "eb-3 listed twice", "\"yesterday\" is not a time"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// TestInitialAtMidnight: a start on a day's first instant starts that day.
func TestInitialAtMidnight(t *testing.T) {
	p := New(Config{})
	st, err := p.Initial(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || string(st) != `{"next":"2026-01-01"}` {
		t.Errorf("Initial = %s, %v", st, err)
	}
	st, _ = p.Initial(time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC))
	if string(st) != `{"next":"2026-01-01"}` {
		t.Errorf("Initial at the year's last second = %s", st)
	}
}

// TestDayGoesOn: with every second request failing, a day of three organizations (a JSON and
// a CSV request each) is never read whole in one Poll; each Poll goes on from the request
// that failed, and the sixth gives the same documents as a day read without faults.
func TestDayGoesOn(t *testing.T) {
	want := ids(newEnv(t, fleet(), 0).poll(t, newEnv(t, fleet(), 0).initial(t)).Docs)
	sc := fleet()
	sc.Faults.ServerErrorEvery = 2
	e := newEnv(t, sc, 0)
	st := e.initial(t)
	for i := range 5 {
		if _, err := e.p.Poll(context.Background(), st, e.clk.Now()); poller.KindOf(err) != poller.KindServer {
			t.Fatalf("poll %d: %v, want a 5xx", i, err)
		}
	}
	if got := ids(e.poll(t, st).Docs); !slices.Equal(got, want) {
		t.Errorf("documents %v, want %v", got, want)
	}
}
