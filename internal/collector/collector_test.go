package collector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/collector"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/platform/web"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// sampleDoc is the resource usage document of seed 001.
const sampleDoc = `{"start":1396421450000,"end":1396421451000,"organization_id":"us-south:54257f98-83f0-4eca-ae04-9ea35277a538","space_id":"d98b5916-3c77-44b9-ac12-04456df23eae","consumer_id":"app:d98b5916-3c77-44b9-ac12-045678edabae","resource_id":"object-storage","plan_id":"basic","resource_instance_id":"d98b5916-3c77-44b9-ac12-04d61c7a4eae","measured_usage":[{"measure":"storage","quantity":10},{"measure":"api_calls","quantity":10}]}`

// sameDoc is sampleDoc written differently: its measures in another order, a quantity as 10.0.
const sameDoc = `{"measured_usage":[{"measure":"api_calls","quantity":10.0},{"quantity":1e1,"measure":"storage"}],"start":1396421450000,"end":1396421451000,"organization_id":"us-south:54257f98-83f0-4eca-ae04-9ea35277a538","space_id":"d98b5916-3c77-44b9-ac12-04456df23eae","consumer_id":"app:d98b5916-3c77-44b9-ac12-045678edabae","resource_id":"object-storage","plan_id":"basic","resource_instance_id":"d98b5916-3c77-44b9-ac12-04d61c7a4eae"}`

const (
	collectPath = "/v1/metering/collected/usage"
	storedAt    = 1700000000000 // what the fake publisher says Kafka stored an event at, epoch ms
	maxBody     = 4096
)

// fakePublisher records what it publishes. With err set it fails; with gate set it waits for
// gate to close (or the request to end) first, and closes entered on its first call.
type fakePublisher struct {
	mu      sync.Mutex
	err     error
	calls   int
	events  []*meterlinev1.UsageEvent
	stamps  []time.Time // the record timestamp asked for, per published event
	gate    chan struct{}
	entered chan struct{}
	once    sync.Once
}

var _ collector.Publisher = (*fakePublisher)(nil)

func (p *fakePublisher) PublishAt(ctx context.Context, ev *meterlinev1.UsageEvent, at time.Time) (time.Time, error) {
	if p.entered != nil {
		p.once.Do(func() { close(p.entered) })
	}
	if p.gate != nil {
		select {
		case <-p.gate:
		case <-ctx.Done():
			p.mu.Lock()
			p.calls++
			p.mu.Unlock()
			return time.Time{}, ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.err != nil {
		return time.Time{}, p.err
	}
	p.events = append(p.events, proto.Clone(ev).(*meterlinev1.UsageEvent))
	p.stamps = append(p.stamps, at)
	return time.UnixMilli(storedAt), nil
}

func (p *fakePublisher) setErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

// published returns the number of Publish calls and the events published.
func (p *fakePublisher) published() (int, []*meterlinev1.UsageEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, append([]*meterlinev1.UsageEvent(nil), p.events...)
}

// fakeArchive is an archive holding events, or failing with getErr and existingErr.
type fakeArchive struct {
	mu          sync.Mutex
	events      map[string]usage.StoredEvent
	getErr      error
	existingErr error
	gets        int
	// lookups counts Existing calls; a non-nil lookupGate holds each call until it is closed,
	// and lookupEntered (when not nil) gets a value as a call starts.
	lookups       int
	lookupGate    chan struct{}
	lookupEntered chan struct{}
}

var _ collector.Archive = (*fakeArchive)(nil)

func (a *fakeArchive) Rejection(context.Context, string, string) (usage.Rejection, error) {
	return usage.Rejection{}, usage.ErrNotRejected
}

func (a *fakeArchive) Get(_ context.Context, id string) (usage.StoredEvent, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gets++
	if a.getErr != nil {
		return usage.StoredEvent{}, a.getErr
	}
	ev, ok := a.events[id]
	if !ok {
		return usage.StoredEvent{}, usage.ErrNoEvent
	}
	return ev, nil
}

func (a *fakeArchive) Existing(_ context.Context, refs []usage.EventRef) (map[string]bool, error) {
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	if a.lookupEntered != nil {
		select {
		case a.lookupEntered <- struct{}{}:
		default:
		}
	}
	if a.lookupGate != nil {
		<-a.lookupGate
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lookups++
	if a.existingErr != nil {
		return nil, a.existingErr
	}
	found := make(map[string]bool)
	for _, id := range ids {
		if _, ok := a.events[id]; ok {
			found[id] = true
		}
	}
	return found, nil
}

type server struct {
	*httptest.Server
	reg *prometheus.Registry
}

func newServer(t *testing.T, cfg collector.Config, pub collector.Publisher, archive collector.Archive) server {
	t.Helper()
	return newServerWith(t, cfg, pub, archive, nil)
}

func newServerWith(t *testing.T, cfg collector.Config, pub collector.Publisher, archive collector.Archive, accounts collector.Accounts) server {
	t.Helper()
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = maxBody
	}
	if cfg.ProduceTimeout == 0 {
		cfg.ProduceTimeout = 5 * time.Second
	}
	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	collector.New(cfg, pub, archive, accounts, zap.NewNop(), reg).Register(mux)
	srv := httptest.NewServer(auth.AsAdmin(mux))
	t.Cleanup(srv.Close)
	return server{srv, reg}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, url, contentType, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func (s server) post(t *testing.T, body string) response {
	t.Helper()
	return do(t, http.MethodPost, s.URL+collectPath, "application/json", body)
}

func (s server) get(t *testing.T, id string) response {
	t.Helper()
	return do(t, http.MethodGet, s.URL+collectPath+"/"+id, "", "")
}

// documents returns the number of documents the collector counted with result.
func (s server) documents(t *testing.T, result string) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "meterline_collector_documents_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// idOf returns the id of a document.
func idOf(t *testing.T, body string) string {
	t.Helper()
	d, err := usage.Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return d.ID()
}

// checkStatus fails the test unless r has status want.
func checkStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body %s", r.status, want, r.body)
	}
}

// checkError fails the test unless r is an error response of status and kind: a JSON body
// with a non-empty "error" and "kind". It returns the body.
func checkError(t *testing.T, r response, status int, kind string) web.ErrorBody {
	t.Helper()
	checkStatus(t, r, status)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var fields map[string]any
	if err := json.Unmarshal(r.body, &fields); err != nil {
		t.Fatalf("error body is not a JSON object: %v: %s", err, r.body)
	}
	if msg, _ := fields["error"].(string); msg == "" {
		t.Errorf(`error body has no "error": %s`, r.body)
	}
	if got, _ := fields["kind"].(string); got != kind {
		t.Errorf(`error body "kind" = %q, want %q: %s`, got, kind, r.body)
	}
	var b web.ErrorBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkFields fails the test unless the problems of b name the fields of want, in order.
func checkFields(t *testing.T, b web.ErrorBody, want ...string) {
	t.Helper()
	var got []string
	for _, p := range b.Problems {
		if p.Reason == "" {
			t.Errorf("problem with %q has no reason", p.Field)
		}
		got = append(got, p.Field)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems name %q, want %q: %+v", got, want, b.Problems)
	}
}

// checkJSON fails the test unless got and want are the same JSON value; numbers are compared
// as written.
func checkJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	decode := func(b []byte) any {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		return v
	}
	if g, w := decode(got), decode([]byte(want)); !reflect.DeepEqual(g, w) {
		t.Errorf("JSON\n got %s\nwant %s", got, want)
	}
}

func TestPostThenGet(t *testing.T) {
	pub := &fakePublisher{}
	s := newServer(t, collector.Config{}, pub, &fakeArchive{})
	id := idOf(t, sampleDoc)
	wantLoc := s.URL + collectPath + "/" + id

	r := s.post(t, sampleDoc)
	checkStatus(t, r, http.StatusCreated)
	loc := r.header.Get("Location")
	if loc != wantLoc {
		t.Errorf("Location %q, want %q", loc, wantLoc)
	}
	if !usage.ValidID(strings.TrimPrefix(loc, s.URL+collectPath+"/")) {
		t.Errorf("Location %q does not end in a usage document id", loc)
	}
	checkJSON(t, r.body, `{"id":"`+id+`","location":"`+wantLoc+`"}`)

	calls, events := pub.published()
	if calls != 1 || len(events) != 1 {
		t.Fatalf("%d publish calls, %d events; want 1, 1", calls, len(events))
	}
	doc, err := usage.Parse([]byte(sampleDoc))
	if err != nil {
		t.Fatal(err)
	}
	ev := events[0]
	if ev.GetId() != id || ev.GetSource() != collector.Source || ev.GetReceivedMs() <= 0 || !proto.Equal(ev.GetDocument(), doc.Proto()) {
		t.Errorf("published %v, want id %s, source %s, a receipt time and the document %v", ev, id, collector.Source, doc.Proto())
	}

	// The document is read back from the collector's memory: the archive does not have it.
	g := do(t, http.MethodGet, loc, "", "")
	checkStatus(t, g, http.StatusOK)
	checkJSON(t, g.body, sampleDoc)
	if got := g.header.Get("Meterline-Usage-Id"); got != id {
		t.Errorf("Meterline-Usage-Id %q, want %q", got, id)
	}
	if got, want := g.header.Get("Meterline-Received"), strconv.FormatInt(ev.GetReceivedMs(), 10); got != want {
		t.Errorf("Meterline-Received %q, want %q", got, want)
	}
	if got := g.header.Get("Meterline-Stored"); got != strconv.Itoa(storedAt) {
		t.Errorf("Meterline-Stored %q, want %d", got, storedAt)
	}

	// Submitted again, as it was or written differently, it is a duplicate of the original.
	for _, body := range []string{sampleDoc, sameDoc} {
		r := s.post(t, body)
		b := checkError(t, r, http.StatusConflict, "conflict")
		if got := r.header.Get("Location"); got != wantLoc {
			t.Errorf("409 Location %q, want %q", got, wantLoc)
		}
		if b.Location != wantLoc {
			t.Errorf("409 body location %q, want %q", b.Location, wantLoc)
		}
	}
	if calls, _ := pub.published(); calls != 1 {
		t.Errorf("%d publish calls, want 1", calls)
	}
	if a, d := s.documents(t, "accepted"), s.documents(t, "duplicate"); a != 1 || d != 2 {
		t.Errorf("documents accepted %v, duplicate %v; want 1, 2", a, d)
	}
}

func TestLocationBehindTLSProxy(t *testing.T) {
	s := newServer(t, collector.Config{}, &fakePublisher{}, &fakeArchive{})
	r := do(t, http.MethodPost, s.URL+collectPath, "application/json", sampleDoc, "X-Forwarded-Proto", "https")
	checkStatus(t, r, http.StatusCreated)
	want := "https://" + strings.TrimPrefix(s.URL, "http://") + collectPath + "/" + idOf(t, sampleDoc)
	if got := r.header.Get("Location"); got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
}

func TestConcurrentIdenticalPosts(t *testing.T) {
	const n = 20
	pub := &fakePublisher{gate: make(chan struct{}), entered: make(chan struct{})}
	s := newServer(t, collector.Config{}, pub, &fakeArchive{})
	wantLoc := s.URL + collectPath + "/" + idOf(t, sampleDoc)

	results := make(chan response, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			// t.Fatal must not be called off the test's goroutine.
			req, _ := http.NewRequest(http.MethodPost, s.URL+collectPath, strings.NewReader(sampleDoc))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			results <- response{resp.StatusCode, resp.Header, b}
		})
	}
	// Hold the first publish until the others have had time to arrive.
	select {
	case <-pub.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no request reached the publisher")
	}
	time.Sleep(100 * time.Millisecond)
	close(pub.gate)
	wg.Wait()
	close(results)

	created, conflicts := 0, 0
	for r := range results {
		switch r.status {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
			conflicts++
			checkError(t, r, http.StatusConflict, "conflict")
			if got := r.header.Get("Location"); got != wantLoc {
				t.Errorf("409 Location %q, want %q", got, wantLoc)
			}
		default:
			t.Errorf("status %d: %s", r.status, r.body)
		}
	}
	if created != 1 || conflicts != n-1 {
		t.Errorf("%d created, %d conflicts; want 1, %d", created, conflicts, n-1)
	}
	if calls, events := pub.published(); calls != 1 || len(events) != 1 {
		t.Errorf("%d publish calls, %d events; want 1, 1", calls, len(events))
	}
}

// TestConcurrentLookupsShareAQuery: the duplicate look-ups of POSTs that arrive while one
// runs are asked in one query, and each POST still gets its own answer (201, or 409 for a
// document the archive holds).
func TestConcurrentLookupsShareAQuery(t *testing.T) {
	const n = 20
	docs := make([]string, n)
	stored := map[string]usage.StoredEvent{}
	for i := range docs {
		docs[i] = strings.Replace(sampleDoc, `"start":1396421450000`, fmt.Sprintf(`"start":%d`, 1396421450000-int64(i)), 1)
		if i%2 == 1 {
			id := idOf(t, docs[i])
			stored[id] = usage.StoredEvent{ID: id}
		}
	}
	archive := &fakeArchive{events: stored, lookupGate: make(chan struct{}), lookupEntered: make(chan struct{}, 1)}
	s := newServer(t, collector.Config{}, &fakePublisher{}, archive)

	statuses := make([]int, n)
	var wg sync.WaitGroup
	post := func(i int) {
		wg.Go(func() {
			resp, err := http.Post(s.URL+collectPath, "application/json", strings.NewReader(docs[i]))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	post(0)
	select {
	case <-archive.lookupEntered:
	case <-time.After(10 * time.Second):
		t.Fatal("no look-up started")
	}
	for i := 1; i < n; i++ {
		post(i)
	}
	// The others arrive while the first query runs (on a loaded machine some may come after
	// it: TestLookupsCoalesce checks the coalescing itself without that race).
	time.Sleep(100 * time.Millisecond)
	close(archive.lookupGate)
	wg.Wait()
	for i, st := range statuses {
		if want := []int{http.StatusCreated, http.StatusConflict}[i%2]; st != want {
			t.Errorf("POST %d: %d, want %d", i, st, want)
		}
	}
	if archive.lookups < 2 || archive.lookups >= n {
		t.Errorf("%d look-up queries for %d concurrent POSTs, want 2 (the first, then the others together) or a few more, fewer than one per POST", archive.lookups, n)
	}
}

func TestPublisherUnavailable(t *testing.T) {
	pub := &fakePublisher{err: errors.New("kafka: NOT_ENOUGH_REPLICAS")}
	s := newServer(t, collector.Config{}, pub, &fakeArchive{})

	r := s.post(t, sampleDoc)
	checkError(t, r, http.StatusServiceUnavailable, "unavailable")
	if got := r.header.Get("Retry-After"); got == "" {
		t.Error("503 without Retry-After")
	}
	if got := r.header.Get("Location"); got != "" {
		t.Errorf("503 with Location %q", got)
	}
	if g := s.get(t, idOf(t, sampleDoc)); g.status != http.StatusNotFound {
		t.Errorf("GET of a document Kafka did not take: status %d, want 404", g.status)
	}

	// Once Kafka is back, the retry is accepted: the failure did not mark the document seen.
	pub.setErr(nil)
	r = s.post(t, sampleDoc)
	checkStatus(t, r, http.StatusCreated)
	if calls, events := pub.published(); calls != 2 || len(events) != 1 {
		t.Errorf("%d publish calls, %d events; want 2, 1", calls, len(events))
	}
	if u, a := s.documents(t, "unavailable"), s.documents(t, "accepted"); u != 1 || a != 1 {
		t.Errorf("documents unavailable %v, accepted %v; want 1, 1", u, a)
	}
}

func TestPublishTimeout(t *testing.T) {
	pub := &fakePublisher{gate: make(chan struct{})} // never opens
	s := newServer(t, collector.Config{ProduceTimeout: 50 * time.Millisecond}, pub, &fakeArchive{})
	r := s.post(t, sampleDoc)
	checkError(t, r, http.StatusServiceUnavailable, "unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}

// TestNoBroker runs the real Kafka publisher against an address where no broker listens:
// the document must be answered 503, never 201.
func TestNoBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cl, err := kafka.NewClient([]string{addr}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s := newServer(t, collector.Config{ProduceTimeout: 300 * time.Millisecond},
		kafka.NewPublisher(cl, "meterline.usage.collected.v1"), &fakeArchive{})
	r := s.post(t, sampleDoc)
	checkError(t, r, http.StatusServiceUnavailable, "unavailable")
}

func TestArchive(t *testing.T) {
	id := idOf(t, sampleDoc)

	t.Run("document stored before", func(t *testing.T) {
		pub := &fakePublisher{}
		s := newServer(t, collector.Config{}, pub, &fakeArchive{events: map[string]usage.StoredEvent{id: {ID: id}}})
		r := s.post(t, sampleDoc)
		checkError(t, r, http.StatusConflict, "conflict")
		if got, want := r.header.Get("Location"), s.URL+collectPath+"/"+id; got != want {
			t.Errorf("Location %q, want %q", got, want)
		}
		if calls, _ := pub.published(); calls != 0 {
			t.Errorf("%d publish calls, want 0", calls)
		}
	})

	t.Run("look-up fails", func(t *testing.T) {
		pub := &fakePublisher{}
		s := newServer(t, collector.Config{}, pub, &fakeArchive{existingErr: errors.New("clickhouse: connection refused")})
		checkStatus(t, s.post(t, sampleDoc), http.StatusCreated)
		if calls, events := pub.published(); calls != 1 || len(events) != 1 {
			t.Errorf("%d publish calls, %d events; want 1, 1", calls, len(events))
		}
	})

	t.Run("no archive", func(t *testing.T) {
		pub := &fakePublisher{}
		s := newServer(t, collector.Config{}, pub, nil)
		checkStatus(t, s.post(t, sampleDoc), http.StatusCreated)
		checkError(t, s.post(t, sampleDoc), http.StatusConflict, "conflict")
	})
}

func TestContentType(t *testing.T) {
	f := func(contentType string, want int) {
		t.Helper()
		t.Run(contentType, func(t *testing.T) {
			t.Helper()
			pub := &fakePublisher{}
			s := newServer(t, collector.Config{}, pub, &fakeArchive{})
			r := do(t, http.MethodPost, s.URL+collectPath, contentType, sampleDoc)
			if want == http.StatusCreated {
				checkStatus(t, r, want)
				return
			}
			b := checkError(t, r, want, "unsupported_media_type")
			checkFields(t, b, "Content-Type")
			if calls, _ := pub.published(); calls != 0 {
				t.Errorf("%d publish calls, want 0", calls)
			}
		})
	}
	f("", http.StatusBadRequest) // no Content-Type header
	f("text/plain", http.StatusBadRequest)
	f("application/x-www-form-urlencoded", http.StatusBadRequest)
	f("application/xml", http.StatusBadRequest)
	f("application/json; charset=iso-8859-1", http.StatusBadRequest)
	f("application/json;;", http.StatusBadRequest)
	f("application/+json", http.StatusBadRequest)
	f("application/json", http.StatusCreated)
	f("application/json; charset=utf-8", http.StatusCreated)
	f("Application/JSON; charset=UTF-8", http.StatusCreated)
	f("application/vnd.abacus.usage+json", http.StatusCreated)
}

func TestBodySize(t *testing.T) {
	pad := func(n int) string { return sampleDoc + strings.Repeat(" ", n-len(sampleDoc)) }

	pub := &fakePublisher{}
	s := newServer(t, collector.Config{MaxBodyBytes: maxBody}, pub, &fakeArchive{})
	r := s.post(t, pad(maxBody+1))
	b := checkError(t, r, http.StatusBadRequest, "too_large")
	if len(b.Problems) != 1 || !strings.Contains(b.Problems[0].Reason, strconv.Itoa(maxBody)) {
		t.Errorf("problems %+v, want one naming the limit %d", b.Problems, maxBody)
	}
	if calls, _ := pub.published(); calls != 0 {
		t.Errorf("%d publish calls, want 0", calls)
	}
	checkStatus(t, s.post(t, pad(maxBody)), http.StatusCreated)
}

func TestInvalidDocument(t *testing.T) {
	f := func(name, body string, fields ...string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			t.Helper()
			pub := &fakePublisher{}
			s := newServer(t, collector.Config{}, pub, &fakeArchive{})
			b := checkError(t, s.post(t, body), http.StatusBadRequest, "invalid")
			checkFields(t, b, fields...)
			if calls, _ := pub.published(); calls != 0 {
				t.Errorf("%d publish calls, want 0", calls)
			}
			if got := s.documents(t, "invalid"); got != 1 {
				t.Errorf("documents invalid %v, want 1", got)
			}
		})
	}
	f("missing plan_id and negative quantity",
		strings.Replace(strings.Replace(sampleDoc, `"plan_id":"basic",`, "", 1), `"quantity":10}`, `"quantity":-10}`, 1),
		"plan_id", "measured_usage[0].quantity")
	f("end before start and unknown field",
		strings.Replace(strings.Replace(sampleDoc, `"end":1396421451000`, `"end":1`, 1), `"plan_id"`, `"plan":"x","plan_id"`, 1),
		"end", "plan")
	f("malformed JSON", `{"start":`, "")
	f("empty body", ``, "")
}

func TestGet(t *testing.T) {
	id := idOf(t, sampleDoc)
	doc, err := usage.Parse([]byte(sampleDoc))
	if err != nil {
		t.Fatal(err)
	}
	archive := &fakeArchive{events: map[string]usage.StoredEvent{
		id: {ID: id, Source: collector.Source, Document: doc, ReceivedMs: 1700000000001, StoredMs: 1700000000002},
	}}
	s := newServer(t, collector.Config{}, &fakePublisher{}, archive)

	t.Run("stored", func(t *testing.T) {
		r := s.get(t, id)
		checkStatus(t, r, http.StatusOK)
		checkJSON(t, r.body, sampleDoc)
		for h, want := range map[string]string{"Meterline-Usage-Id": id, "Meterline-Received": "1700000000001", "Meterline-Stored": "1700000000002"} {
			if got := r.header.Get(h); got != want {
				t.Errorf("%s %q, want %q", h, got, want)
			}
		}
	})

	t.Run("unknown", func(t *testing.T) {
		checkError(t, s.get(t, "1396421451000-0123456789abcdef0123456789abcdef"), http.StatusNotFound, "not_found")
	})

	hash := "0123456789abcdef0123456789abcdef"
	for _, bad := range []string{"abc", "1-" + strings.ToUpper(hash), "-1-" + hash, "1-" + hash[:31], "1-" + hash + "0", "x-" + hash} {
		t.Run("malformed "+bad, func(t *testing.T) {
			archive.mu.Lock()
			before := archive.gets
			archive.mu.Unlock()
			b := checkError(t, s.get(t, bad), http.StatusBadRequest, "invalid")
			checkFields(t, b, "usage_document_id")
			if len(b.Problems) == 1 && b.Problems[0].Value != bad {
				t.Errorf("problem value %#v, want %q", b.Problems[0].Value, bad)
			}
			archive.mu.Lock()
			defer archive.mu.Unlock()
			if archive.gets != before {
				t.Error("a malformed id was looked up in the archive")
			}
		})
	}

	t.Run("archive fails", func(t *testing.T) {
		s := newServer(t, collector.Config{}, &fakePublisher{}, &fakeArchive{getErr: errors.New("clickhouse: timeout")})
		r := s.get(t, id)
		checkError(t, r, http.StatusServiceUnavailable, "unavailable")
		if r.header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	})
}
