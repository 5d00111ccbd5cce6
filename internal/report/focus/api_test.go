package focus

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
)

// serve answers GET query as principal p (nil: none).
func serve(t *testing.T, e *Exporter, p *auth.Principal, query string) *httptest.ResponseRecorder {
	t.Helper()
	mux := http.NewServeMux()
	NewAPI(e, zap.NewNop()).Register(mux)
	req := httptest.NewRequest(http.MethodGet, Path+"?"+query, nil)
	if p != nil {
		req = req.WithContext(auth.WithPrincipal(req.Context(), p))
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	return w
}

// TestAPI checks the route's answers: the CSV and the Parquet export, 400 naming every bad
// parameter, 404 for an unknown account and for a period without usage, 403 for another
// tenant's organization or account.
func TestAPI(t *testing.T) {
	e := seedExporter(t, goldenTime)
	admin := auth.NewPrincipal("op", auth.Method("test"), []string{auth.ScopeAdmin}, []string{"*"})
	other := auth.NewPrincipal("b", auth.Method("test"), []string{auth.ScopeRead}, []string{"org-b"})
	q := "billing_period=2026-11&time=2026-11-20T12:00:00Z&organization_id=" + seedOrg
	w := serve(t, e, admin, q)
	if want, _ := readGolden("organization.golden.csv"); w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), want) ||
		!strings.HasPrefix(w.Header().Get("Content-Type"), "text/csv") {
		t.Errorf("CSV: %d %s %s", w.Code, w.Header(), w.Body)
	}
	w = serve(t, e, admin, q+"&format=parquet")
	rows, err := ReadParquet(bytes.NewReader(w.Body.Bytes()), int64(w.Body.Len()))
	if w.Code != http.StatusOK || err != nil || len(rows) != 7 {
		t.Errorf("Parquet: %d, %d rows, %v: %v", w.Code, len(rows), err, rows)
	}
	f := func(p *auth.Principal, query string, status int, fields ...string) {
		t.Helper()
		w := serve(t, e, p, query)
		var body struct {
			Error, Kind string
			Problems    []struct{ Field string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); w.Code != status || err != nil || body.Kind == "" {
			t.Errorf("%s: %d %s, want %d with a JSON error", query, w.Code, w.Body, status)
			return
		}
		var got []string
		for _, p := range body.Problems {
			got = append(got, p.Field)
		}
		if strings.Join(got, " ") != strings.Join(fields, " ") {
			t.Errorf("%s: problems %v, want %v: %s", query, got, fields, w.Body)
		}
	}
	f(admin, "billing_period=2026-13&format=xml&organization_id=a&account_id=b&extra=1&time=soon", 400,
		"account_id", "billing_period", "extra", "format", "time")
	f(admin, "", 400, "billing_period", "organization_id")
	f(admin, "billing_period=2027-01&organization_id=o", 400, "billing_period")
	f(admin, "billing_period=2026-11&organization_id=o&organization_id=p", 400, "organization_id")
	f(admin, "billing_period=2026-11&organization_id="+strings.Repeat("x", 300), 400, "organization_id")
	f(admin, "billing_period=2026-11&organization_id="+strings.Repeat("x", 3000), 400, "")
	f(admin, "billing_period=2026-11&account_id=nobody", 404)
	f(admin, "billing_period=2026-09&organization_id="+seedOrg, 404)
	f(other, q, 403)
	f(other, "billing_period=2026-11&account_id="+seedAccount, 403)
	f(other, "billing_period=2026-11&account_id=nobody", 403)
	f(nil, q, 401)
}
