package abacus

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/schemas/openapi"
)

// TestAnswersMatchOpenAPI: the API's answers over the seed's usage (the goldens' reports and
// GraphQL examples) and its errors validate against the OpenAPI document.
func TestAnswersMatchOpenAPI(t *testing.T) {
	v, err := openapi.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	r := seedReports(t)
	g, err := NewGraphQL(r, fakeAccounts{seedAccount: {AccountID: seedAccount, Organizations: []string{seedOrg, seedOrg2}}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	NewAPI(r, g, 1<<20, zap.NewNop(), prometheus.NewRegistry()).Register(mux)
	srv := httptest.NewServer(v.Handler(auth.AsAdmin(mux), t.Error))
	defer srv.Close()
	f := func(method, path, body string, status int) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, status)
		}
	}
	ts := fmt.Sprint(seedTime)
	org := "/v1/metering/organizations/" + url.PathEscape(seedOrg) + "/aggregated/usage"
	f("GET", org+"/"+ts, "", 200)
	f("GET", org, "", 200)
	inst := "/v1/metering/organizations/" + url.PathEscape(seedOrg) + "/resource_instances/" + seedInstance + "/consumers/" + seedConsumer +
		"/plans/basic/metering_plans/-/rating_plans/-/pricing_plans/-/aggregated/usage/"
	f("GET", inst+ts, "", 200)
	f("GET", "/v1/metering/organizations/"+url.PathEscape(seedOrg)+"/resource_instances/app:linux/consumers/app:linux/plans/basic/metering_plans/basic-linux-container/rating_plans/linux-rating-plan/pricing_plans/linux-pricing-basic/aggregated/usage/"+ts, "", 200)
	f("GET", org+"/tomorrow", "", 400)
	f("GET", "/v1/metering/organizations/nobody/aggregated/usage/"+ts, "", 404)
	f("GET", strings.Replace(inst, seedInstance, "nothing", 1)+ts, "", 404)
	f("GET", "/v1/metering/organizations/"+strings.Repeat("x", 300)+"/aggregated/usage/"+ts, "", 400)

	files, err := filepath.Glob(filepath.Join("testdata", "seed001", "*.graphql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example queries: %v", err)
	}
	for _, file := range files {
		q, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		status := 200
		if strings.Contains(file, "8") { // the seed's eighth example is a syntax error
			status = 400
		}
		body := fmt.Sprintf(`{"query": %q}`, q)
		f("POST", "/v1/metering/aggregated/usage/graph", body, status)
		f("GET", "/v1/metering/aggregated/usage/graph/"+url.PathEscape(string(q)), "", status)
	}
	f("POST", "/v1/metering/aggregated/usage/graph", `{"query":`, 400)
}
