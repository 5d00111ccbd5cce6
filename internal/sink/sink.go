// Package sink writes Meterline's topics into ClickHouse, one sink a topic:
//
//   - the raw event sink (raw.go): every collected usage event from
//     meterline.usage.collected.v1 into usage_events, one row per document, for analysts and
//     for the collector's read-back and duplicate look-up;
//   - the cell sink (cells.go): every committed window cell value from meterline.usage.rated.v1
//     into usage_cells, with the time it was written, so that a report as of time t reads each
//     cell's value at t;
//   - the rejection sink (rejections.go): every rejected document from
//     meterline.usage.rejected.v1 into usage_rejections, so that a GET of the document says why
//     it was not counted.
//
// Each declares the one port it writes through and runs on kafka.BatchConsumer: batches flush
// on count or time, offsets are committed only after the batch is written (read committed), so
// a crash loses nothing and the records of an uncommitted batch are read and written again.
// A replay is harmless in each table: the raw sink drops events whose id is stored already;
// rejections are written again identically, which ReplacingMergeTree merges remove; cells are
// written again with a later visible_ms, which reports read as the same values (see
// clickhouse.Cells.Insert).
package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/meterline/meterline/internal/kafka"
)

// Config is what every sink needs. Group is required: kafka.GroupsFor names each sink's group
// under the topic prefix, the one source of group names.
type Config struct {
	Brokers       []string
	Topic         string
	Group         string
	BatchSize     int
	FlushInterval time.Duration
}

var errNoGroup = errors.New("sink: no consumer group (see kafka.GroupsFor)")

// newSink decodes each record of cfg.Topic as a message M, makes it a row R and inserts the
// rows in batches.
func newSink[M proto.Message, R any](cfg Config, name string, newMessage func() M, row func(M, *kgo.Record) R,
	insert func(context.Context, []R) error, log *zap.Logger, reg prometheus.Registerer) (*kafka.BatchConsumer[R], error) {
	if cfg.Group == "" {
		return nil, errNoGroup
	}
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
	return kafka.NewBatchConsumer(kafka.BatchConfig{Name: name, Brokers: cfg.Brokers, Topic: cfg.Topic, Group: cfg.Group,
		BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval}, decode, write, log, reg)
}
