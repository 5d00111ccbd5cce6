package directory

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
)

// memory is a Store over fixed lists, applying the queries as ClickHouse does.
type memory struct {
	orgs  []Organization // by id
	rejs  map[string][]Rejection
	insts map[string][]Instance
	err   error
	seen  []OrganizationQuery
	// loose ignores the queries' Resources, as a store with a bug would.
	loose bool
}

func (m *memory) Organizations(_ context.Context, q OrganizationQuery) ([]Organization, error) {
	m.seen = append(m.seen, q)
	var out []Organization
	for _, o := range m.orgs {
		if o.OrganizationID > q.After && (q.Only == nil || slices.Contains(q.Only, o.OrganizationID)) && len(out) < q.Limit {
			out = append(out, o)
		}
	}
	return out, m.err
}

func (m *memory) Rejections(_ context.Context, q RejectionQuery) ([]Rejection, error) {
	var out []Rejection
	for _, r := range m.rejs[q.Organization] {
		if (q.Resources == nil || m.loose || slices.Contains(q.Resources, r.ResourceID)) && len(out) < q.Limit {
			out = append(out, r)
		}
	}
	return out, m.err
}

func (m *memory) Instances(_ context.Context, q InstanceQuery) ([]Instance, error) {
	var out []Instance
	for _, in := range m.insts[q.Organization] {
		if (q.Space == "" || in.SpaceID == q.Space) && (q.Consumer == "" || in.ConsumerID == q.Consumer) &&
			(q.Resources == nil || m.loose || slices.Contains(q.Resources, in.ResourceID)) && len(out) < q.Limit {
			out = append(out, in)
		}
	}
	return out, m.err
}

var _ Store = (*memory)(nil)

func newMemory() *memory {
	m := &memory{rejs: map[string][]Rejection{}, insts: map[string][]Instance{}}
	m.insts["org-a"] = []Instance{
		{ResourceInstanceID: "i-1", SpaceID: "s-1", ConsumerID: "c-1", ResourceID: "object-storage", PlanID: "basic"},
		{ResourceInstanceID: "i-2", SpaceID: "s-1", ConsumerID: "c-2", ResourceID: "linux-container", PlanID: "standard"},
		{ResourceInstanceID: "i-3", SpaceID: "s-2", ConsumerID: "c-3", ResourceID: "object-storage", PlanID: "basic"},
	}
	for _, id := range []string{"org-a", "org-b", "org-c", "org-d"} {
		m.orgs = append(m.orgs, Organization{OrganizationID: id, From: 1, To: 2})
	}
	m.rejs["org-a"] = []Rejection{
		{ID: "3-c", ResourceID: "object-storage", Code: "no_plan", Reason: "no plan", Processed: 30},
		{ID: "2-b", ResourceID: "linux-container", Code: "too_late", Reason: "late", Processed: 20},
		{ID: "1-a", ResourceID: "object-storage", Code: "future", Reason: "future", Processed: 10},
	}
	return m
}

func serve(t *testing.T, m *memory, p *auth.Principal, target string) (int, []byte) {
	t.Helper()
	mux := http.NewServeMux()
	NewAPI(m, zap.NewNop()).Register(mux)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if p != nil {
		req = req.WithContext(auth.WithPrincipal(req.Context(), p))
	}
	mux.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

func ids[T any](list []T, id func(T) string) []string {
	out := make([]string, 0, len(list))
	for _, v := range list {
		out = append(out, id(v))
	}
	return out
}

// listCase is a request of a list and its answer: its status and, with 200, the ids listed,
// whether the list was cut, and the after of the next page (organizations only).
type listCase struct {
	name      string
	p         *auth.Principal
	target    string
	status    int
	want      []string
	truncated bool
	next      string
}

// checkList serves each case's request, of a fresh memory, and compares the answer with the
// case's; listed reads the ids, the cut and the next page from a list L.
func checkList[L any](t *testing.T, cases []listCase, listed func(L) ([]string, bool, string)) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := serve(t, newMemory(), tc.p, tc.target)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if status != 200 {
				return
			}
			// The schema's lists are arrays, empty ones too.
			if strings.Contains(string(body), "null") {
				t.Errorf("a null in %s", body)
			}
			var list L
			if err := json.Unmarshal(body, &list); err != nil {
				t.Fatal(err)
			}
			got, truncated, next := listed(list)
			if !slices.Equal(got, tc.want) || truncated != tc.truncated || next != tc.next {
				t.Errorf("listed %v truncated %v next %q, want %v %v %q", got, truncated, next, tc.want, tc.truncated, tc.next)
			}
		})
	}
}

func TestOrganizationsArePagedAndFilteredByPrincipal(t *testing.T) {
	admin := auth.NewPrincipal("admin", auth.MethodAPIKey, []string{auth.ScopeAdmin}, []string{"*"})
	reader := auth.NewPrincipal("r", auth.MethodAPIKey, []string{auth.ScopeRead}, []string{"org-b", "org-d", "org-z"})
	writer := auth.NewPrincipal("w", auth.MethodAPIKey, []string{auth.ScopeWrite}, []string{"*"})
	checkList(t, []listCase{
		{"admin sees every one", admin, "/v1/metering/organizations", 200, []string{"org-a", "org-b", "org-c", "org-d"}, false, ""},
		{"a page", admin, "/v1/metering/organizations?limit=2", 200, []string{"org-a", "org-b"}, true, "org-b"},
		{"the next page", admin, "/v1/metering/organizations?limit=2&after=org-b", 200, []string{"org-c", "org-d"}, false, ""},
		{"a reader sees its own", reader, "/v1/metering/organizations", 200, []string{"org-b", "org-d"}, false, ""},
		{"a page of a reader", reader, "/v1/metering/organizations?limit=1", 200, []string{"org-b"}, true, "org-b"},
		{"a writer reads none", writer, "/v1/metering/organizations", 403, nil, false, ""},
		{"no principal", nil, "/v1/metering/organizations", 401, nil, false, ""},
	}, func(l OrganizationList) ([]string, bool, string) {
		return ids(l.Organizations, func(o Organization) string { return o.OrganizationID }), l.Truncated, l.Next
	})
}

func TestOrganizationsOfAReaderAskOnlyForItsOwn(t *testing.T) {
	m := newMemory()
	none := auth.NewPrincipal("n", auth.MethodAPIKey, []string{auth.ScopeRead}, nil)
	status, body := serve(t, m, none, "/v1/metering/organizations")
	if status != 200 || !strings.Contains(string(body), `"organizations":[]`) {
		t.Fatalf("a reader of no organization: %d %s", status, body)
	}
	if len(m.seen) != 0 {
		t.Errorf("the store was asked %v for a principal of no organization", m.seen)
	}
	reader := auth.NewPrincipal("r", auth.MethodAPIKey, []string{auth.ScopeRead}, []string{"org-c"})
	serve(t, m, reader, "/v1/metering/organizations")
	if len(m.seen) != 1 || !slices.Equal(m.seen[0].Only, []string{"org-c"}) {
		t.Errorf("queries %+v, want one of only org-c", m.seen)
	}
}

func TestRejectionsOfReadableResources(t *testing.T) {
	admin := auth.NewPrincipal("admin", auth.MethodAPIKey, []string{auth.ScopeAdmin}, []string{"*"})
	storage := auth.NewPrincipal("s", auth.MethodAPIKey, []string{auth.ResourceScope("object-storage", "read")}, []string{"org-a"})
	other := auth.NewPrincipal("o", auth.MethodAPIKey, []string{auth.ScopeRead}, []string{"org-b"})
	checkList(t, []listCase{
		{"every one, latest first", admin, "/v1/metering/organizations/org-a/rejections", 200, []string{"3-c", "2-b", "1-a"}, false, ""},
		{"cut at the limit", admin, "/v1/metering/organizations/org-a/rejections?limit=2", 200, []string{"3-c", "2-b"}, true, ""},
		{"only the resources readable", storage, "/v1/metering/organizations/org-a/rejections", 200, []string{"3-c", "1-a"}, false, ""},
		{"an organization not granted", other, "/v1/metering/organizations/org-a/rejections", 403, nil, false, ""},
		{"an organization with none", admin, "/v1/metering/organizations/org-b/rejections", 200, []string{}, false, ""},
		{"no principal", nil, "/v1/metering/organizations/org-a/rejections", 401, nil, false, ""},
	}, func(l RejectionList) ([]string, bool, string) {
		return ids(l.Rejections, func(r Rejection) string { return r.ID }), l.Truncated, ""
	})
}

func TestInstancesOfReadableResources(t *testing.T) {
	admin := auth.NewPrincipal("admin", auth.MethodAPIKey, []string{auth.ScopeAdmin}, []string{"*"})
	storage := auth.NewPrincipal("s", auth.MethodAPIKey, []string{auth.ResourceScope("object-storage", "read")}, []string{"org-a"})
	other := auth.NewPrincipal("o", auth.MethodAPIKey, []string{auth.ScopeRead}, []string{"org-b"})
	checkList(t, []listCase{
		{"every one", admin, "/v1/metering/organizations/org-a/resource_instances", 200, []string{"i-1", "i-2", "i-3"}, false, ""},
		{"of a space", admin, "/v1/metering/organizations/org-a/resource_instances?space_id=s-1", 200, []string{"i-1", "i-2"}, false, ""},
		{"of a consumer", admin, "/v1/metering/organizations/org-a/resource_instances?space_id=s-1&consumer_id=c-2", 200, []string{"i-2"}, false, ""},
		{"cut at the limit", admin, "/v1/metering/organizations/org-a/resource_instances?limit=1", 200, []string{"i-1"}, true, ""},
		{"only the resources readable", storage, "/v1/metering/organizations/org-a/resource_instances", 200, []string{"i-1", "i-3"}, false, ""},
		{"cut among the readable", storage, "/v1/metering/organizations/org-a/resource_instances?limit=1", 200, []string{"i-1"}, true, ""},
		{"an organization not granted", other, "/v1/metering/organizations/org-a/resource_instances", 403, nil, false, ""},
		{"an organization with none", admin, "/v1/metering/organizations/org-b/resource_instances", 200, []string{}, false, ""},
	}, func(l InstanceList) ([]string, bool, string) {
		return ids(l.ResourceInstances, func(i Instance) string { return i.ResourceInstanceID }), l.Truncated, ""
	})
}

// TestRowsOfUnreadableResourcesAreDropped: the API does not trust the store's filter alone.
func TestRowsOfUnreadableResourcesAreDropped(t *testing.T) {
	storage := auth.NewPrincipal("s", auth.MethodAPIKey, []string{auth.ResourceScope("object-storage", "read")}, []string{"org-a"})
	for _, target := range []string{"/v1/metering/organizations/org-a/rejections", "/v1/metering/organizations/org-a/resource_instances"} {
		m := newMemory()
		m.loose = true
		status, body := serve(t, m, storage, target)
		if status != 200 || !strings.Contains(string(body), "object-storage") || strings.Contains(string(body), "linux-container") {
			t.Errorf("%s: %d %s, want only object-storage", target, status, body)
		}
	}
}

func TestBadRequestsNameEachProblem(t *testing.T) {
	admin := auth.NewPrincipal("admin", auth.MethodAPIKey, []string{auth.ScopeAdmin}, []string{"*"})
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		target string
		fields []string
	}{
		{"/v1/metering/organizations?limit=0", []string{"limit"}},
		{"/v1/metering/organizations?limit=1001&after=" + long, []string{"limit", "after"}},
		{"/v1/metering/organizations?limit=x&lmit=3", []string{"limit", "lmit"}},
		{"/v1/metering/organizations/" + long + "/rejections?limit=-1", []string{"organization_id", "limit"}},
		{"/v1/metering/organizations/org-a/resource_instances?consumer_id=" + long + "&space=s-1", []string{"consumer_id", "space"}},
	} {
		status, body := serve(t, newMemory(), admin, tc.target)
		if status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", tc.target, status, body)
			continue
		}
		var e struct {
			Kind     string          `json:"kind"`
			Problems []fault.Problem `json:"problems"`
		}
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatal(err)
		}
		got := ids(e.Problems, func(p fault.Problem) string { return p.Field })
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tc.fields))
		if e.Kind != "invalid" || !slices.Equal(got, want) {
			t.Errorf("%s: kind %q problems %v, want invalid %v", tc.target, e.Kind, got, want)
		}
		if len(body) > 2000 {
			t.Errorf("%s: error body of %d bytes echoes the input", tc.target, len(body))
		}
	}
}

func TestStoreFailureIsUnavailable(t *testing.T) {
	admin := auth.NewPrincipal("admin", auth.MethodAPIKey, []string{auth.ScopeAdmin}, []string{"*"})
	for _, target := range []string{"/v1/metering/organizations", "/v1/metering/organizations/org-a/rejections",
		"/v1/metering/organizations/org-a/resource_instances"} {
		m := newMemory()
		m.err = fault.Unavailable(context.DeadlineExceeded, "usage_cells_daily: list")
		if status, body := serve(t, m, admin, target); status != http.StatusServiceUnavailable {
			t.Errorf("%s: status %d, want 503: %s", target, status, body)
		}
	}
}
