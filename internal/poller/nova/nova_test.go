package nova

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/poller/nova/novasim"
	"github.com/meterline/meterline/internal/usage"
)

// h0 is the start of the windows the tests read: a whole hour.
var h0 = clock.Instants[0].Add(-10 * time.Hour)

func ptr(t time.Time) *time.Time { return &t }

// fleet: tenant a has three servers, b two; one launched inside the first window at a time
// with microseconds, one terminated inside it, one resized later.
func fleet() novasim.Script {
	return novasim.Script{Flavors: novasim.Flavors, Servers: []novasim.Server{
		{ID: "a-1", Name: "web", Tenant: "a", Flavor: "m1.small", Launched: h0.Add(-48 * time.Hour)},
		{ID: "a-2", Name: "db", Tenant: "a", Flavor: "m1.large", Launched: h0.Add(17*time.Minute + 4*time.Second + 541277*time.Microsecond)},
		{ID: "a-3", Name: "job", Tenant: "a", Flavor: "m1.tiny", Launched: h0.Add(-time.Hour), Terminated: ptr(h0.Add(20*time.Minute + 250*time.Millisecond))},
		{ID: "b-1", Name: "ci", Tenant: "b", Flavor: "m1.medium", Launched: h0.Add(-3 * time.Hour)},
		{ID: "b-2", Name: "ci-2", Tenant: "b", Flavor: "m1.xlarge", Launched: h0.Add(-2 * time.Hour)},
	}}
}

// cloud is a simulator and a provider reading it through Keystone.
type cloud struct {
	sim *novasim.Sim
	clk *clock.Manual
	p   *Provider
	srv *httptest.Server
}

func newCloud(t *testing.T, script novasim.Script, limit int, wrap ...func(*novasim.Sim, http.Handler) http.Handler) *cloud {
	t.Helper()
	c := &cloud{clk: clock.NewManual(h0.Add(2 * time.Hour))}
	c.sim = novasim.New(script, c.clk)
	mux := http.NewServeMux()
	c.srv = httptest.NewServer(mux)
	t.Cleanup(c.srv.Close)
	var h http.Handler = c.sim.Handler(c.srv.URL)
	for _, w := range wrap {
		h = w(c.sim, h)
	}
	mux.Handle("/", h)
	ks := NewKeystone(config.Nova{AuthURL: novasim.AuthURL(c.srv.URL), Username: "meterline", Password: "pw",
		UserDomain: "Default", ProjectName: "admin", ProjectDomain: "Default"}, c.srv.Client())
	c.p = New(Config{Cloud: "sim", Window: time.Hour, Lag: 10 * time.Minute, PageLimit: limit, Endpoint: ks.Endpoint,
		Client: &poller.Client{HTTP: c.srv.Client(), Auth: ks, Clock: c.clk}})
	return c
}

func (c *cloud) initial(t *testing.T) []byte {
	t.Helper()
	st, err := c.p.Initial(h0.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"next":%q}`, h0.Format(time.RFC3339)); string(st) != want {
		t.Fatalf("Initial = %s, want %s (the first whole window after the start)", st, want)
	}
	return st
}

func (c *cloud) poll(t *testing.T, st []byte) poller.Batch {
	t.Helper()
	b, err := c.p.Poll(context.Background(), st, c.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func kinds(ns []poller.Notice) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Kind)
	}
	return out
}

// secondsOf returns the instance_seconds of the document of server id.
func secondsOf(t *testing.T, docs []usage.Document, id string) decimal.Decimal {
	t.Helper()
	for _, d := range docs {
		if d.ResourceInstanceID == id {
			return d.MeasuredUsage[0].Quantity
		}
	}
	t.Fatalf("no document of %s", id)
	return decimal.Zero
}

// TestWindowAcrossPages: a window of five servers read two per page is one batch with a
// document per server, each the exact seconds the server had in the window, stitched across
// tenants split over pages, and Nova's page totals add up to the servers' hours.
func TestWindowAcrossPages(t *testing.T) {
	c := newCloud(t, fleet(), 2)
	b := c.poll(t, c.initial(t))
	if b.Idle || len(b.Docs) != 5 {
		t.Fatalf("batch %+v, want 5 documents", b)
	}
	if len(b.Notices) != 0 {
		t.Errorf("notices %v, want none", b.Notices)
	}
	if n := c.sim.Requests(); n != 3 {
		t.Errorf("%d requests, want 3 pages", n)
	}
	want := map[string]string{"a-1": "3600", "a-2": "2575.458723", "a-3": "1200.25", "b-1": "3600", "b-2": "3600"}
	for id, s := range want {
		if got := secondsOf(t, b.Docs, id); !got.Equal(decimal.RequireFromString(s)) {
			t.Errorf("%s: %s seconds, want %s", id, got, s)
		}
	}
	d := b.Docs[1] // a-2, sorted by tenant and id
	wantDoc := usage.Document{Start: h0.Add(17*time.Minute + 4*time.Second + 541*time.Millisecond).UnixMilli(), End: h0.Add(time.Hour).UnixMilli() - 1,
		OrganizationID: "a", SpaceID: "a", ResourceID: "openstack-compute", PlanID: "m1.large", ResourceInstanceID: "a-2",
		DedupID: "nova:sim:a-2:" + h0.Format(time.RFC3339), MeasuredUsage: []usage.Measure{
			{Measure: InstanceSeconds, Quantity: decimal.RequireFromString("2575.458723")},
			{Measure: VCPUSeconds, Quantity: decimal.RequireFromString("10301.834892")},
			{Measure: MemoryMBSeconds, Quantity: decimal.RequireFromString("21098157.858816")},
			{Measure: LocalGBSeconds, Quantity: decimal.RequireFromString("206036.69784")},
		}}
	gj, _ := json.Marshal(d)
	wj, _ := json.Marshal(wantDoc)
	if string(gj) != string(wj) {
		t.Errorf("document\n got %s\nwant %s", gj, wj)
	}
	if err := d.Validate(); err != nil {
		t.Error(err)
	}
	if !b.Through.Equal(h0.Add(time.Hour)) {
		t.Errorf("through %v", b.Through)
	}
	// The terminated server is not tracked past its last window.
	var st state
	_ = json.Unmarshal(b.State, &st)
	if _, ok := st.Servers["a-3"]; ok || len(st.Servers) != 4 || !st.Next.Equal(h0.Add(time.Hour)) {
		t.Errorf("state %s", b.State)
	}
}

// TestRepollIsDeterministic: the same state and the same cloud give byte-identical documents
// and state, however the pages are cut.
func TestRepollIsDeterministic(t *testing.T) {
	c := newCloud(t, fleet(), 2)
	st := c.initial(t)
	first := c.poll(t, st)
	again := c.poll(t, st)
	whole := newCloud(t, fleet(), 1000)
	third := whole.poll(t, st)
	for _, b := range []poller.Batch{again, third} {
		if string(b.State) != string(first.State) || len(b.Docs) != len(first.Docs) {
			t.Fatalf("re-poll gave state %s and %d documents, want %s and %d", b.State, len(b.Docs), first.State, len(first.Docs))
		}
		for i := range b.Docs {
			g, _ := json.Marshal(b.Docs[i])
			w, _ := json.Marshal(first.Docs[i])
			if string(g) != string(w) || b.Docs[i].ID() != first.Docs[i].ID() {
				t.Errorf("document %d differs on re-poll:\n%s\n%s", i, g, w)
			}
		}
	}
}

// TestClosedWindowsOnly: a window is read only once it ended and the lag passed.
func TestClosedWindowsOnly(t *testing.T) {
	c := newCloud(t, fleet(), 10)
	c.clk.Set(h0.Add(time.Hour + 9*time.Minute))
	b := c.poll(t, c.initial(t))
	if !b.Idle || !b.Next.Equal(h0.Add(70*time.Minute)) || c.sim.Requests() != 0 {
		t.Errorf("batch %+v after %d requests, want idle until the lag passed", b, c.sim.Requests())
	}
	c.clk.Set(h0.Add(70 * time.Minute))
	if b := c.poll(t, c.initial(t)); b.Idle {
		t.Errorf("idle at the window's end plus the lag")
	}
}

// TestUnknownMarkerRestartsTheWindow: a marker Nova no longer knows restarts the window; the
// documents are the whole window's, once.
func TestUnknownMarkerRestartsTheWindow(t *testing.T) {
	s := fleet()
	s.Faults.UnknownMarkerEvery = 3
	// The third request (the second page's marker) is refused once; then the fault ends.
	once := func(sim *novasim.Sim, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			if sim.Requests() == 3 {
				sim.SetFaults(novasim.Faults{})
			}
		})
	}
	c := newCloud(t, s, 2, once)
	b := c.poll(t, c.initial(t))
	if len(b.Docs) != 5 {
		t.Fatalf("%d documents, want 5", len(b.Docs))
	}
	if got := kinds(b.Notices); !slices.Equal(got, []string{"marker_restart"}) {
		t.Errorf("notices %v, want one marker restart", got)
	}
}

// TestServerVanished: a server seen running in a window and absent from the next (archived)
// is reported; a terminated one is not.
func TestServerVanished(t *testing.T) {
	s := fleet()
	s.Servers[3].Archived = ptr(h0.Add(150 * time.Minute))
	c := newCloud(t, s, 10)
	b := c.poll(t, c.initial(t))
	c.clk.Set(h0.Add(3 * time.Hour))
	b = c.poll(t, b.State)
	if len(b.Docs) != 3 {
		t.Errorf("%d documents in the second window, want 3", len(b.Docs))
	}
	if got := kinds(b.Notices); !slices.Equal(got, []string{"server_vanished"}) || !strings.Contains(b.Notices[0].Detail, "b-1") {
		t.Errorf("notices %+v, want b-1 vanished", b.Notices)
	}
}

// TestFlavorChangeNoticed: Nova reports a resized server's new flavor; the window read after
// the resize carries it, and the change is noticed.
func TestFlavorChangeNoticed(t *testing.T) {
	s := fleet()
	s.Servers[0].Resizes = []novasim.Resize{{At: h0.Add(150 * time.Minute), Flavor: "m1.medium"}}
	c := newCloud(t, s, 10)
	b := c.poll(t, c.initial(t))
	if b.Docs[0].PlanID != "m1.small" {
		t.Errorf("first window plan %s", b.Docs[0].PlanID)
	}
	c.clk.Set(h0.Add(3 * time.Hour))
	b = c.poll(t, b.State)
	if b.Docs[0].PlanID != "m1.medium" || !slices.Equal(kinds(b.Notices), []string{"flavor_changed"}) {
		t.Errorf("second window plan %s, notices %v", b.Docs[0].PlanID, b.Notices)
	}
}

// TestReauthenticatesWhenTheTokenExpires: a token that expired is answered 401; the poller
// gets a new one from Keystone and reads on.
func TestReauthenticatesWhenTheTokenExpires(t *testing.T) {
	s := fleet()
	s.Faults.TokenTTL = novasim.Duration(30 * time.Minute)
	c := newCloud(t, s, 10)
	b := c.poll(t, c.initial(t))
	c.clk.Set(h0.Add(3 * time.Hour))
	b, err := c.p.Poll(context.Background(), b.State, c.clk.Now())
	if err != nil || len(b.Docs) != 4 {
		t.Fatalf("poll after the token expired: %v, %d documents", err, len(b.Docs))
	}
	if n := c.sim.Requests(); n != 3 {
		t.Errorf("%d requests, want 3 (one refused)", n)
	}
}

// TestStaticTokenExpired: a static token that Nova refuses is an unauthorized error.
func TestStaticTokenExpired(t *testing.T) {
	c := newCloud(t, fleet(), 10)
	p := New(Config{Cloud: "sim", Window: time.Hour, PageLimit: 10,
		Endpoint: func(context.Context) (string, error) { return novasim.ComputeURL(c.srv.URL), nil },
		Client:   &poller.Client{HTTP: c.srv.Client(), Auth: StaticToken("not-issued")}})
	_, err := p.Poll(context.Background(), c.initial(t), c.clk.Now())
	if poller.KindOf(err) != poller.KindUnauthorized {
		t.Errorf("Poll = %v, want unauthorized", err)
	}
}

// fixed serves one body with the given microversion header.
func fixed(t *testing.T, version, body string) *Provider {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if version != "" {
			w.Header().Set("OpenStack-API-Version", version)
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return New(Config{Cloud: "fixed", Window: time.Hour, PageLimit: 10,
		Endpoint: func(context.Context) (string, error) { return srv.URL, nil },
		Client:   &poller.Client{HTTP: srv.Client(), Auth: StaticToken("t")}})
}

func TestRefusesOldMicroversionsAndBadAnswers(t *testing.T) {
	st, _ := json.Marshal(state{Next: h0})
	now := h0.Add(2 * time.Hour)
	ok := `{"tenant_usages": []}`
	var pe *poller.ProviderError
	if _, err := fixed(t, "", ok).Poll(context.Background(), st, now); !errors.As(err, &pe) || !strings.Contains(err.Error(), "2.40") {
		t.Errorf("no microversion: %v, want a provider error naming 2.40", err)
	}
	if _, err := fixed(t, "compute 2.39", ok).Poll(context.Background(), st, now); !errors.As(err, &pe) {
		t.Errorf("2.39: %v, want a provider error", err)
	}
	if b, err := fixed(t, "compute 2.79", ok).Poll(context.Background(), st, now); err != nil || len(b.Docs) != 0 {
		t.Errorf("2.79, no servers: %v %+v", err, b)
	}
	var de *poller.DecodeError
	if _, err := fixed(t, "compute 2.40", `{"tenant_usages": [{"tenant_id": 7}]}`).Poll(context.Background(), st, now); !errors.As(err, &de) || string(de.Payload) == "" {
		t.Errorf("undecodable: %v, want a decode error with the payload", err)
	}
	// Nova's clock behind: its stop is before the window's end, so the window is not closed there.
	early := fmt.Sprintf(`{"tenant_usages": [{"tenant_id": "a", "start": %q, "stop": %q, "total_hours": 0, "server_usages": []}]}`,
		novaTime(h0), novaTime(h0.Add(59*time.Minute)))
	if _, err := fixed(t, "compute 2.40", early).Poll(context.Background(), st, now); !errors.As(err, &pe) {
		t.Errorf("early stop: %v, want a provider error", err)
	}
}

// TestChecksNovasFloats: Nova's hours and totals that disagree with started_at and ended_at
// are noticed; the documents keep the recomputed seconds.
func TestChecksNovasFloats(t *testing.T) {
	st, _ := json.Marshal(state{Next: h0})
	body := fmt.Sprintf(`{"tenant_usages": [{"tenant_id": "a", "start": %q, "stop": %q, "total_hours": 1.6,
	  "server_usages": [{"instance_id": "s-1", "tenant_id": "a", "flavor": "m1.tiny", "hours": 0.5, "vcpus": 1, "memory_mb": 512, "local_gb": 1,
	    "started_at": %q, "ended_at": null, "state": "active", "name": "x", "uptime": 1}]}]}`,
		novaTime(h0), novaTime(h0.Add(time.Hour)), novaTime(h0.Add(-time.Hour)))
	b, err := fixed(t, "compute 2.40", body).Poll(context.Background(), st, h0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(b.Notices); !slices.Equal(got, []string{"hours_mismatch", "totals_mismatch"}) {
		t.Errorf("notices %v", got)
	}
	if q := b.Docs[0].MeasuredUsage[0].Quantity; !q.Equal(decimal.NewFromInt(3600)) {
		t.Errorf("seconds %s, want 3600", q)
	}
}

// TestTransientFailuresResumeTheWindow: a page that fails for a transient reason (here every
// other request is a 500) is asked again by the next Poll, which goes on from it rather than
// from the first page; the documents are the whole window's, once.
func TestTransientFailuresResumeTheWindow(t *testing.T) {
	s := fleet()
	s.Faults.ServerErrorEvery = 2
	c := newCloud(t, s, 1)
	st := c.initial(t)
	for attempt := 1; ; attempt++ {
		b, err := c.p.Poll(context.Background(), st, c.clk.Now())
		if err == nil {
			if len(b.Docs) != 5 || attempt != 6 {
				t.Errorf("%d documents after %d polls, want 5 after 6 (six pages, every other request failing)", len(b.Docs), attempt)
			}
			return
		}
		if poller.KindOf(err) != poller.KindServer || attempt > 20 {
			t.Fatalf("poll %d: %v", attempt, err)
		}
	}
}

// TestSlowAnswersTimeOut: an answer slower than the request timeout is a timeout, and the
// window is read once answers are quick again.
func TestSlowAnswersTimeOut(t *testing.T) {
	s := fleet()
	s.Faults.SlowEvery, s.Faults.Slow = 2, novasim.Duration(2*time.Second)
	c := newCloud(t, s, 2)
	c.p.cfg.Client.Timeout = 100 * time.Millisecond
	st := c.initial(t)
	if _, err := c.p.Poll(context.Background(), st, c.clk.Now()); poller.KindOf(err) != poller.KindTimeout {
		t.Fatalf("Poll = %v (kind %s), want a timeout", err, poller.KindOf(err))
	}
	c.sim.SetFaults(novasim.Faults{})
	if b := c.poll(t, st); len(b.Docs) != 5 {
		t.Errorf("%d documents, want 5", len(b.Docs))
	}
}
