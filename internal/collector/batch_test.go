package collector_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/collector"
	"github.com/meterline/meterline/internal/usage"
)

const batchPath = collector.BatchPath

// docN is sampleDoc for resource instance n (a distinct document per n).
func docN(n int) string {
	return strings.Replace(sampleDoc, `"resource_instance_id":"d98b5916-3c77-44b9-ac12-04d61c7a4eae"`,
		fmt.Sprintf(`"resource_instance_id":"ri-%d"`, n), 1)
}

func (s server) postBatch(t *testing.T, contentType string, items ...string) response {
	t.Helper()
	return do(t, http.MethodPost, s.URL+batchPath, contentType, "["+strings.Join(items, ",")+"]")
}

func batchOf(t *testing.T, r response) collector.BatchResponse {
	t.Helper()
	var b collector.BatchResponse
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("batch response is not JSON: %v: %s", err, r.body)
	}
	return b
}

// checkResults fails the test unless the batch's results have the statuses of want, in the
// batch's order, each with its index.
func checkResults(t *testing.T, b collector.BatchResponse, want ...int) {
	t.Helper()
	if len(b.Results) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(b.Results), len(want), b.Results)
	}
	for i, res := range b.Results {
		if res.Index != i || res.Status != want[i] {
			t.Errorf("result %d: index %d status %d, want index %d status %d: %+v", i, res.Index, res.Status, i, want[i], res)
		}
		if res.Status != http.StatusCreated && (res.Error == nil || res.Error.Error == "" || res.Error.Kind == "") {
			t.Errorf("result %d (status %d) has no error body: %+v", i, res.Status, res)
		}
	}
}

func TestBatchEachDocumentAnsweredOnItsOwn(t *testing.T) {
	pub := &fakePublisher{}
	s := newServer(t, collector.Config{}, pub, &fakeArchive{})
	checkStatus(t, s.post(t, docN(9)), http.StatusCreated) // stored before the batch

	invalid := `{"start":1,"end":0,"organization_id":"o"}`
	r := s.postBatch(t, "application/json", docN(1), invalid, docN(2), docN(9), docN(1), `"not a document"`)
	checkStatus(t, r, http.StatusOK)
	b := batchOf(t, r)
	checkResults(t, b, 201, 400, 201, 409, 409, 400)
	if b.Accepted != 2 || b.Duplicate != 2 || b.Invalid != 2 || b.Unavailable != 0 {
		t.Errorf("counts %+v, want 2 accepted, 2 duplicate, 2 invalid", b)
	}
	for _, i := range []int{0, 2, 3, 4} {
		res := b.Results[i]
		want := s.URL + collectPath + "/" + idOf(t, []string{docN(1), "", docN(2), docN(9), docN(1)}[i])
		if res.Location != want || !strings.HasSuffix(want, res.ID) {
			t.Errorf("result %d: id %q location %q, want %q", i, res.ID, res.Location, want)
		}
	}
	if len(b.Results[1].Error.Problems) == 0 {
		t.Errorf("an invalid document's result names no problem: %+v", b.Results[1].Error)
	}
	// Each distinct new document was published once; the repeats and the invalid ones never.
	if calls, events := pub.published(); calls != 3 || len(events) != 3 {
		t.Errorf("%d publish calls, %d events; want 3, 3 (one single POST, two from the batch)", calls, len(events))
	}
	if a, d, i := s.documents(t, "accepted"), s.documents(t, "duplicate"), s.documents(t, "invalid"); a != 3 || d != 2 || i != 2 {
		t.Errorf("documents accepted %v, duplicate %v, invalid %v; want 3, 2, 2", a, d, i)
	}
	// A batch's document reads back like a single POST's.
	checkStatus(t, s.get(t, b.Results[2].ID), http.StatusOK)
}

func TestBatchUnavailableIsRetriedWhole(t *testing.T) {
	pub := &fakePublisher{err: errors.New("kafka: NOT_ENOUGH_REPLICAS")}
	s := newServer(t, collector.Config{}, pub, &fakeArchive{})
	items := []string{docN(1), docN(2), `{}`}

	r := s.postBatch(t, "application/json", items...)
	checkStatus(t, r, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	b := batchOf(t, r)
	checkResults(t, b, 503, 503, 400)
	if b.Unavailable != 2 || b.Invalid != 1 {
		t.Errorf("counts %+v, want 2 unavailable, 1 invalid", b)
	}

	// Kafka takes one document, then fails: the retried batch stores only what is missing.
	pub.setErr(nil)
	checkStatus(t, s.post(t, docN(1)), http.StatusCreated)
	r = s.postBatch(t, "application/json", items...)
	checkStatus(t, r, http.StatusOK)
	checkResults(t, batchOf(t, r), 409, 201, 400)
	if _, events := pub.published(); len(events) != 2 {
		t.Errorf("%d events published, want 2", len(events))
	}
}

func TestBatchRefused(t *testing.T) {
	s := newServer(t, collector.Config{MaxBatchDocuments: 3, MaxBatchBytes: 8192}, &fakePublisher{}, &fakeArchive{})
	for _, tc := range []struct {
		name, contentType, body, kind string
	}{
		{"an object", "application/json", sampleDoc, "invalid"},
		{"not JSON", "application/json", "[{", "invalid"},
		{"empty", "application/json", "[]", "invalid"},
		{"too many", "application/json", "[" + strings.Repeat(sampleDoc+",", 3) + sampleDoc + "]", "too_large"},
		{"too long", "application/json", "[" + strings.Repeat(" ", 8192) + "]", "too_large"},
		{"text", "text/plain", "[" + sampleDoc + "]", "unsupported_media_type"},
		{"no type", "", "[" + sampleDoc + "]", "unsupported_media_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodPost, s.URL+batchPath, tc.contentType, tc.body)
			b := checkError(t, r, http.StatusBadRequest, tc.kind)
			if len(b.Problems) == 0 {
				t.Errorf("no problem named: %s", r.body)
			}
		})
	}
	// A document longer than a single POST may be is refused on its own.
	long := strings.Replace(sampleDoc, `"plan_id":"basic"`, `"plan_id":"basic","pad":"`+strings.Repeat("x", maxBody)+`"`, 1)
	r := s.postBatch(t, "application/json", sampleDoc, long)
	checkStatus(t, r, http.StatusOK)
	b := batchOf(t, r)
	checkResults(t, b, 201, 400)
	if b.Results[1].Error.Kind != "too_large" {
		t.Errorf("long document: kind %q, want too_large", b.Results[1].Error.Kind)
	}
}

func TestBatchCloudEvents(t *testing.T) {
	pub := &fakePublisher{}
	s := newServer(t, collector.Config{}, pub, &fakeArchive{})
	ce := func(fields string) string {
		return `{"specversion":"1.0","id":"ev-1","source":"/billing/test",` + fields + `}`
	}
	ok := ce(`"type":"` + collector.CloudEventType + `","datacontenttype":"application/json","comexampleext":"x","data":` + docN(1))
	r := s.postBatch(t, "application/cloudevents-batch+json",
		ok,
		ce(`"type":"com.example.other","data":`+docN(2)),
		`{"type":"`+collector.CloudEventType+`","data":`+docN(3)+`}`,
		ce(`"type":"`+collector.CloudEventType+`","data_base64":"e30="`),
		ce(`"type":"`+collector.CloudEventType+`","datacontenttype":"text/xml","data":`+docN(4)),
		ce(`"type":"`+collector.CloudEventType+`","data":{"start":"x"}`),
	)
	checkStatus(t, r, http.StatusOK)
	b := batchOf(t, r)
	checkResults(t, b, 201, 400, 400, 400, 400, 400)
	if b.Results[0].CloudEventID != "ev-1" || b.Results[0].ID != idOf(t, docN(1)) {
		t.Errorf("accepted event: %+v, want its CloudEvent id ev-1 and its document's id", b.Results[0])
	}
	for i, want := range map[int][]string{1: {"type"}, 2: {"specversion", "id", "source"}, 3: {"data_base64"}, 4: {"datacontenttype"}} {
		checkFields(t, *b.Results[i].Error, want...)
	}
	if b.Results[5].Error.Kind != "invalid" || len(b.Results[5].Error.Problems) == 0 {
		t.Errorf("an invalid document in an event: %+v", b.Results[5].Error)
	}
	if _, events := pub.published(); len(events) != 1 || events[0].GetDocument().GetResourceInstanceId() != "ri-1" {
		t.Errorf("published %v, want the one valid event's document", events)
	}
}

// TestConcurrentBatchesOverlap posts batches that share documents in opposite orders at once:
// none waits on another for ever, and each document is published once.
func TestConcurrentBatchesOverlap(t *testing.T) {
	pub := &fakePublisher{}
	s := newServer(t, collector.Config{}, pub, &fakeArchive{})
	const n, batches = 40, 8
	var wg sync.WaitGroup
	created := make([]int, batches)
	for k := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			items := make([]string, n)
			for i := range n {
				if k%2 == 0 {
					items[i] = docN(i)
				} else {
					items[i] = docN(n - 1 - i)
				}
			}
			r := s.postBatch(t, "application/json", items...)
			if r.status != http.StatusOK {
				t.Errorf("batch %d: status %d: %s", k, r.status, r.body)
				return
			}
			b := batchOf(t, r)
			created[k] = b.Accepted
			if b.Accepted+b.Duplicate != n {
				t.Errorf("batch %d: %+v, want every document accepted or duplicate", k, b)
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, c := range created {
		total += c
	}
	_, events := pub.published()
	ids := map[string]bool{}
	for _, ev := range events {
		d, err := usage.FromProto(ev.GetDocument())
		if err != nil {
			t.Fatal(err)
		}
		ids[d.ID()] = true
	}
	if total != n || len(events) != n || len(ids) != n {
		t.Errorf("%d answered 201, %d published, %d distinct; want %d each", total, len(events), len(ids), n)
	}
}

// TestBatchForbidden: a principal's batch stores what it may write, each other document
// answered 403; a batch of which it may write nothing is refused 403 whole, as a single POST.
func TestBatchForbidden(t *testing.T) {
	pub := &fakePublisher{}
	mux := http.NewServeMux()
	collector.New(collector.Config{MaxBodyBytes: maxBody, ProduceTimeout: 5 * time.Second}, pub, &fakeArchive{}, nil,
		zap.NewNop(), prometheus.NewRegistry()).Register(mux)
	org := "us-south:54257f98-83f0-4eca-ae04-9ea35277a538" // sampleDoc's
	writer := auth.NewPrincipal("writer", auth.MethodAPIKey, []string{auth.ScopeWrite}, []string{org})
	srv := httptest.NewServer(auth.As(writer, mux))
	t.Cleanup(srv.Close)
	s := server{Server: srv}
	other := strings.Replace(docN(2), org, "another-org", 1)

	r := s.postBatch(t, "application/json", docN(1), other)
	checkStatus(t, r, http.StatusOK)
	b := batchOf(t, r)
	checkResults(t, b, 201, 403)
	if b.Results[1].Error.Kind != "forbidden" {
		t.Errorf("another organization's document: %+v", b.Results[1].Error)
	}

	r = s.postBatch(t, "application/json", other, strings.Replace(docN(3), org, "another-org", 1))
	eb := checkError(t, r, http.StatusForbidden, "forbidden")
	checkFields(t, eb, "[0]", "[1]")
	if _, events := pub.published(); len(events) != 1 {
		t.Errorf("%d events published, want only the writable document", len(events))
	}
}
