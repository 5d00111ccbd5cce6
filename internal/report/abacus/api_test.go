package abacus

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/report"
)

func TestAPI(t *testing.T) { atInstants(t, testAPI) }

func testAPI(t *testing.T, at int64) {
	cells := objectCells("s", "app:1", "i1", at-1000, at-500, [3]string{"1", "3", "300"})
	// The same usage metered with no rating and no pricing plan.
	for _, c := range objectCells("s", "app:1", "i2", at-1000, at-500, [3]string{"1", "3", "300"}) {
		if c.Instance == "i2" {
			c.Plan, c.Cost = "basic/basic-object-storage//", report.Value{}
			cells = append(cells, c)
		}
	}
	r, _ := newReporter(t, at, cells)
	g, err := NewGraphQL(r, fakeAccounts{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	NewAPI(r, g, 1<<20, zap.NewNop(), prometheus.NewRegistry()).Register(mux)
	srv := httptest.NewServer(auth.AsAdmin(mux))
	defer srv.Close()
	f := func(method, path, body string, status int, want string) http.Header {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status || !strings.Contains(string(b), want) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: %d %s %s, want %d with %s", method, path, resp.StatusCode, resp.Header.Get("Content-Type"), b, status, want)
		}
		return resp.Header
	}
	org := "/v1/metering/organizations/o/aggregated/usage"
	ts := fmt.Sprint(at)
	if h := f("GET", org+"/"+ts, "", 200, `"charge":46.09`); h.Get(SettledHeader) != "true" {
		t.Errorf("a report of an hour ago: %s %q, want true", SettledHeader, h.Get(SettledHeader))
	}
	if h := f("GET", org, "", 200, `"organization_id":"o"`); h.Get(SettledHeader) != "false" {
		t.Errorf("a report of the present: %s %q, want false", SettledHeader, h.Get(SettledHeader))
	}
	f("GET", org+"/tomorrow", "", 400, `"field":"time"`)
	f("GET", "/v1/metering/organizations/nobody/aggregated/usage/"+ts, "", 404, `"kind":"not_found"`)
	f("GET", "/v1/metering/organizations/o/resource_instances/i2/consumers/app:1/plans/basic/metering_plans/basic-object-storage/rating_plans/-/pricing_plans/-/aggregated/usage/"+ts,
		"", 200, `"rating_plan_id":"","pricing_plan_id":""`)
	f("POST", "/v1/metering/aggregated/usage/graph", `{"query":"{ organization(organization_id: \"o\", time: `+ts+`) { id } }"}`, 200, fmt.Sprintf(`"id":"k-o-t-%016d"`, at))
	f("POST", "/v1/metering/aggregated/usage/graph", `{"query":`, 400, `"kind":"invalid"`)
	// Ids no document can have are 400s naming the field, before any store is asked.
	long := strings.Repeat("x", 130<<10)
	f("GET", "/v1/metering/organizations/"+long+"/aggregated/usage/"+ts, "", 400, `"field":"organization_id"`)
	f("GET", "/v1/metering/organizations/o/resource_instances/i2/consumers/app:1/plans/-/metering_plans/-/rating_plans/-/pricing_plans/-/aggregated/usage/"+ts,
		"", 400, `"field":"plan_id"`)
	// In GraphQL, such an id makes a query too large; in variables, it is named.
	graph := "/v1/metering/aggregated/usage/graph"
	f("POST", graph, `{"query":"{ organization(organization_id: \"`+long+`\", time: `+ts+`) { id } }"}`, 400, `"code":"too_large","problems":[{"field":"query"`)
	f("GET", graph+"/"+url.PathEscape(`{ organization(organization_id: "`+long+`") { id } }`), "", 400, `"code":"too_large","problems":[{"field":"query"`)
	f("POST", graph, `{"query":"query ($o: String!) { organization(organization_id: $o) { id } }","variables":{"o":"`+long+`"}}`,
		400, `"problems":[{"field":"organization_id"`)

	// A null query is no query; a body over the limit is too large; a 64-bit time in variables
	// is read whole, a longer one named.
	f("POST", graph, `{"query":null}`, 400, `"message":"no query`)
	f("POST", graph, `{"query":"{ __typename }"} {}`, 400, `data after the request`)
	f("POST", graph, `{"query":"`+strings.Repeat(" ", 1<<20)+`{ __typename }"}`, 400, `"kind":"too_large"`)
	vars := func(t string) string {
		return `{"query":"query ($t: Int) { organization(organization_id: \"o\", time: $t) { end } }","variables":{"t":` + t + `}}`
	}
	f("POST", graph, vars(ts), 200, `"end":`+ts)
	f("POST", graph, vars("99999999999999999999"), 400, `an Int must fit 64 bits`)
}
