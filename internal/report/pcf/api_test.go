package pcf

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/web"
)

func isKind(err error, kind string) bool {
	var fe *fault.Error
	return errors.As(err, &fe) && fe.Kind.String() == kind
}

// TestAPI checks the route: JSON, CSV by format and by Accept, 400 naming every bad
// parameter, 404 for an unknown organization, 403 for another tenant, 401 without a token.
func TestAPI(t *testing.T) {
	b := fixture(t)
	mux := http.NewServeMux()
	NewAPI(b, zap.NewNop()).Register(mux)
	admin := auth.NewPrincipal("op", auth.Method("test"), []string{auth.ScopeAdmin}, []string{"*"})
	other := auth.NewPrincipal("b", auth.Method("test"), []string{auth.ScopeRead}, []string{"org-b"})
	serve := func(p *auth.Principal, path, accept string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if p != nil {
			req = req.WithContext(auth.WithPrincipal(req.Context(), p))
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		return w
	}
	base := "/v1/cf/organizations/" + org + "/usage-report?start=2026-11-30&end=2027-01-01"
	if w := serve(admin, base, ""); w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") ||
		!strings.Contains(w.Body.String(), `"organization_name":"Finance"`) {
		t.Errorf("JSON: %d %s", w.Code, w.Body)
	}
	for _, w := range []*httptest.ResponseRecorder{serve(admin, base+"&format=csv", ""), serve(admin, base, "text/csv, application/json;q=0.5")} {
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/csv") || !strings.HasPrefix(w.Body.String(), "organization_guid,") {
			t.Errorf("CSV: %d %s %s", w.Code, w.Header(), w.Body)
		}
	}
	// f asserts the status and the problems' fields of an error answer's JSON body.
	f := func(pr *auth.Principal, path string, status int, fields ...string) {
		t.Helper()
		w := serve(pr, path, "")
		var body web.ErrorBody
		err := json.Unmarshal(w.Body.Bytes(), &body)
		got := make([]string, 0, len(body.Problems))
		for _, p := range body.Problems {
			got = append(got, p.Field)
		}
		if w.Code != status || err != nil || body.Kind == "" || !slices.Equal(got, append([]string{}, fields...)) {
			t.Errorf("%s: %d %s, want %d with a JSON error naming %v", path, w.Code, w.Body, status, fields)
		}
	}
	p := "/v1/cf/organizations/"
	f(admin, p+org+"/usage-report", 400, "start", "end")
	f(admin, p+org+"/usage-report?start=2026-02-30&end=12/31/2026&format=xml&x=1", 400, "x", "start", "end", "format")
	f(admin, p+org+"/usage-report?start=2026-12-31&end=2026-12-01", 400, "end")
	f(admin, p+org+"/usage-report?start=2024-01-01&end=2026-12-01", 400, "end")
	f(admin, p+org+"/usage-report?start=2026-12-01&start=2026-12-02&end=2026-12-03", 400, "start")
	f(admin, p+org+"/usage-report?start=2027-01-01&end=2027-01-02", 400, "start")
	f(admin, p+strings.Repeat("x", 300)+"/usage-report?start=2026-12-01&end=2026-12-02", 400, "org_guid")
	f(admin, p+org+"/usage-report?start=2026-12-01&end=2026-12-02&pad="+strings.Repeat("x", 2000), 400, "")
	f(admin, p+"org-nope/usage-report?start=2026-12-01&end=2026-12-02", 404)
	f(other, base, 403)
	f(nil, base, 401)
}
