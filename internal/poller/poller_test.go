package poller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/shopspring/decimal"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// script is a provider that answers each Poll with the next step: a batch or an error.
type script struct {
	steps  []step
	polled []string // the state each Poll was given
	cancel context.CancelFunc
}

type step struct {
	b   Batch
	err error
}

func (s *script) Initial(start time.Time) ([]byte, error) {
	return []byte("start " + start.UTC().Format(time.RFC3339Nano)), nil
}

func (s *script) Poll(ctx context.Context, state []byte, now time.Time) (Batch, error) {
	s.polled = append(s.polled, string(state))
	if len(s.steps) == 0 {
		s.cancel()
		return Batch{}, ctx.Err()
	}
	st := s.steps[0]
	s.steps = s.steps[1:]
	return st.b, st.err
}

// memPublisher keeps what was committed; fail makes the next Publish calls fail.
type memPublisher struct {
	mu      sync.Mutex
	state   []byte
	has     bool
	events  []*meterlinev1.UsageEvent
	rejects []Reject
	fail    []error
}

func (p *memPublisher) Publish(_ context.Context, evs []*meterlinev1.UsageEvent, rjs []Reject, state []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.fail) > 0 {
		err := p.fail[0]
		p.fail = p.fail[1:]
		return err
	}
	p.events = append(p.events, evs...)
	p.rejects = append(p.rejects, rjs...)
	p.state, p.has = state, true
	return nil
}

func (p *memPublisher) LastState(context.Context) ([]byte, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state, p.has, nil
}

func doc(dedup string) usage.Document {
	return usage.Document{Start: 1000, End: 2000, OrganizationID: "o", SpaceID: "s", ResourceID: "r", PlanID: "p",
		ResourceInstanceID: "i", DedupID: dedup, MeasuredUsage: []usage.Measure{{Measure: "m", Quantity: decimal.NewFromInt(1)}}}
}

// run runs p to its end with a manual clock, recording every sleep.
func run(t *testing.T, p *script, pub *memPublisher, m *Metrics) (sleeps []time.Duration, err error) {
	t.Helper()
	clk := clock.NewManual(clock.Instants[0])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.cancel = cancel
	cfg := Config{
		Source: usage.PollerSource("test"), Interval: time.Minute, Slack: 48 * time.Hour, Clock: clk, Metrics: m,
		Backoff: Backoff{Base: time.Second, Max: time.Minute, Rand: func(n int64) int64 { return n - 1 }},
		Sleep: func(ctx context.Context, d time.Duration) error {
			sleeps = append(sleeps, d)
			clk.Advance(d)
			return ctx.Err()
		},
	}
	err = Run(ctx, cfg, p, pub, zaptest.NewLogger(t))
	return sleeps, err
}

func TestRunFirstStartAndIdle(t *testing.T) {
	p := &script{steps: []step{
		{b: Batch{Docs: []usage.Document{doc("a")}, State: []byte("s1"), Through: clock.Instants[0].Add(-time.Hour)}},
		{b: Batch{Idle: true, Next: clock.Instants[0].Add(20 * time.Second), Through: clock.Instants[0].Add(-time.Hour)}},
		{b: Batch{Idle: true, Next: clock.Instants[0].Add(time.Hour), Through: clock.Instants[0].Add(-time.Hour)}},
	}}
	pub := &memPublisher{}
	sleeps, err := run(t, p, pub, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want it cancelled", err)
	}
	// The first run starts an hour inside the 48-hour slack.
	if want := "start 2026-06-13T13:00:00Z"; p.polled[0] != want {
		t.Errorf("first state %q, want %q", p.polled[0], want)
	}
	if p.polled[1] != "s1" {
		t.Errorf("second poll had state %q, want s1", p.polled[1])
	}
	// Idle: waits until the next period is due, at most an interval.
	if want := []time.Duration{20 * time.Second, time.Minute}; !slices.Equal(sleeps, want) {
		t.Errorf("sleeps %v, want %v", sleeps, want)
	}
	if len(pub.events) != 1 || pub.events[0].Source != "poller:test" || string(pub.state) != "s1" {
		t.Errorf("published %v with state %q", pub.events, pub.state)
	}
}

func TestRunRetries(t *testing.T) {
	req := "GET http://nova/os-simple-tenant-usage"
	p := &script{steps: []step{
		{err: &StatusError{Request: req, Status: 429, RetryAfter: 7 * time.Second}},
		{err: &StatusError{Request: req, Status: 503}},
		{err: &StatusError{Request: req, Status: 500}},
		{err: &StatusError{Request: req, Status: 429, RetryAfter: time.Hour}},
		{err: fmt.Errorf("wrapped: %w", &StatusError{Request: req, Status: 401})},
		{b: Batch{Docs: []usage.Document{doc("a")}, State: []byte("s1")}},
		{err: &StatusError{Request: req, Status: 502}},
	}}
	pub := &memPublisher{}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	sleeps, _ := run(t, p, pub, m)
	// Retry-After is honoured (capped at 15 minutes); other failures back off, doubling, and
	// the backoff starts again after a success.
	want := []time.Duration{7 * time.Second, 2 * time.Second, 4 * time.Second, 15 * time.Minute, 16 * time.Second, time.Second}
	if !slices.Equal(sleeps, want) {
		t.Errorf("sleeps %v, want %v", sleeps, want)
	}
	for kind, n := range map[string]float64{KindRateLimited: 2, KindServer: 3, KindUnauthorized: 1} {
		if got := testutil.ToFloat64(m.errors.WithLabelValues("poller:test", kind)); got != n {
			t.Errorf("errors{kind=%s} = %v, want %v", kind, got, n)
		}
	}
	if got := testutil.ToFloat64(m.documents.WithLabelValues("poller:test")); got != 1 {
		t.Errorf("documents = %v, want 1", got)
	}
}

func TestBackoff(t *testing.T) {
	low := Backoff{Base: time.Second, Max: time.Minute, Rand: func(int64) int64 { return 0 }}
	high := Backoff{Base: time.Second, Max: time.Minute, Rand: func(n int64) int64 { return n - 1 }}
	for n, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute} {
		if got := high.Pause(n); got != want {
			t.Errorf("highest Pause(%d) = %v, want %v", n, got, want)
		}
		if got := low.Pause(n); got != want/2 {
			t.Errorf("lowest Pause(%d) = %v, want %v", n, got, want/2)
		}
	}
	if got := high.Pause(1000); got != time.Minute {
		t.Errorf("Pause(1000) = %v, want the cap", got)
	}
	// Without a pinned source the pause is drawn within the bounds.
	for range 100 {
		if d := (Backoff{Base: time.Second, Max: time.Minute}).Pause(3); d < 4*time.Second || d > 8*time.Second {
			t.Fatalf("Pause(3) = %v, want within [4s, 8s]", d)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := clock.Instants[0]
	for v, want := range map[string]time.Duration{
		"":       0,
		"3":      3 * time.Second,
		"0":      0,
		"-5":     0,
		"soon":   0,
		"100000": maxRetryAfter,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestRunRejects: an undecodable answer is set aside once with the unchanged state, however
// often it is met in a row, and the period is read again; a document that fails the
// collector's validation is set aside with its batch, never published.
func TestRunRejects(t *testing.T) {
	bad := &DecodeError{Request: "GET http://nova/x", Payload: []byte("{not json"), Err: errors.New("invalid character")}
	invalid := doc("b")
	invalid.OrganizationID = ""
	p := &script{steps: []step{
		{b: Batch{Docs: []usage.Document{doc("a")}, State: []byte("s1")}},
		{err: bad}, {err: bad},
		{b: Batch{Docs: []usage.Document{doc("c"), invalid}, State: []byte("s2")}},
		{err: bad},
	}}
	pub := &memPublisher{}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	if _, err := run(t, p, pub, m); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if len(pub.rejects) != 3 {
		t.Fatalf("rejects %+v, want 3", pub.rejects)
	}
	if r := pub.rejects[0]; string(r.Payload) != "{not json" || r.Request != bad.Request || !strings.Contains(r.Reason, "invalid character") {
		t.Errorf("first reject %+v", r)
	}
	if r := pub.rejects[1]; !strings.Contains(string(r.Payload), `"dedup_id":"b"`) || !strings.Contains(r.Reason, "organization_id") {
		t.Errorf("second reject %+v, want the invalid document", r)
	}
	if len(pub.events) != 2 || string(pub.state) != "s2" {
		t.Errorf("events %d, state %q", len(pub.events), pub.state)
	}
	if p.polled[1] != "s1" || p.polled[2] != "s1" || p.polled[3] != "s1" {
		t.Errorf("states polled %q: an undecodable answer must not move the state", p.polled)
	}
	if got := testutil.ToFloat64(m.errors.WithLabelValues("poller:test", KindUndecodable)); got != 3 {
		t.Errorf("undecodable errors = %v, want 3", got)
	}
}

// TestRunPublishFailures: after a failed publish the state is read again (here the commit
// had happened after all) and the poll goes on from it; a fenced publish ends Run.
func TestRunPublishFailures(t *testing.T) {
	p := &script{steps: []step{
		{b: Batch{Docs: []usage.Document{doc("a")}, State: []byte("s1")}},
		{b: Batch{Docs: []usage.Document{doc("b")}, State: []byte("s2")}},
		{b: Batch{Docs: []usage.Document{doc("b")}, State: []byte("s2")}},
		{b: Batch{Docs: []usage.Document{doc("c")}, State: []byte("s3")}},
	}}
	pub := &memPublisher{state: []byte("s0"), has: true}
	pub.fail = nil
	calls := 0
	wrapped := &failingPublisher{memPublisher: pub, hook: func() error {
		calls++
		switch calls {
		case 2:
			return errors.New("broker gone")
		case 4:
			return fmt.Errorf("commit: %w", ErrFenced)
		}
		return nil
	}}
	_, err := runWith(t, p, wrapped)
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("Run = %v, want fenced", err)
	}
	if want := []string{"s0", "s1", "s1", "s2"}; !slices.Equal(p.polled, want) {
		t.Errorf("states polled %q, want %q", p.polled, want)
	}
	if string(pub.state) != "s2" || len(pub.events) != 2 {
		t.Errorf("committed %d events, state %q", len(pub.events), pub.state)
	}
}

type failingPublisher struct {
	*memPublisher
	hook func() error
}

func (f *failingPublisher) Publish(ctx context.Context, evs []*meterlinev1.UsageEvent, rjs []Reject, state []byte) error {
	if err := f.hook(); err != nil {
		return err
	}
	return f.memPublisher.Publish(ctx, evs, rjs, state)
}

func runWith(t *testing.T, p *script, pub Publisher) ([]time.Duration, error) {
	t.Helper()
	clk := clock.NewManual(clock.Instants[0])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.cancel = cancel
	var sleeps []time.Duration
	cfg := Config{Source: "poller:test", Interval: time.Minute, Slack: 48 * time.Hour, Clock: clk,
		Sleep: func(ctx context.Context, d time.Duration) error {
			sleeps = append(sleeps, d)
			clk.Advance(d)
			return ctx.Err()
		}}
	return sleeps, Run(ctx, cfg, p, pub, zaptest.NewLogger(t))
}

// tokens is an Auth whose token changes on each re-authentication, or cannot (static).
type tokens struct {
	n      int
	static bool
}

func (a *tokens) Authorize(_ context.Context, req *http.Request) error {
	req.Header.Set("X-Auth-Token", fmt.Sprintf("token-%d", a.n))
	return nil
}

func (a *tokens) Reauthenticate(context.Context, *http.Request) error {
	if a.static {
		return errors.New("a static token cannot be renewed")
	}
	a.n++
	return nil
}

func TestClientReauthenticatesOn401(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("X-Auth-Token")
		seen = append(seen, tok)
		switch {
		case r.URL.Path == "/limited":
			w.Header().Set("Retry-After", "12")
			w.WriteHeader(http.StatusTooManyRequests)
		case tok != "token-1":
			http.Error(w, "token expired", http.StatusUnauthorized)
		default:
			fmt.Fprint(w, "ok")
		}
	}))
	defer srv.Close()
	auth := &tokens{}
	c := &Client{HTTP: srv.Client(), Auth: auth, Clock: clock.NewManual(clock.Instants[0])}
	ans, err := c.Get(context.Background(), srv.URL+"/x", nil)
	if err != nil || string(ans.Body) != "ok" {
		t.Fatalf("Get = %q, %v", ans.Body, err)
	}
	if want := []string{"token-0", "token-1"}; !slices.Equal(seen, want) {
		t.Errorf("tokens sent %q, want %q", seen, want)
	}
	// Once re-authenticated, the new token is used without another 401.
	seen = nil
	if _, err := c.Get(context.Background(), srv.URL+"/x", nil); err != nil || !slices.Equal(seen, []string{"token-1"}) {
		t.Errorf("second Get: %v, tokens %q", err, seen)
	}
	// A 401 that re-authentication cannot cure is an error of kind unauthorized.
	static := &Client{HTTP: srv.Client(), Auth: &tokens{static: true}}
	_, err = static.Get(context.Background(), srv.URL+"/x", nil)
	if KindOf(err) != KindUnauthorized || !strings.Contains(err.Error(), "cannot be renewed") {
		t.Errorf("static token Get = %v (kind %s), want unauthorized", err, KindOf(err))
	}
	_, err = c.Get(context.Background(), srv.URL+"/limited", nil)
	if KindOf(err) != KindRateLimited || RetryAfterOf(err) != 12*time.Second {
		t.Errorf("429 Get = %v, retry after %v", err, RetryAfterOf(err))
	}
}

func TestFirstStart(t *testing.T) {
	now := clock.Instants[1]
	if got, want := FirstStart(now, time.Time{}, 48*time.Hour), now.Add(-47*time.Hour); !got.Equal(want) {
		t.Errorf("FirstStart = %v, want %v", got, want)
	}
	if got := FirstStart(now, clock.Instants[3], 48*time.Hour); !got.Equal(clock.Instants[3]) {
		t.Errorf("FirstStart with a start = %v", got)
	}
}

// TestFirstStartIsKeptAcrossAFailedPublish: a first run whose first publish fails reads no
// state again and starts where it did, though its clock moved on.
func TestFirstStartIsKeptAcrossAFailedPublish(t *testing.T) {
	p := &script{steps: []step{
		{b: Batch{Docs: []usage.Document{doc("a")}, State: []byte("s1")}},
		{b: Batch{Docs: []usage.Document{doc("a")}, State: []byte("s1")}},
	}}
	pub := &memPublisher{}
	calls := 0
	wrapped := &failingPublisher{memPublisher: pub, hook: func() error {
		if calls++; calls == 1 {
			return errors.New("broker gone")
		}
		return nil
	}}
	sleeps, err := runWith(t, p, wrapped)
	if !errors.Is(err, context.Canceled) || len(sleeps) == 0 || sleeps[0] <= 0 {
		t.Fatalf("Run = %v after sleeps %v", err, sleeps)
	}
	if len(p.polled) < 2 || p.polled[0] != p.polled[1] || !strings.HasPrefix(p.polled[0], "start ") {
		t.Errorf("states polled %q, want the same first start twice", p.polled)
	}
}
