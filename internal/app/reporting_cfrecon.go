package app

import (
	"net/http"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/report/cfrecon"
)

// startCFReconView serves the reconciliation of the Cloud Foundry Usage Service's figures
// against the metered usage (internal/report/cfrecon), beside the Abacus reports.
func startCFReconView(s *stack, conn clickhouse.Conn, mux *http.ServeMux) {
	cfrecon.NewAPI(clickhouse.NewCFUsageService(conn), s.e.log.Named("cfrecon-view")).Register(mux)
}
