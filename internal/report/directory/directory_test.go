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
		if (q.Resources == nil || slices.Contains(q.Resources, r.ResourceID)) && len(out) < q.Limit {
			out = append(out, r)
		}
	}
	return out, m.err
}

func (m *memory) Instances(_ context.Context, q InstanceQuery) ([]Instance, error) {
	var out []Instance
	for _, in := range m.insts[q.Organization] {
		if (q.Space == "" || in.SpaceID == q.Space) && (q.Consumer == "" || in.ConsumerID == q.Consumer) &&
			(q.Resources == nil || slices.Contains(q.Resources, in.ResourceID)) && len(out) < q.Limit {
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

func orgID(o Organization) string { return o.OrganizationID }
func rejID(r Rejection) string    { return r.ID }

func TestOrganizationsArePagedAndFilteredByPrincipal(t *testing.T) {
	admin := auth.NewPrincipal("admin", auth.MethodAPIKey, []string{auth.ScopeAdmin}, []string{"*"})
	reader := auth.NewPrincipal("r", auth.MethodAPIKey, []string{auth.ScopeRead}, []string{"org-b", "org-d", "org-z"})
	writer := auth.NewPrincipal("w", auth.MethodAPIKey, []string{auth.ScopeWrite}, []string{"*"})
	for _, tc := range []struct {
		name   string
		p      *auth.Principal
		target string
		status int
		want   []string
		next   string
	}{
		{"admin sees every one", admin, "/v1/metering/organizations", 200, []string{"org-a", "org-b", "org-c", "org-d"}, ""},
		{"a page", admin, "/v1/metering/organizations?limit=2", 200, []string{"org-a", "org-b"}, "org-b"},
		{"the next page", admin, "/v1/metering/organizations?limit=2&after=org-b", 200, []string{"org-c", "org-d"}, ""},
		{"a reader sees its own", reader, "/v1/metering/organizations", 200, []string{"org-b", "org-d"}, ""},
		{"a page of a reader", reader, "/v1/metering/organizations?limit=1", 200, []string{"org-b"}, "org-b"},
		{"a writer reads none", writer, "/v1/metering/organizations", 403, nil, ""},
		{"no principal", nil, "/v1/metering/organizations", 401, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := serve(t, newMemory(), tc.p, tc.target)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if status != 200 {
				return
			}
			var list OrganizationList
			if err := json.Unmarshal(body, &list); err != nil {
				t.Fatal(err)
			}
			if got := ids(list.Organizations, orgID); !slices.Equal(got, tc.want) {
				t.Errorf("organizations %v, want %v", got, tc.want)
			}
			if list.Next != tc.next || list.Truncated != (tc.next != "") {
				t.Errorf("next %q truncated %v, want next %q", list.Next, list.Truncated, tc.next)
			}
		})
	}
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
	for _, tc := range []struct {
		name      string
		p         *auth.Principal
		target    string
		status    int
		want      []string
		truncated bool
	}{
		{"every one, latest first", admin, "/v1/metering/organizations/org-a/rejections", 200, []string{"3-c", "2-b", "1-a"}, false},
		{"cut at the limit", admin, "/v1/metering/organizations/org-a/rejections?limit=2", 200, []string{"3-c", "2-b"}, true},
		{"only the resources readable", storage, "/v1/metering/organizations/org-a/rejections", 200, []string{"3-c", "1-a"}, false},
		{"an organization not granted", other, "/v1/metering/organizations/org-a/rejections", 403, nil, false},
		{"an organization with none", admin, "/v1/metering/organizations/org-b/rejections", 200, []string{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := serve(t, newMemory(), tc.p, tc.target)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if status != 200 {
				return
			}
			var list RejectionList
			if err := json.Unmarshal(body, &list); err != nil {
				t.Fatal(err)
			}
			if got := ids(list.Rejections, rejID); !slices.Equal(got, tc.want) || list.Truncated != tc.truncated {
				t.Errorf("rejections %v truncated %v, want %v %v", got, list.Truncated, tc.want, tc.truncated)
			}
		})
	}
}

func TestInstancesOfReadableResources(t *testing.T) {
	admin := auth.NewPrincipal("admin", auth.MethodAPIKey, []string{auth.ScopeAdmin}, []string{"*"})
	storage := auth.NewPrincipal("s", auth.MethodAPIKey, []string{auth.ResourceScope("object-storage", "read")}, []string{"org-a"})
	other := auth.NewPrincipal("o", auth.MethodAPIKey, []string{auth.ScopeRead}, []string{"org-b"})
	for _, tc := range []struct {
		name      string
		p         *auth.Principal
		target    string
		status    int
		want      []string
		truncated bool
	}{
		{"every one", admin, "/v1/metering/organizations/org-a/resource_instances", 200, []string{"i-1", "i-2", "i-3"}, false},
		{"of a space", admin, "/v1/metering/organizations/org-a/resource_instances?space_id=s-1", 200, []string{"i-1", "i-2"}, false},
		{"of a consumer", admin, "/v1/metering/organizations/org-a/resource_instances?space_id=s-1&consumer_id=c-2", 200, []string{"i-2"}, false},
		{"cut at the limit", admin, "/v1/metering/organizations/org-a/resource_instances?limit=1", 200, []string{"i-1"}, true},
		{"only the resources readable", storage, "/v1/metering/organizations/org-a/resource_instances", 200, []string{"i-1", "i-3"}, false},
		{"an organization not granted", other, "/v1/metering/organizations/org-a/resource_instances", 403, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := serve(t, newMemory(), tc.p, tc.target)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if status != 200 {
				return
			}
			var list InstanceList
			if err := json.Unmarshal(body, &list); err != nil {
				t.Fatal(err)
			}
			got := ids(list.ResourceInstances, func(i Instance) string { return i.ResourceInstanceID })
			if !slices.Equal(got, tc.want) || list.Truncated != tc.truncated {
				t.Errorf("instances %v truncated %v, want %v %v", got, list.Truncated, tc.want, tc.truncated)
			}
		})
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
	m := newMemory()
	m.err = fault.Unavailable(context.DeadlineExceeded, "usage_cells_daily: list organizations")
	admin := auth.NewPrincipal("admin", auth.MethodAPIKey, []string{auth.ScopeAdmin}, []string{"*"})
	if status, body := serve(t, m, admin, "/v1/metering/organizations"); status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503: %s", status, body)
	}
}
