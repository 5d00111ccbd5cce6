// Package cellsink writes the window cells the metering processor publishes on
// meterline.usage.rated.v1 into the ClickHouse table usage_cells: every committed value of
// every cell, with the time it was processed, so that a report as of time t reads each cell's
// value at t. It uses kafka.BatchConsumer (batches on count or time, offsets committed after
// the write, read committed); a replay writes identical rows, which reads by argMax ignore.
package cellsink

import (
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

// Storage is where the sink writes.
type Storage interface {
	Insert(ctx context.Context, rows []clickhouse.CellRow) error
}

var _ Storage = (*clickhouse.Cells)(nil)

// Group is the consumer group of the cell sink.
const Group = "meterline-sink-cells"

// Sink is the cell sink.
type Sink struct {
	consumer *kafka.BatchConsumer[clickhouse.CellRow]
	store    Storage
	rows     prometheus.Counter
}

// New returns a sink of topic (the rated-usage topic); Run starts it.
func New(brokers []string, topic string, batchSize int, flush time.Duration, store Storage, log *zap.Logger, reg prometheus.Registerer) (*Sink, error) {
	s := &Sink{store: store, rows: promauto.With(reg).NewCounter(prometheus.CounterOpts{
		Name: "meterline_cellsink_rows_written_total", Help: "Cell values written to usage_cells."})}
	c, err := kafka.NewBatchConsumer(kafka.BatchConfig{Name: "cellsink", Brokers: brokers, Topic: topic, Group: Group,
		BatchSize: batchSize, FlushInterval: flush}, decode, s.write, log, reg)
	if err != nil {
		return nil, err
	}
	s.consumer = c
	return s, nil
}

func decode(r *kgo.Record) (clickhouse.CellRow, error) {
	u := &meterlinev1.RatedUsage{}
	if err := proto.Unmarshal(r.Value, u); err != nil {
		return clickhouse.CellRow{}, fmt.Errorf("decode rated usage at %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	return clickhouse.CellRow{Cell: u, Partition: r.Partition, Offset: r.Offset}, nil
}

func (s *Sink) write(ctx context.Context, rows []clickhouse.CellRow) error {
	if err := s.store.Insert(ctx, rows); err != nil {
		return err
	}
	s.rows.Add(float64(len(rows)))
	return nil
}

// Client is the sink's Kafka client (for readiness checks).
func (s *Sink) Client() *kgo.Client { return s.consumer.Client() }

// Run consumes until ctx ends; see kafka.BatchConsumer.Run.
func (s *Sink) Run(ctx context.Context) error { return s.consumer.Run(ctx) }
