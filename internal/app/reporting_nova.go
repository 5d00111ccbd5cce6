package app

import (
	"net/http"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/report/nova"
)

// startNovaView serves Nova's os-simple-tenant-usage from the stored openstack-compute
// documents (internal/report/nova), beside the Abacus reports.
func startNovaView(s *stack, conn clickhouse.Conn, mux *http.ServeMux) {
	nova.NewAPI(clickhouse.NewNovaServers(conn), s.e.clock, s.e.log.Named("nova-view")).Register(mux)
}
