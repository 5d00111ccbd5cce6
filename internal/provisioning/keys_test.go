package provisioning

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/platform/web"
)

var (
	adminP  = auth.NewPrincipal("admin", auth.MethodAdminKey, []string{auth.ScopeAdmin}, nil)
	readerA = auth.NewPrincipal("a", auth.MethodJWT, []string{auth.ScopeRead}, []string{"org-a"})
	writerA = auth.NewPrincipal("w", auth.MethodJWT, []string{auth.ScopeWrite}, []string{"org-a"})
)

// serveAs answers one request to the provisioning and API keys routes as p.
func serveAs(t *testing.T, mux *http.ServeMux, p *auth.Principal, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	auth.As(p, mux).ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec
}

// TestAPIKeysAPI: an admin creates a key (its secret shown once, only its hash stored), lists
// keys without secrets or hashes and revokes one, which stays revoked; a bad request names
// each problem; nobody else may touch keys.
func TestAPIKeysAPI(t *testing.T) {
	w := &topicWriter{c: catalog.NewCatalog()}
	clk := clock.NewManual(time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC))
	mux := http.NewServeMux()
	NewKeysAPI(w.c, w, clk, zap.NewNop()).Register(mux)

	rec := serveAs(t, mux, adminP, http.MethodPost, "/v1/provisioning/api_keys",
		`{"name":"collector of a","organizations":["org-a"],"scopes":["abacus.usage.write"],"expires":`+
			jsonInt(clk.Now().Add(time.Hour).UnixMilli())+`}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	var created struct {
		ID, Key, Hash string
		Created       int64
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Key, auth.KeyPrefix+created.ID+"_") || created.Hash != "" || created.Created != clk.Now().UnixMilli() {
		t.Errorf("created %s", rec.Body)
	}
	stored, ok := w.c.APIKey(created.ID)
	if !ok || stored.Hash != auth.HashKey(created.Key) || strings.Contains(string(mustJSON(t, stored)), created.Key) {
		t.Errorf("stored %+v, want the hash of the secret only", stored)
	}
	if rec.Header().Get("Location") != "/v1/provisioning/api_keys/"+created.ID {
		t.Errorf("Location %q", rec.Header().Get("Location"))
	}

	for _, path := range []string{"/v1/provisioning/api_keys", "/v1/provisioning/api_keys/" + created.ID} {
		rec = serveAs(t, mux, adminP, http.MethodGet, path, "")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), created.ID) ||
			strings.Contains(rec.Body.String(), created.Key) || strings.Contains(rec.Body.String(), `"hash"`) {
			t.Errorf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
	}

	rec = serveAs(t, mux, adminP, http.MethodPost, "/v1/provisioning/api_keys",
		`{"organizations":[],"scopes":["abacus.usage.read","cloud_controller.admin"],"expires":1}`)
	var body web.ErrorBody
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	var fields []string
	for _, p := range body.Problems {
		fields = append(fields, p.Field)
	}
	if rec.Code != http.StatusBadRequest || strings.Join(fields, ",") != "organizations,expires,scopes[1]" {
		t.Errorf("bad key: %d %s", rec.Code, rec.Body)
	}
	if rec := serveAs(t, mux, adminP, http.MethodPost, "/v1/provisioning/api_keys", `{"organizations":["o"],"scopes":["abacus.usage.read"],"secret":"x"}`); rec.Code != http.StatusBadRequest {
		t.Errorf("unknown field: %d", rec.Code)
	}

	for _, p := range []*auth.Principal{readerA, writerA} {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			path := "/v1/provisioning/api_keys"
			if m == http.MethodDelete {
				path += "/" + created.ID
			}
			if rec := serveAs(t, mux, p, m, path, `{"organizations":["org-a"],"scopes":["meterline.admin"]}`); rec.Code != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d, want 403", m, path, p.Subject, rec.Code)
			}
		}
	}

	clk.Advance(time.Minute)
	rec = serveAs(t, mux, adminP, http.MethodDelete, "/v1/provisioning/api_keys/"+created.ID, "")
	if k, _ := w.c.APIKey(created.ID); rec.Code != http.StatusOK || k.Revoked != clk.Now().UnixMilli() {
		t.Errorf("revoke: %d %s, stored %+v", rec.Code, rec.Body, k)
	}
	clk.Advance(time.Minute)
	puts := w.puts
	if rec := serveAs(t, mux, adminP, http.MethodDelete, "/v1/provisioning/api_keys/"+created.ID, ""); rec.Code != http.StatusOK || w.puts != puts {
		t.Errorf("revoke again: %d, %d writes", rec.Code, w.puts-puts)
	}
	if rec := serveAs(t, mux, adminP, http.MethodDelete, "/v1/provisioning/api_keys/0000000000000000", ""); rec.Code != http.StatusNotFound {
		t.Errorf("revoke unknown: %d", rec.Code)
	}
}

// TestAccountTenancy: accounts are listed and read by those who may read all of their
// organizations; another tenant's account is 404 like a missing one, another organization's
// account 403; provisioning reads and writes are the admin's.
func TestAccountTenancy(t *testing.T) {
	api, w := newTestAPI()
	for _, a := range []catalog.Account{
		{AccountID: "acct-a", Organizations: []string{"org-a"}, PricingCountry: "USA", Currency: "USD"},
		{AccountID: "acct-b", Organizations: []string{"org-b"}, PricingCountry: "USA", Currency: "USD"},
	} {
		r, _ := catalog.RecordOf(a)
		if err := w.c.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	api.Register(mux)
	f := func(p *auth.Principal, method, path string, status int, has, hasNot string) {
		t.Helper()
		rec := serveAs(t, mux, p, method, path, `{}`)
		if rec.Code != status || !strings.Contains(rec.Body.String(), has) || (hasNot != "" && strings.Contains(rec.Body.String(), hasNot)) {
			t.Errorf("%s %s as %s: %d %s, want %d with %q without %q", method, path, p.Subject, rec.Code, rec.Body, status, has, hasNot)
		}
	}
	f(readerA, http.MethodGet, "/v1/accounts", http.StatusOK, "acct-a", "acct-b")
	f(writerA, http.MethodGet, "/v1/accounts", http.StatusOK, "[]", "acct")
	f(adminP, http.MethodGet, "/v1/accounts", http.StatusOK, "acct-b", "")
	f(readerA, http.MethodGet, "/v1/accounts/acct-a", http.StatusOK, "org-a", "")
	f(readerA, http.MethodGet, "/v1/accounts/acct-b", http.StatusNotFound, "not_found", "org-b")
	f(readerA, http.MethodGet, "/v1/organizations/org-a/account", http.StatusOK, "acct-a", "")
	f(readerA, http.MethodGet, "/v1/organizations/org-b/account", http.StatusForbidden, "forbidden", "acct-b")
	for _, route := range [][2]string{{"GET", "/v1/metering/plans"}, {"POST", "/v1/metering/plans"}, {"GET", "/v1/provisioning/mappings"},
		{"POST", "/v1/provisioning/mappings"}, {"GET", "/v1/provisioning/resources/r/type"}, {"PUT", "/v1/provisioning/resources/r/type"},
		{"POST", "/v1/accounts"}, {"PUT", "/v1/accounts/acct-a"}, {"GET", "/v1/pricing/organizations/org-a/resource_types/t/plans/p/time/0/pricing_plan/id"}} {
		f(readerA, route[0], route[1], http.StatusForbidden, "meterline.admin", "")
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }
