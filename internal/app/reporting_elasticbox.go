package app

import (
	"net/http"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/report/elasticbox"
)

// startElasticBoxView serves ElasticBox's cost reports (JSON and CSV) from the stored
// elasticbox documents (internal/report/elasticbox), in the cost units of
// METERLINE_ELASTICBOX_COST_SCALE, beside the Abacus reports.
func startElasticBoxView(s *stack, conn clickhouse.Conn, mux *http.ServeMux) {
	elasticbox.NewAPI(clickhouse.NewElasticBoxDocs(conn), s.e.cfg.ElasticBox.CostScale, s.e.log.Named("elasticbox-view")).Register(mux)
}
