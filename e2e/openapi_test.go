package e2e

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meterline/meterline/schemas/openapi"
)

// servedOpenAPI reads the OpenAPI document the service at base serves (GET /openapi.json,
// open, without credentials), checks that /openapi.yaml serves it too, and returns a
// validator of answers against it.
func servedOpenAPI(t *testing.T, base string) *openapi.Validator {
	t.Helper()
	r := call(t, http.MethodGet, base+"/openapi.json", "", "")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %s %.200s", r.status, r.header.Get("Content-Type"), r.body)
	}
	v, err := openapi.NewValidatorOf(r.body)
	if err != nil {
		t.Fatalf("the served OpenAPI document: %v", err)
	}
	if y := call(t, http.MethodGet, base+"/openapi.yaml", "", ""); y.status != http.StatusOK || !strings.Contains(string(y.body), "openapi: 3.1.0") {
		t.Errorf("GET /openapi.yaml: %d %.200s", y.status, y.body)
	}
	return v
}

// checkAnswer validates an answer r to method u against the served document. A route the
// document does not describe is only logged: TestOpenAPIDescribesEveryRoute
// (internal/app/routes_test.go) fails for it, naming the file to edit.
func checkAnswer(t *testing.T, v *openapi.Validator, name, method, u string, r response) {
	t.Helper()
	err := v.Response(httptest.NewRequest(method, u, nil), r.status, r.header, r.body)
	switch {
	case errors.Is(err, openapi.ErrNoOperation):
		t.Logf("%s: not in the OpenAPI document yet: %v", name, err)
	case err != nil:
		t.Errorf("%s: the answer does not match the OpenAPI document: %v", name, err)
	}
}
