package app

import (
	"net/http"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/provisioning"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/report/vcloudair"
)

// startVCloudAirView serves the vCloud Air views (internal/report/vcloudair) beside the Abacus
// reports: the reconciliation of vCloud Air's billed usage against the metered usage, and
// vCloud Air's own metering (billable) and billing (billed) routes over r's rated cells, with
// the service groups, instances and billed costs the poller's billing loop stored.
func startVCloudAirView(s *stack, r *report.Reporter, store *provisioning.Store, conn clickhouse.Conn, mux *http.ServeMux) {
	log := s.e.log.Named("vcloudair-view")
	vcloudair.NewAPI(clickhouse.NewVCloudAirBilled(conn), log).Register(mux)
	v := vcloudair.NewView(r, clickhouse.NewVCloudAirDirectory(conn), store.Catalog)
	v.Close = s.e.cfg.VCloudAir.BillingClose
	vcloudair.NewViewAPI(v, log).Register(mux)
}
