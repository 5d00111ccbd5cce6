package sink

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/kafka"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// CellWriter is where the cell sink writes (clickhouse.Cells). Insert may be called again with
// rows it wrote before (a replay after a crash between the write and the offset commit).
type CellWriter interface {
	Insert(ctx context.Context, rows []clickhouse.CellRow) error
}

// NewCells returns the cell sink of cfg.Topic (the rated-usage topic) into w. A cell whose
// quantity or cost does not fit Decimal(38, 12) is set aside (see checkCell).
func NewCells(cfg Config, w CellWriter, log *zap.Logger, reg prometheus.Registerer) (*kafka.BatchConsumer[clickhouse.CellRow], error) {
	return newSink(cfg, "cellsink", func() *meterlinev1.RatedUsage { return &meterlinev1.RatedUsage{} }, checkCell,
		func(m *meterlinev1.RatedUsage, r *kgo.Record) clickhouse.CellRow {
			return clickhouse.CellRow{Cell: m, Partition: r.Partition, Offset: r.Offset}
		}, w.Insert, log, reg)
}
