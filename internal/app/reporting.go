package app

import (
	"context"
	"net/http"
	"time"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/provisioning"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/report/abacus"
	"github.com/meterline/meterline/internal/ui"
)

// startReporting serves the reports from usage_cells, with the plans' formulas of store.
func startReporting(s *stack, conn clickhouse.Conn, store *provisioning.Store, mux *http.ServeMux) error {
	cfg := s.e.cfg
	r := &report.Reporter{Store: clickhouse.NewCells(conn), Plans: store.Catalog, Clock: s.e.clock,
		Slots: cfg.Metering.ReportSlots, Future: cfg.Metering.Future,
		// Reports read rows written by their time; 5s covers a write in progress at that time
		// and the skew between the clocks of the sink's and the reports' hosts.
		Settle: 5 * time.Second}
	reports := abacus.NewReports(r)
	g, err := abacus.NewGraphQL(reports, store.Catalog)
	if err != nil {
		return err
	}
	abacus.NewAPI(reports, g, cfg.MaxBodyBytes, s.e.log.Named("reporting"), s.e.reg).Register(mux)
	startFocus(s, r, store, mux)
	startNovaView(s, conn, mux)
	startVCloudAirView(s, r, store, conn, mux)
	startCFReconView(s, conn, mux)
	startPCFView(s, r, conn, mux)
	startElasticBoxView(s, conn, mux)
	startDirectory(s, conn, mux)
	// The dashboard's page and script hold no data and are open, like /openapi.json; every figure
	// it shows it reads from the routes above, with the user's credentials (internal/ui).
	s.open[ui.Prefix] = ui.Handler()
	return nil
}

func runReporting(ctx context.Context, e *env) error {
	s, conn, err := clickHouseService(ctx, e)
	if err != nil {
		return err
	}
	store, err := startProvisioning(ctx, s, e.cfg.Kafka.Brokers, nil, false)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	if err := startReporting(s, conn, store, mux); err != nil {
		return err
	}
	if err := serveAPI(ctx, s, mux, store.Catalog); err != nil {
		return err
	}
	return s.wait(ctx)
}
