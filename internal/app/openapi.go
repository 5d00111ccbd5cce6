package app

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/meterline/meterline/schemas/openapi"
)

// OpenAPI routes: every HTTP listener serves the merged OpenAPI document of every Meterline
// route (schemas/openapi/*.yaml), open like /healthz, since it describes routes and shows no
// tenant's data (docs/security.md).
const (
	openAPIJSONPath = "/openapi.json"
	openAPIYAMLPath = "/openapi.yaml"
)

// registerOpenAPI adds GET /openapi.json and GET /openapi.yaml to mux. The document is
// embedded and checked by the tests of package schemas, so a failure to build it is a bug of
// the build: it is logged once and answered 500.
func registerOpenAPI(mux *http.ServeMux, log *zap.Logger) {
	serve := func(doc func() ([]byte, error), contentType string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			raw, err := doc()
			if err != nil {
				log.Error("openapi document", zap.Error(err))
				http.Error(w, "the OpenAPI document could not be built", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("Cache-Control", "public, max-age=300")
			_, _ = w.Write(raw)
		}
	}
	mux.HandleFunc("GET "+openAPIJSONPath, serve(openapi.JSON, "application/json"))
	mux.HandleFunc("GET "+openAPIYAMLPath, serve(openapi.YAML, "application/yaml"))
}
