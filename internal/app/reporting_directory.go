package app

import (
	"net/http"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/report/directory"
)

// startDirectory serves the lists a caller starts from, the organizations with usage and
// their rejections (internal/report/directory), beside the reports.
func startDirectory(s *stack, conn clickhouse.Conn, mux *http.ServeMux) {
	directory.NewAPI(clickhouse.NewDirectory(conn), s.e.log.Named("directory")).Register(mux)
}
