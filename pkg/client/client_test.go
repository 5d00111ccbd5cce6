package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/pkg/client"
)

// fake is a server answering each request with the next of its scripted answers, and
// remembering what it was sent.
type fake struct {
	t       *testing.T
	mu      sync.Mutex
	answers []func(w http.ResponseWriter, body []byte)
	paths   []string
	bodies  []string
	auth    []string
}

func newFake(t *testing.T, answers ...func(w http.ResponseWriter, body []byte)) (*fake, *httptest.Server) {
	f := &fake{t: t, answers: answers}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		n := len(f.paths)
		f.paths = append(f.paths, r.Method+" "+r.URL.EscapedPath())
		f.bodies = append(f.bodies, string(b))
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		if n >= len(f.answers) {
			t.Errorf("request %d (%s %s) beyond the %d scripted", n+1, r.Method, r.URL, len(f.answers))
			w.WriteHeader(http.StatusTeapot)
			return
		}
		f.answers[n](w, b)
	}))
	t.Cleanup(s.Close)
	return f, s
}

// answer is a scripted answer of status with body and headers (name, value pairs).
func answer(status int, body string, header ...string) func(http.ResponseWriter, []byte) {
	return func(w http.ResponseWriter, _ []byte) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// sleeps records the waits of a client instead of waiting.
type sleeps struct{ waits []time.Duration }

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.waits = append(s.waits, d)
	return ctx.Err()
}

func newClient(t *testing.T, s *httptest.Server, sl *sleeps, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(s.URL, append([]client.Option{client.WithSleep(sl.sleep), client.WithToken("tok")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var doc = client.Document{Start: 1420243200000, End: 1420245000000, OrganizationID: "us-south:a3d7fe4d-3cb1-4cc3-a831-ffe98e20cf27",
	SpaceID: "aaeae239-f3f8-483c-9dd0-de5d41c38b6a", ConsumerID: "app:bbeae239-f3f8-483c-9dd0-de6781c38bab",
	ResourceID: "object-storage", PlanID: "basic", ResourceInstanceID: "0b39fa70-a65f-4183-bae8-385633ca5c87",
	MeasuredUsage: []client.Measure{{Measure: "storage", Quantity: decimal.RequireFromString("1073741824")},
		{Measure: "light_api_calls", Quantity: decimal.RequireFromString("1000.5")}}}

const created = `{"id":"1-abc","location":"http://x/v1/metering/collected/usage/1-abc"}`

func TestCollectRetriesHonouringRetryAfter(t *testing.T) {
	f, s := newFake(t,
		answer(503, `{"error":"Kafka is unavailable; retry later","kind":"unavailable"}`, "Retry-After", "2"),
		answer(429, `{"error":"slow down","kind":"unavailable"}`), // no Retry-After: the first backoff
		answer(503, `{"error":"x","kind":"unavailable"}`, "Retry-After", "Wed, 02 Dec 2026 10:00:07 GMT", "Date", "Wed, 02 Dec 2026 10:00:04 GMT"),
		answer(201, created, "Location", "http://x/v1/metering/collected/usage/1-abc"))
	sl := &sleeps{}
	r, err := newClient(t, s, sl).Collect(context.Background(), doc)
	if err != nil || r.ID != "1-abc" || r.Retried {
		t.Fatalf("Collect = %+v, %v; want 1-abc, not retried", r, err)
	}
	if got := fmt.Sprint(sl.waits); got != "[2s 100ms 3s]" {
		t.Errorf("waits %s, want [2s 100ms 3s] (Retry-After seconds, backoff, Retry-After date against Date)", got)
	}
	for i, b := range f.bodies {
		if b != f.bodies[0] || f.auth[i] != "Bearer tok" || f.paths[i] != "POST /v1/metering/collected/usage" {
			t.Errorf("attempt %d: %s %q %s, want the same document, bearer token and path", i+1, f.paths[i], f.auth[i], b)
		}
	}
	if want := `"measured_usage":[{"measure":"storage","quantity":1073741824},{"measure":"light_api_calls","quantity":1000.5}]`; !strings.Contains(f.bodies[0], want) {
		t.Errorf("document sent %s, want quantities as exact JSON numbers %s", f.bodies[0], want)
	}
}

func TestCollectConflictOnRetryIsSuccess(t *testing.T) {
	_, s := newFake(t,
		answer(503, `{"error":"x","kind":"unavailable"}`, "Retry-After", "1"),
		answer(409, `{"error":"usage document 1-abc was already submitted","kind":"conflict","location":"http://x/v1/metering/collected/usage/1-abc"}`))
	r, err := newClient(t, s, &sleeps{}).Collect(context.Background(), doc)
	if err != nil || r.ID != "1-abc" || r.Location != "http://x/v1/metering/collected/usage/1-abc" || !r.Retried {
		t.Fatalf("Collect = %+v, %v; want 1-abc stored by the first attempt", r, err)
	}
}

func TestCollectConflictFirstIsDuplicate(t *testing.T) {
	_, s := newFake(t, answer(409, `{"error":"usage document 1-abc was already submitted","kind":"conflict","location":"http://x/v1/metering/collected/usage/1-abc"}`))
	_, err := newClient(t, s, &sleeps{}).Collect(context.Background(), doc)
	var e *client.Error
	if !client.IsDuplicate(err) || !errors.As(err, &e) || e.Kind != client.KindConflict || e.Location != "http://x/v1/metering/collected/usage/1-abc" {
		t.Fatalf("Collect = %v, want a duplicate with the original's location", err)
	}
}

func TestCollectRetryBudget(t *testing.T) {
	unavailable := answer(503, `{"error":"Kafka is unavailable; retry later","kind":"unavailable"}`, "Retry-After", "1")
	f, s := newFake(t, unavailable, unavailable, unavailable)
	sl := &sleeps{}
	_, err := newClient(t, s, sl, client.WithRetry(3, time.Minute)).Collect(context.Background(), doc)
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 503 || e.Kind != client.KindUnavailable || len(f.paths) != 3 || len(sl.waits) != 2 {
		t.Errorf("after 3 attempts: %v, %d requests, waits %v; want the 503 after 3 requests and 2 waits", err, len(f.paths), sl.waits)
	}

	// A Retry-After beyond the wait budget ends the call at once.
	f, s = newFake(t, answer(503, `{"error":"x","kind":"unavailable"}`, "Retry-After", "120"))
	sl = &sleeps{}
	_, err = newClient(t, s, sl, client.WithRetry(5, time.Minute)).Collect(context.Background(), doc)
	if !errors.As(err, &e) || e.Status != 503 || len(f.paths) != 1 || len(sl.waits) != 0 {
		t.Errorf("Retry-After 120 with a budget of 1m: %v, %d requests, waits %v; want the 503 at once", err, len(f.paths), sl.waits)
	}
}

func TestCollectStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f, s := newFake(t, func(w http.ResponseWriter, b []byte) {
		cancel()
		answer(503, `{"error":"x","kind":"unavailable"}`, "Retry-After", "1")(w, b)
	})
	_, err := newClient(t, s, &sleeps{}).Collect(ctx, doc)
	if !errors.Is(err, context.Canceled) || len(f.paths) != 1 {
		t.Errorf("Collect with its context cancelled: %v after %d requests, want context.Canceled after 1", err, len(f.paths))
	}
}

func TestErrorCarriesProblems(t *testing.T) {
	_, s := newFake(t, answer(400, `{"error":"invalid usage document","kind":"invalid","problems":[{"field":"start","value":"yesterday","reason":"must be epoch milliseconds"},{"field":"space_id","reason":"is required"}]}`),
		answer(502, `<html>bad gateway</html>`))
	c := newClient(t, s, &sleeps{})
	_, err := c.CollectJSON(context.Background(), []byte(`{"start":"yesterday"}`))
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 400 || e.Kind != client.KindInvalid || len(e.Problems) != 2 ||
		e.Problems[0] != (client.Problem{Field: "start", Value: "yesterday", Reason: "must be epoch milliseconds"}) {
		t.Fatalf("400: %#v", err)
	}
	if got, want := err.Error(), "meterline: 400 invalid: invalid usage document; start yesterday: must be epoch milliseconds; space_id: is required"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, err = c.CollectJSON(context.Background(), []byte(`{}`))
	if !errors.As(err, &e) || e.Status != 502 || string(e.Body) != "<html>bad gateway</html>" || e.Kind != "" {
		t.Errorf("502 without an error body: %#v", err)
	}
}

func TestDocumentIDIsTheCollectors(t *testing.T) {
	id, err := doc.ID()
	if err != nil || !strings.HasPrefix(id, "1420245000000-") || len(id) != len("1420245000000-")+32 {
		t.Fatalf("ID = %q, %v", id, err)
	}
	// The same content in another order and spelling has the same id; other content another.
	same, _ := client.DocumentID([]byte(`{"measured_usage":[{"measure":"light_api_calls","quantity":1000.50},{"measure":"storage","quantity":1.073741824e9}],
"start":1420243200000,"end":1420245000000,"organization_id":"us-south:a3d7fe4d-3cb1-4cc3-a831-ffe98e20cf27","space_id":"aaeae239-f3f8-483c-9dd0-de5d41c38b6a",
"consumer_id":"app:bbeae239-f3f8-483c-9dd0-de6781c38bab","resource_id":"object-storage","plan_id":"basic","resource_instance_id":"0b39fa70-a65f-4183-bae8-385633ca5c87"}`))
	other := doc
	other.DedupID = "2"
	otherID, _ := other.ID()
	if same != id || otherID == id || otherID == "" {
		t.Errorf("ids: %s, same content %s, with a dedup id %s", id, same, otherID)
	}
	if _, err := client.DocumentID([]byte(`{"start":"yesterday"}`)); err == nil {
		t.Error("an invalid document has an id")
	}
}

// batchAnswer is a batch's answer of status with the results given as (status, id) pairs.
func batchAnswer(status int, results ...any) func(http.ResponseWriter, []byte) {
	var rs []string
	for i := 0; i+1 < len(results); i += 2 {
		st, id := results[i].(int), results[i+1].(string)
		r := fmt.Sprintf(`{"index":%d,"status":%d,"id":%q`, i/2, st, id)
		switch st {
		case 201:
			r += fmt.Sprintf(`,"location":"http://x/v1/metering/collected/usage/%s"`, id)
		case 409:
			r += fmt.Sprintf(`,"location":"http://x/v1/metering/collected/usage/%s","error":{"error":"already submitted","kind":"conflict"}`, id)
		case 503:
			r += `,"error":{"error":"usage could not be stored in Kafka; retry later","kind":"unavailable"}`
		case 400:
			r += `,"error":{"error":"invalid usage document","kind":"invalid","problems":[{"field":"start","reason":"is required"}]}`
		}
		rs = append(rs, r+"}")
	}
	header := []string{}
	if status == 503 {
		header = []string{"Retry-After", "1"}
	}
	return answer(status, `{"results":[`+strings.Join(rs, ",")+`]}`, header...)
}

func TestCollectBatchRetriesWhatWasUnavailable(t *testing.T) {
	f, s := newFake(t,
		batchAnswer(503, 201, "a", 503, "b", 400, "", 503, "d", 503, "b"),
		batchAnswer(200, 409, "b", 201, "d", 409, "b"))
	items := []json.RawMessage{json.RawMessage(`{"n":"a"}`), json.RawMessage(`{"n":"b"}`), json.RawMessage(`{"n":"c"}`), json.RawMessage(`{"n":"d"}`), json.RawMessage(`{"n":"b"}`)}
	sl := &sleeps{}
	resp, err := newClient(t, s, sl).CollectBatchJSON(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	if f.bodies[1] != `[{"n":"b"},{"n":"d"},{"n":"b"}]` || fmt.Sprint(sl.waits) != "[1s]" {
		t.Errorf("the retry sent %s after %v, want the unavailable documents only after 1s", f.bodies[1], sl.waits)
	}
	var got []string
	for _, r := range resp.Results {
		got = append(got, fmt.Sprintf("%d:%d:%s:%v", r.Index, r.Status, r.ID, r.Retried))
	}
	// b's 409 on the retry is its storing by the first attempt; its repeat stays a duplicate.
	if want := "[0:201:a:false 1:201:b:true 2:400::false 3:201:d:false 4:409:b:false]"; fmt.Sprint(got) != want {
		t.Errorf("results %v, want %s", got, want)
	}
	if resp.Accepted != 3 || resp.Duplicate != 1 || resp.Invalid != 1 || resp.Unavailable != 0 || resp.Results[2].Error.Problems[0].Field != "start" {
		t.Errorf("counts %+v", resp)
	}
}

func TestCollectBatchRunsOutOfBudget(t *testing.T) {
	_, s := newFake(t, batchAnswer(503, 201, "a", 503, "b"), batchAnswer(503, 503, "b"))
	resp, err := newClient(t, s, &sleeps{}, client.WithRetry(2, time.Minute)).CollectBatchJSON(context.Background(),
		[]json.RawMessage{json.RawMessage(`{"n":"a"}`), json.RawMessage(`{"n":"b"}`)})
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 503 || resp == nil || resp.Accepted != 1 || resp.Unavailable != 1 || resp.Results[1].Index != 1 {
		t.Errorf("CollectBatchJSON = %+v, %v; want a accepted, b unavailable and a 503", resp, err)
	}
}

func TestCollectBatchKeepsResultsWhenARetryIsRefused(t *testing.T) {
	_, s := newFake(t, batchAnswer(503, 201, "a", 503, "b"), answer(429, `{"error":"too many requests","kind":"unavailable"}`, "Retry-After", "1"))
	resp, err := newClient(t, s, &sleeps{}, client.WithRetry(2, time.Minute)).CollectBatchJSON(context.Background(),
		[]json.RawMessage{json.RawMessage(`{"n":"a"}`), json.RawMessage(`{"n":"b"}`)})
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 429 || resp.Accepted != 1 || resp.Unavailable != 1 || !strings.Contains(e.Message, "1 of the batch's documents") {
		t.Errorf("CollectBatchJSON = %+v, %v; want a accepted, b unavailable, and the 429", resp, err)
	}
}

func TestCollectBatchSplitsAndRefusals(t *testing.T) {
	f, s := newFake(t, batchAnswer(200, 201, "a", 201, "b"), batchAnswer(200, 201, "c", 409, "d"), batchAnswer(200, 201, "e"))
	docs := make([]client.Document, 5)
	for i := range docs {
		docs[i] = doc
		docs[i].DedupID = fmt.Sprint(i)
	}
	resp, err := newClient(t, s, &sleeps{}, client.WithMaxBatch(2)).CollectBatch(context.Background(), docs)
	if err != nil || len(f.paths) != 3 || f.paths[0] != "POST /v1/metering/collected/usage/batch" {
		t.Fatalf("CollectBatch: %v after %v", err, f.paths)
	}
	if len(resp.Results) != 5 || resp.Results[4].Index != 4 || resp.Results[3].Status != 409 || resp.Accepted != 4 || resp.Duplicate != 1 ||
		!strings.Contains(f.bodies[2], `"dedup_id":"4"`) {
		t.Errorf("CollectBatch = %+v", resp)
	}

	_, s = newFake(t, answer(403, `{"error":"this principal may write none of the batch's documents","kind":"forbidden","problems":[{"field":"[0]","reason":"may not write"}]}`))
	_, err = newClient(t, s, &sleeps{}).CollectBatch(context.Background(), docs[:1])
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 403 || e.Kind != client.KindForbidden || e.Problems[0].Field != "[0]" {
		t.Errorf("a batch refused whole: %v", err)
	}
}

const orgReport = `{"id":"k-us-south:o-t-0000001420245000000","organization_id":"us-south:o","start":1420070400000,"end":1420245000000,"processed":1420245000000,
"windows":[[null],[null],[null],[null],[{"charge":46.09}]],
"resources":[{"resource_id":"object-storage","windows":[[null],[null],[null],[null],[{"charge":46.09}]],
"aggregated_usage":[{"metric":"heavy_api_calls","windows":[[null],[null],[null],[null],[{"quantity":300,"summary":300,"cost":45,"charge":45}]]},
{"metric":"memory","windows":[[null],[null],[null],[null],[{"quantity":{"consumed":0,"consuming":6},"summary":0.5,"charge":0.01}]]}],
"plans":[]}],"spaces":[]}`

func TestReports(t *testing.T) {
	f, s := newFake(t, answer(200, orgReport, "Meterline-Settled", "true"),
		answer(200, `{"id":"i","organization_id":"us-south:o","space_id":"s","consumer_id":"app:1","resource_instance_id":"i/1","plan_id":"basic","metering_plan_id":"","windows":[],"accumulated_usage":[]}`, "Meterline-Settled", "false"),
		answer(404, `{"error":"no usage of organization nobody","kind":"not_found"}`))
	c := newClient(t, s, &sleeps{})
	at := time.UnixMilli(1420245000000)
	rep, err := c.OrganizationReport(context.Background(), "us-south:o", at)
	if err != nil {
		t.Fatal(err)
	}
	heavy := rep.Resources[0].AggregatedUsage[0].Windows.Slot(client.LevelMonth, 0)
	q, _ := heavy.Quantity.Decimal()
	mem := rep.Resources[0].AggregatedUsage[1].Windows.Slot(client.LevelMonth, 0)
	m, ok := mem.Quantity.Map()
	consuming, _ := m["consuming"].Decimal()
	if !rep.Settled || rep.Windows.Slot(client.LevelMonth, 0).Charge.String() != "46.09" || q.String() != "300" ||
		heavy.Summary.String() != "300" || heavy.Cost.String() != "45" || !ok || consuming.String() != "6" || !mem.Cost.IsNull() ||
		rep.Windows.Slot(client.LevelDay, 0) != nil || rep.Windows.Slot(9, 0) != nil {
		t.Errorf("organization report decoded as %+v", rep)
	}
	inst, err := c.InstanceReport(context.Background(), client.Instance{OrganizationID: "us-south:o", ResourceInstanceID: "i/1", ConsumerID: "app:1",
		PlanIDs: client.PlanIDs{PlanID: "basic"}}, time.Time{})
	if err != nil || inst.Settled || inst.ResourceInstanceID != "i/1" || inst.SpaceID != "s" {
		t.Errorf("instance report %+v, %v", inst, err)
	}
	if _, err := c.OrganizationReport(context.Background(), "nobody", time.Time{}); !client.IsNotFound(err) {
		t.Errorf("unknown organization: %v, want not found", err)
	}
	want := []string{"GET /v1/metering/organizations/us-south:o/aggregated/usage/1420245000000",
		"GET /v1/metering/organizations/us-south:o/resource_instances/i%2F1/consumers/app:1/plans/basic/metering_plans/-/rating_plans/-/pricing_plans/-/aggregated/usage",
		"GET /v1/metering/organizations/nobody/aggregated/usage"}
	if fmt.Sprint(f.paths) != fmt.Sprint(want) {
		t.Errorf("paths\n%v\nwant\n%v", f.paths, want)
	}
}

func TestGraphQL(t *testing.T) {
	f, s := newFake(t, answer(200, `{"data":{"organization":{"organization_id":"o","resources":[{"resource_id":"r","aggregated_usage":[{"metric":"m","windows":[[null],[],[],[],[{"quantity":0.1234567890123456789}]]}]}]}}}`),
		answer(400, `{"errors":[{"message":"Cannot query field \"no_such_field\" on type \"OrganizationReport\".","locations":[{"line":1,"column":30}]}]}`), // as gqlparser's validation answers: no code
		answer(503, `{"errors":[{"message":"the query ran out of time","extensions":{"code":"unavailable"}}]}`))
	c := newClient(t, s, &sleeps{}, client.WithRetry(1, 0)) // the 503 answered once, not retried
	var data struct {
		Organization struct {
			Resources []struct {
				AggregatedUsage []struct {
					Windows client.Windows[struct{ Quantity decimal.Decimal }] `json:"windows"`
				} `json:"aggregated_usage"`
			}
		}
	}
	err := c.GraphQL(context.Background(), `query($o: String!) { organization(organization_id: $o) { organization_id } }`, map[string]any{"o": "o"}, &data)
	if err != nil || data.Organization.Resources[0].AggregatedUsage[0].Windows.Slot(4, 0).Quantity.String() != "0.1234567890123456789" {
		t.Fatalf("GraphQL: %v, %+v", err, data)
	}
	if f.bodies[0] != `{"query":"query($o: String!) { organization(organization_id: $o) { organization_id } }","variables":{"o":"o"}}` || f.paths[0] != "POST "+client.GraphQLPath {
		t.Errorf("sent %s %s", f.paths[0], f.bodies[0])
	}
	err = c.GraphQL(context.Background(), `{ organization(organization_id: "x") { no_such_field } }`, nil, &data)
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 400 || e.Kind != client.KindInvalid || len(e.GraphQL) != 1 || !strings.Contains(e.Message, "no_such_field") {
		t.Errorf("GraphQL error: %#v", err)
	}
	err = c.GraphQL(context.Background(), `{ organization(organization_id: "x") { organization_id } }`, nil, &data)
	if !errors.As(err, &e) || e.Status != 503 || e.Kind != client.KindUnavailable || e.Message != "the query ran out of time" {
		t.Errorf("GraphQL error with a code: %#v", err)
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	for _, tc := range []struct {
		url  string
		opts []client.Option
	}{{"127.0.0.1:8080", nil}, {"ftp://x", nil}, {"http://x", []client.Option{client.WithRetry(0, time.Second)}},
		{"http://x", []client.Option{client.WithRetry(1, -time.Second)}}, {"http://x", []client.Option{client.WithMaxBatch(0)}}} {
		if _, err := client.New(tc.url, tc.opts...); err == nil {
			t.Errorf("New(%q) took it", tc.url)
		}
	}
}
