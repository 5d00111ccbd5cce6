package sink

import (
	"context"
	"fmt"

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

// NewCells returns the cell sink of cfg.Topic (the rated-usage topic v2, whose records are
// batches of cells) into w. A record with a cell whose quantity or cost does not fit
// Decimal(38, 12) is set aside whole (see checkCell).
//
// The i-th cell of the record at offset o is written at the position (kafka_offset)
// o*kafka.MaxBatchCells+i: distinct for every cell of the partition, the same on a
// replay, and in the order the processor produced the cells, which is what Insert (the
// greatest position of a cell wins) and the reads' argMax (processed_ms, then the position,
// which only tells copies of one value apart) rely on.
func NewCells(cfg Config, w CellWriter, log *zap.Logger, reg prometheus.Registerer) (*kafka.BatchConsumer[[]clickhouse.CellRow], error) {
	return newSink(cfg, "cellsink", func() *meterlinev1.RatedUsageBatch { return &meterlinev1.RatedUsageBatch{} }, checkBatch,
		func(m *meterlinev1.RatedUsageBatch, r *kgo.Record) []clickhouse.CellRow {
			rows := make([]clickhouse.CellRow, len(m.GetCells()))
			for i, c := range m.GetCells() {
				rows[i] = clickhouse.CellRow{Cell: c, Partition: r.Partition, Offset: r.Offset*kafka.MaxBatchCells + int64(i)}
			}
			return rows
		}, func(ctx context.Context, batches [][]clickhouse.CellRow) error {
			n := 0
			for _, b := range batches {
				n += len(b)
			}
			rows := make([]clickhouse.CellRow, 0, n)
			for _, b := range batches {
				rows = append(rows, b...)
			}
			return w.Insert(ctx, rows)
		}, log, reg)
}

// checkBatch checks every cell of a batch (checkCell) and that it has no more cells than
// positions (kafka.MaxBatchCells).
func checkBatch(b *meterlinev1.RatedUsageBatch) error {
	if n := len(b.GetCells()); n > kafka.MaxBatchCells {
		return fmt.Errorf("a batch of %d cells, more than %d", n, kafka.MaxBatchCells)
	}
	for _, c := range b.GetCells() {
		if err := checkCell(c); err != nil {
			return err
		}
	}
	return nil
}
