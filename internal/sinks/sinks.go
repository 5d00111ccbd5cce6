// Package sinks writes the metering processor's output topics into ClickHouse:
//
//   - the cell sink: every committed window cell value from meterline.usage.rated.v1 into
//     usage_cells, with the time it was processed, so that a report as of time t reads each
//     cell's value at t;
//   - the rejection sink: every rejected document from meterline.usage.rejected.v1 into
//     usage_rejections, so that a GET of the document says why it was not counted.
//
// Both run on kafka.BatchConsumer (batches on count or time, offsets committed after the
// write, read committed). A replay after a crash writes its rows again: rejections identical
// ones, which ReplacingMergeTree merges remove; cells copies with a later visible_ms, which
// reports read as the same values (see clickhouse.Cells.Insert).
package sinks

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/kafka"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// Consumer groups of the sinks.
const (
	CellsGroup      = "meterline-sink-cells"
	RejectionsGroup = "meterline-sink-rejections"
)

// Config is what both sinks need.
type Config struct {
	Brokers       []string
	Topic         string
	Group         string // CellsGroup or RejectionsGroup when empty
	BatchSize     int
	FlushInterval time.Duration
}

// Cells returns the cell sink of cfg.Topic (the rated-usage topic) into insert.
func Cells(cfg Config, insert func(context.Context, []clickhouse.CellRow) error, log *zap.Logger, reg prometheus.Registerer) (*kafka.BatchConsumer[clickhouse.CellRow], error) {
	return newSink(cfg, "cellsink", cmp.Or(cfg.Group, CellsGroup), func() *meterlinev1.RatedUsage { return &meterlinev1.RatedUsage{} },
		func(m *meterlinev1.RatedUsage, r *kgo.Record) clickhouse.CellRow {
			return clickhouse.CellRow{Cell: m, Partition: r.Partition, Offset: r.Offset}
		}, insert, log, reg)
}

// Rejections returns the rejection sink of cfg.Topic (the rejected-usage topic) into insert.
func Rejections(cfg Config, insert func(context.Context, []clickhouse.RejectionRow) error, log *zap.Logger, reg prometheus.Registerer) (*kafka.BatchConsumer[clickhouse.RejectionRow], error) {
	return newSink(cfg, "rejectionsink", cmp.Or(cfg.Group, RejectionsGroup), func() *meterlinev1.RejectedUsage { return &meterlinev1.RejectedUsage{} },
		func(m *meterlinev1.RejectedUsage, r *kgo.Record) clickhouse.RejectionRow {
			return clickhouse.RejectionRow{Rejection: m, Partition: r.Partition, Offset: r.Offset}
		}, insert, log, reg)
}

// newSink decodes each record of cfg.Topic as a message M, makes it a row R and inserts the
// rows in batches.
func newSink[M proto.Message, R any](cfg Config, name, group string, newMessage func() M, row func(M, *kgo.Record) R,
	insert func(context.Context, []R) error, log *zap.Logger, reg prometheus.Registerer) (*kafka.BatchConsumer[R], error) {
	written := promauto.With(reg).NewCounter(prometheus.CounterOpts{
		Name: "meterline_" + name + "_rows_written_total", Help: "Rows written from " + cfg.Topic + "."})
	decode := func(r *kgo.Record) (R, error) {
		m := newMessage()
		if err := proto.Unmarshal(r.Value, m); err != nil {
			var zero R
			return zero, fmt.Errorf("decode %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		return row(m, r), nil
	}
	write := func(ctx context.Context, rows []R) error {
		if err := insert(ctx, rows); err != nil {
			return err
		}
		written.Add(float64(len(rows)))
		return nil
	}
	return kafka.NewBatchConsumer(kafka.BatchConfig{Name: name, Brokers: cfg.Brokers, Topic: cfg.Topic, Group: group,
		BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval}, decode, write, log, reg)
}
