package nova

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/schemas/openapi"
)

// TestAnswersMatchOpenAPI: the view's answers (lists, detailed and paged, a tenant's usage,
// a tenant without usage) and its errors in Nova's shape validate against the OpenAPI
// document.
func TestAnswersMatchOpenAPI(t *testing.T) {
	v, err := openapi.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	ended := fleet("t2", 2)
	for i := range ended {
		// A run that ends before its document does: the server ended (at New Year).
		ended[i].Latest.EndMs = jan1.Add(time.Hour).UnixMilli()
	}
	store := memory{rows: append(fleet("t1", 7), ended...)}
	list := Base + "/os-simple-tenant-usage"
	v240 := http.Header{"Openstack-Api-Version": {"compute 2.40"}}
	reader := auth.NewPrincipal("r", auth.MethodJWT, []string{auth.ScopeRead}, []string{"t2"})
	for _, c := range []struct {
		path   string
		h      http.Header
		store  Store
		p      *auth.Principal
		status int
	}{
		{list + "?start=2026-12-31T00:00:00", nil, store, admin, 200},
		{list + "?start=2026-12-31T00:00:00&detailed=1", nil, store, admin, 200},
		{list + "?start=2026-12-31T00:00:00&detailed=1&limit=3", v240, store, admin, 200},
		{list + "?start=2026-12-31T00:00:00&detailed=1&limit=3&marker=c2", v240, store, admin, 200},
		{list + "?start=2026-12-31T00:00:00", nil, store, reader, 200},
		{list + "/t1?start=2026-12-31T00:00:00", nil, store, admin, 200},
		{list + "/t2?start=2026-12-31T00:00:00.5&end=2027-01-01%2000:00:00", v240, store, admin, 200},
		{list + "/nobody?start=2026-12-31T00:00:00", nil, store, admin, 200},
		{list + "?start=yesterday", nil, store, admin, 400},
		{list + "?start=2026-12-31T00:00:00&limit=-1", v240, store, admin, 400},
		{list + "?start=2026-12-31T00:00:00&marker=nope", v240, store, admin, 400},
		{list, http.Header{"X-Openstack-Nova-Api-Version": {"2.200"}}, store, admin, 406},
		{list, http.Header{"X-Openstack-Nova-Api-Version": {"two"}}, store, admin, 400},
		{list + "/t1", nil, store, reader, 403},
		{list, nil, store, auth.NewPrincipal("w", auth.MethodJWT, []string{auth.ScopeWrite}, []string{"t1"}), 403},
		{list + "?start=2026-12-31T00:00:00", nil, memory{err: fault.Unavailable(errors.New("down"), "x")}, admin, 503},
	} {
		mux := http.NewServeMux()
		NewAPI(c.store, clock.NewManual(jan1.Add(30*time.Minute)), zap.NewNop()).Register(mux)
		req := httptest.NewRequest(http.MethodGet, c.path, nil)
		for k, hv := range c.h {
			req.Header[k] = hv
		}
		w := httptest.NewRecorder()
		v.Handler(auth.As(c.p, mux), t.Error).ServeHTTP(w, req)
		if w.Code != c.status {
			t.Errorf("%s: %d %s, want %d", c.path, w.Code, w.Body, c.status)
		}
	}
}
