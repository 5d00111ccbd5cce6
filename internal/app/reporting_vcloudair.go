package app

import (
	"net/http"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/report/vcloudair"
)

// startVCloudAirView serves the reconciliation of vCloud Air's billed usage against the
// metered usage (internal/report/vcloudair), beside the Abacus reports.
func startVCloudAirView(s *stack, conn clickhouse.Conn, mux *http.ServeMux) {
	vcloudair.NewAPI(clickhouse.NewVCloudAirBilled(conn), s.e.log.Named("vcloudair-view")).Register(mux)
}
