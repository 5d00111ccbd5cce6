package app

import (
	"net/http"

	"github.com/meterline/meterline/internal/provisioning"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/report/focus"
)

// startFocus serves the FOCUS 1.2 export (GET /v1/export/focus) over r, with the accounts and
// prices of store's catalog.
func startFocus(s *stack, r *report.Reporter, store *provisioning.Store, mux *http.ServeMux) {
	focus.NewAPI(focus.NewExporter(r, store.Catalog), s.e.log.Named("focus")).Register(mux)
}
