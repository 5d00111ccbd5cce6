package app

import (
	"net/http"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/report/pcf"
)

// startPCFView serves the PCF usage report (internal/report/pcf) over r's rated cells and the
// cf poller's metadata in cf_metadata, beside the Abacus reports.
func startPCFView(s *stack, r *report.Reporter, conn clickhouse.Conn, mux *http.ServeMux) {
	pcf.NewAPI(pcf.NewBuilder(r, clickhouse.NewCFMetadata(conn)), s.e.log.Named("pcf-view")).Register(mux)
}
