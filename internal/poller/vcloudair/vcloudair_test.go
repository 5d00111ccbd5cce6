package vcloudair

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/poller/vcloudair/vcasim"
	"github.com/meterline/meterline/internal/usage"
)

// h0 is the first hour the tests read; the script's entities start and stop around it.
var h0 = clock.Instants[0].Add(-10 * time.Hour)

// account is a simulator and a provider logging in to it.
type account struct {
	sim *vcasim.Sim
	clk *clock.Manual
	p   *Provider
	srv *httptest.Server
}

func newAccount(t *testing.T, sc vcasim.Script, auth func(*vcasim.Sim, string) poller.Auth) *account {
	t.Helper()
	a := &account{clk: clock.NewManual(h0.Add(time.Hour + 5*time.Minute))}
	a.sim = vcasim.New(sc, a.clk)
	a.srv = httptest.NewServer(a.sim.Handler())
	t.Cleanup(a.srv.Close)
	var au poller.Auth = &Login{URL: a.srv.URL, Username: "u", Password: "p"}
	if auth != nil {
		au = auth(a.sim, a.srv.URL)
	}
	a.p = New(Config{Account: "sim", URL: a.srv.URL, Client: &poller.Client{Auth: au, Clock: a.clk}})
	return a
}

func (a *account) initial(t *testing.T) []byte {
	t.Helper()
	st, err := a.p.Initial(h0)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (a *account) poll(t *testing.T, st []byte) poller.Batch {
	t.Helper()
	b, err := a.p.Poll(context.Background(), st, a.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// summary writes a document as "org/space/consumer/instance measure=q,...".
func summary(d usage.Document) string {
	var ms []string
	for _, m := range d.MeasuredUsage {
		ms = append(ms, m.Measure+"="+m.Quantity.String())
	}
	return d.OrganizationID + "/" + d.SpaceID + "/" + d.ConsumerID + "/" + d.ResourceInstanceID + " " + strings.Join(ms, ",")
}

func TestHourDocuments(t *testing.T) {
	a := newAccount(t, vcasim.DemoScript(h0), nil)
	b := a.poll(t, a.initial(t))
	if b.Idle {
		t.Fatalf("hour h0 not read at %s: %+v", a.clk.Now(), b)
	}
	var got []string
	for _, d := range b.Docs {
		got = append(got, summary(d))
		if d.Start != h0.UnixMilli() || d.End != h0.Add(time.Hour).UnixMilli()-1 || d.ResourceID != Resource || d.PlanID != Plan {
			t.Errorf("document %s: start %d end %d resource %s plan %s", d.DedupID, d.Start, d.End, d.ResourceID, d.PlanID)
		}
		if !strings.HasPrefix(d.DedupID, "vca:sim:"+d.OrganizationID+":"+d.ResourceInstanceID+":") {
			t.Errorf("dedup id %q", d.DedupID)
		}
		if _, err := usage.NewEvent(d, Source("sim"), a.clk.Now(), ""); err != nil {
			t.Errorf("document %s is not valid: %v", d.DedupID, err)
		}
	}
	want := []string{
		"si-100/vdc-a/gw-a/gw-a public_ip_hours=1",
		"si-100/vdc-a/vm-a1/vm-a1 memory_gb_hours=4,vcpu_hours=2",
		"si-100/vdc-a/vm-a2/vm-a2 memory_gb_hours=15.25,vcpu_hours=8",
		"si-100/vdc-a//vdc-a storage_gb_hours=120.5", // the L2's own usage: roll-up less its L1s
		"si-200/vdc-c/vm-c1/vm-c1 memory_gb_hours=0.5,vcpu_hours=1",
		"si-200/vdc-c//vdc-c storage_gb_hours=40",
		"si-300/vdc-d/vm-d1/vm-d1 memory_gb_hours=8,vcpu_hours=2",
	}
	if !slices.Equal(got, want) {
		t.Errorf("documents\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(b.Notices) != 0 {
		t.Errorf("notices %+v", b.Notices)
	}
	// Read again (a restart before the commit): the same documents.
	again := a.poll(t, a.initial(t))
	for i := range b.Docs {
		if b.Docs[i].ID() != again.Docs[i].ID() {
			t.Errorf("document %d: %s, then %s", i, b.Docs[i].ID(), again.Docs[i].ID())
		}
	}
	// Hour h0+2h: vm-b1 has started, and the next hour is not due yet.
	a.clk.Set(h0.Add(3*time.Hour + time.Minute))
	b2 := a.poll(t, a.poll(t, b.State).State)
	found := false
	for _, d := range b2.Docs {
		found = found || d.ConsumerID == "vm-b1"
	}
	if !found || !b2.Through.Equal(h0.Add(3*time.Hour)) {
		t.Errorf("hour h0+2h: vm-b1 found %v, through %s", found, b2.Through)
	}
	if idle := a.poll(t, b2.State); !idle.Idle || !idle.Next.Equal(h0.Add(4*time.Hour)) {
		t.Errorf("hour h0+3h read at %s: %+v", a.clk.Now(), idle)
	}
}

// An hour is read only once vCloud Air's lastUpdateTime has passed it, whatever the clock.
func TestWaitsForLastUpdateTime(t *testing.T) {
	sc := vcasim.DemoScript(h0)
	sc.Faults.Lag = 90 * time.Minute
	a := newAccount(t, sc, nil)
	a.clk.Set(h0.Add(2 * time.Hour))
	b := a.poll(t, a.initial(t))
	if !b.Idle || !b.Next.Equal(a.clk.Now().Add(time.Minute)) || !b.Through.Equal(h0) {
		t.Fatalf("lastUpdateTime %s: %+v, want idle a minute", a.sim.LastUpdate(a.clk.Now()), b)
	}
	a.clk.Set(h0.Add(2*time.Hour + 30*time.Minute))
	if b := a.poll(t, a.initial(t)); b.Idle || len(b.Docs) != 7 {
		t.Fatalf("lastUpdateTime %s: idle %v, %d documents", a.sim.LastUpdate(a.clk.Now()), b.Idle, len(b.Docs))
	}
}

func TestReauthenticatesOn401(t *testing.T) {
	a := newAccount(t, vcasim.DemoScript(h0), nil)
	st := a.initial(t)
	a.poll(t, st)
	a.sim.ExpireTokens()
	if b := a.poll(t, st); len(b.Docs) != 7 {
		t.Fatalf("%d documents after the token expired", len(b.Docs))
	}
	if n := a.sim.Logins(); n != 2 {
		t.Errorf("%d logins, want 2 (one after the 401)", n)
	}
}

func TestStaticToken(t *testing.T) {
	a := newAccount(t, vcasim.DemoScript(h0), func(s *vcasim.Sim, _ string) poller.Auth { return StaticToken(s.IssueToken()) })
	st := a.initial(t)
	if b := a.poll(t, st); len(b.Docs) != 7 {
		t.Fatalf("%d documents", len(b.Docs))
	}
	a.sim.ExpireTokens()
	_, err := a.p.Poll(context.Background(), st, a.clk.Now())
	if k := poller.KindOf(err); k != poller.KindUnauthorized {
		t.Fatalf("expired static token: %v (kind %s), want unauthorized", err, k)
	}
}

func TestBadCredentials(t *testing.T) {
	sc := vcasim.DemoScript(h0)
	sc.Users = map[string]string{"u": "right"}
	a := newAccount(t, sc, nil)
	_, err := a.p.Poll(context.Background(), a.initial(t), a.clk.Now())
	if k := poller.KindOf(err); k != poller.KindUnauthorized {
		t.Fatalf("wrong password: %v (kind %s)", err, k)
	}
}

func TestFaults(t *testing.T) {
	sc := vcasim.DemoScript(h0)
	sc.Faults = vcasim.Faults{RateLimitEvery: 3, RetryAfter: 7}
	a := newAccount(t, sc, nil)
	st := a.initial(t)
	_, err := a.p.Poll(context.Background(), st, a.clk.Now())
	if poller.KindOf(err) != poller.KindRateLimited || poller.RetryAfterOf(err) != 7*time.Second {
		t.Fatalf("429: %v (kind %s, retry after %s)", err, poller.KindOf(err), poller.RetryAfterOf(err))
	}
	a.sim.SetFaults(vcasim.Faults{ServerErrorEvery: 1})
	if _, err := a.p.Poll(context.Background(), st, a.clk.Now()); poller.KindOf(err) != poller.KindServer {
		t.Fatalf("503: %v", err)
	}
	a.sim.SetFaults(vcasim.Faults{SlowEvery: 2, Slow: time.Second})
	a.p.cfg.Client.Timeout = 50 * time.Millisecond
	if _, err := a.p.Poll(context.Background(), st, a.clk.Now()); poller.KindOf(err) != poller.KindTimeout {
		t.Fatalf("slow: %v (kind %s)", err, poller.KindOf(err))
	}
}

// fixed serves canned answers by path, after a login.
func fixed(t *testing.T, answers map[string]string) *Provider {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := answers[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return New(Config{Account: "x", URL: srv.URL, Client: &poller.Client{Auth: StaticToken("t")}})
}

const (
	groupsJSON    = `{"serviceGroupList":{"serviceGroup":[{"id":"g","billingCurrency":"USD"}]}}`
	instancesJSON = `{"instances":[{"id":"s","serviceGroupId":"g"}]}`
	costsJSON     = `{"currency":"USD","lastUpdateTime":"2026-06-15T03:00:00.000Z"}`
)

func hourBody(entities string) string {
	return `{"startTime":"2026-06-15T02:00:00.000Z","endTime":"2026-06-15T03:00:00.000Z","entity":[` + entities + `]}`
}

// An L2 whose roll-up is below its L1s' sum: a notice, and no negative document.
func TestRollupBelowL1s(t *testing.T) {
	p := fixed(t, map[string]string{
		"/api/billing/service-groups":                          groupsJSON,
		"/api/sc/instances":                                    instancesJSON,
		"/api/metering/service-group/g/billable-costs":         costsJSON,
		"/api/metering/service-instance/s/billable-usage":      hourBody(`{"id":"v","billableList":{"billable":[{"name":"vcpu_hours","usage":1.5},{"name":"storage_gb_hours","usage":10.000000000000000001}]}}`),
		"/api/metering/service-instance/s/l2/v/billable-usage": hourBody(`{"id":"m","billableList":{"billable":[{"name":"vcpu_hours","usage":2}]}}`),
	})
	st, _ := p.Initial(time.Date(2026, 6, 15, 2, 0, 0, 0, time.UTC))
	b, err := p.Poll(context.Background(), st, time.Date(2026, 6, 15, 3, 1, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range b.Docs {
		got = append(got, summary(d))
	}
	want := []string{"s/v/m/m vcpu_hours=2", "s/v//v storage_gb_hours=10.000000000000000001"}
	if !slices.Equal(got, want) {
		t.Errorf("documents %q, want %q", got, want)
	}
	if len(b.Notices) != 1 || b.Notices[0].Kind != "rollup_mismatch" || !strings.Contains(b.Notices[0].Detail, "0.5 below") {
		t.Errorf("notices %+v", b.Notices)
	}
}

// An answer for another period than the hour asked is not used; an undecodable one is a
// DecodeError (set aside by the loop).
func TestAnswersRefused(t *testing.T) {
	now := time.Date(2026, 6, 15, 3, 1, 0, 0, time.UTC)
	for _, c := range []struct {
		name, body string
		check      func(error) bool
	}{
		{"short period", `{"startTime":"2026-06-15T02:00:00.000Z","endTime":"2026-06-15T02:00:00.000Z","entity":[]}`,
			func(err error) bool { var pe *poller.ProviderError; return errors.As(err, &pe) }},
		{"no entity list", `{"startTime":"2026-06-15T02:00:00.000Z","endTime":"2026-06-15T03:00:00.000Z"}`,
			func(err error) bool { var de *poller.DecodeError; return errors.As(err, &de) }},
		{"negative usage", hourBody(`{"id":"v","billableList":{"billable":[{"name":"vcpu_hours","usage":-1}]}}`),
			func(err error) bool { var de *poller.DecodeError; return errors.As(err, &de) }},
		{"hostile id", hourBody(`{"id":"../../x","billableList":{"billable":[]}}`),
			func(err error) bool { var de *poller.DecodeError; return errors.As(err, &de) }},
		{"not json", `<xml/>`, func(err error) bool { var de *poller.DecodeError; return errors.As(err, &de) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := fixed(t, map[string]string{
				"/api/billing/service-groups":                     groupsJSON,
				"/api/sc/instances":                               instancesJSON,
				"/api/metering/service-group/g/billable-costs":    costsJSON,
				"/api/metering/service-instance/s/billable-usage": c.body,
			})
			st, _ := p.Initial(time.Date(2026, 6, 15, 2, 0, 0, 0, time.UTC))
			if _, err := p.Poll(context.Background(), st, now); !c.check(err) {
				t.Errorf("error %v (kind %s)", err, poller.KindOf(err))
			}
		})
	}
}

// Across a year's end the hours go on: 2025-12-31T23:00 is read, then 2026-01-01T00:00.
func TestYearBoundary(t *testing.T) {
	a := newAccount(t, vcasim.DemoScript(clock.Instants[3]), nil)
	start := clock.Instants[3].Truncate(time.Hour) // 23:00
	a.clk.Set(start.Add(2*time.Hour + time.Minute))
	st, _ := a.p.Initial(start)
	b1 := a.poll(t, st)
	b2 := a.poll(t, b1.State)
	if b1.Idle || b2.Idle || len(b1.Docs) == 0 || time.UnixMilli(b2.Docs[0].Start).UTC() != time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("hours at the year's end: %+v / %+v", b1, b2)
	}
	sum := func(b poller.Batch) decimal.Decimal {
		s := decimal.Zero
		for _, d := range b.Docs {
			for _, m := range d.MeasuredUsage {
				s = s.Add(m.Quantity)
			}
		}
		return s
	}
	if !sum(b1).Equal(sum(b2)) {
		t.Errorf("the same fleet gives %s, then %s", sum(b1), sum(b2))
	}
}

// A provider that fails every other request (429) still gets through an hour: each poll goes
// on from the answers the failed ones read, and the documents are those of a provider without
// faults. Before, every poll read the hour from its start and none got through.
func TestGoesOnAfterFailedRequests(t *testing.T) {
	want := newAccount(t, vcasim.DemoScript(h0), nil)
	clean := want.poll(t, want.initial(t))
	sc := vcasim.DemoScript(h0)
	sc.Faults = vcasim.Faults{RateLimitEvery: 2, RetryAfter: 1}
	a := newAccount(t, sc, nil)
	st := a.initial(t)
	var (
		b     poller.Batch
		err   error
		polls int
	)
	for polls = 1; polls <= 30; polls++ {
		if b, err = a.p.Poll(context.Background(), st, a.clk.Now()); err == nil {
			break
		}
		if poller.KindOf(err) != poller.KindRateLimited {
			t.Fatalf("poll %d: %v", polls, err)
		}
	}
	if err != nil || b.Idle {
		t.Fatalf("after %d polls: %v, idle %v", polls-1, err, b.Idle)
	}
	if len(b.Docs) != len(clean.Docs) {
		t.Fatalf("%d documents, want %d", len(b.Docs), len(clean.Docs))
	}
	for i := range b.Docs {
		if b.Docs[i].ID() != clean.Docs[i].ID() || summary(b.Docs[i]) != summary(clean.Docs[i]) {
			t.Errorf("document %d: %s, want %s", i, summary(b.Docs[i]), summary(clean.Docs[i]))
		}
	}
	t.Logf("the hour read in %d polls", polls)
	// The next hour is read from its start, not from the answers of this one.
	a.clk.Set(h0.Add(2*time.Hour + 5*time.Minute))
	next := b.State
	for polls = 1; polls <= 30; polls++ {
		if b, err = a.p.Poll(context.Background(), next, a.clk.Now()); err == nil {
			break
		}
	}
	if err != nil || b.Idle || !b.Through.Equal(h0.Add(2*time.Hour)) || len(b.Docs) == 0 {
		t.Fatalf("the next hour: %v, idle %v, through %s, %d documents", err, b.Idle, b.Through, len(b.Docs))
	}
	for _, d := range b.Docs {
		if d.Start != h0.Add(time.Hour).UnixMilli() {
			t.Errorf("document %s of the next hour starts at %d", d.DedupID, d.Start)
		}
	}
}
