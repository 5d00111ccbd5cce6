// Package sink writes Meterline's topics into ClickHouse, one sink a topic:
//
//   - the raw event sink (raw.go): every collected usage event from
//     meterline.usage.collected.v1 into usage_events, one row per document, for analysts and
//     for the collector's read-back and duplicate look-up;
//   - the cell sink (cells.go): every committed window cell value from meterline.usage.rated.v2
//     into usage_cells, with the time it was written, so that a report as of time t reads each
//     cell's value at t;
//   - the rejection sink (rejections.go): every rejected document from
//     meterline.usage.rejected.v1 into usage_rejections, so that a GET of the document says why
//     it was not counted;
//   - the metadata sink (metadata.go): every record of what pollers read of their providers'
//     entities, from <prefix>.poller.metadata.v1 into provider_metadata (JSON, package
//     metadata), for the report views that show an entity's details.
//
// Each declares the one port it writes through and runs on kafka.BatchConsumer: batches flush
// on count or time, offsets are committed only after the batch is written (read committed), so
// a crash loses nothing and the records of an uncommitted batch are read and written again.
// A record a sink cannot write never stalls it: one that does not decode, or holds a value its
// table cannot take (checked as it is decoded: see check), and one that ClickHouse refuses for
// its values (unwritable), are set aside to the dead-letter topic and the rest is written; a
// failure of ClickHouse itself is retried until it passes.
// A replay is harmless in each table: the raw sink drops events whose id is stored already;
// rejections and metadata records are written again identically, which ReplacingMergeTree
// merges remove; cells are written again with a later visible_ms, which reports read as the
// same values (see clickhouse.Cells.Insert).
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
	"github.com/meterline/meterline/internal/platform/clock"
)

// Config is what every sink needs. Group and DeadLetter are required: kafka.GroupsFor names
// each sink's group under the topic prefix, the one source of group names, and
// kafka.TopicsFor the dead-letter topic.
type Config struct {
	Brokers       []string
	Topic         string
	Group         string
	DeadLetter    string
	BatchSize     int
	FlushInterval time.Duration
	// KafkaOpts are added to the consumer's client options (tests: a dialer that can cut the
	// connections).
	KafkaOpts []kgo.Opt
	// Clock, when set, is what the write lag is measured by (tests pin it).
	Clock clock.Clock
}

var (
	errNoGroup      = errors.New("sink: no consumer group (see kafka.GroupsFor)")
	errNoDeadLetter = errors.New("sink: no dead-letter topic (see kafka.TopicsFor)")
)

func (cfg Config) check() error {
	switch {
	case cfg.Group == "":
		return errNoGroup
	case cfg.DeadLetter == "":
		return errNoDeadLetter
	}
	return nil
}

// batchConfig is the consumer configuration of the sink name.
func (cfg Config) batchConfig(name string) kafka.BatchConfig {
	return kafka.BatchConfig{Name: name, Brokers: cfg.Brokers, Topic: cfg.Topic, Group: cfg.Group,
		BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval, DeadLetter: cfg.DeadLetter, KafkaOpts: cfg.KafkaOpts, Clock: cfg.Clock}
}

// newSink decodes each record of cfg.Topic as a message M, checks it with check (nil: every
// message fits the table), makes it a row R and inserts the rows in batches.
func newSink[M proto.Message, R any](cfg Config, name string, newMessage func() M, check func(M) error, row func(M, *kgo.Record) R,
	insert func(context.Context, []R) error, log *zap.Logger, reg prometheus.Registerer) (*kafka.BatchConsumer[R], error) {
	return newSinkOf(cfg, name, func(r *kgo.Record) (R, error) {
		var zero R
		m := newMessage()
		if err := proto.Unmarshal(r.Value, m); err != nil {
			return zero, fmt.Errorf("decode %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		if check != nil {
			if err := check(m); err != nil {
				return zero, err
			}
		}
		return row(m, r), nil
	}, insert, log, reg)
}

// newSinkOf is newSink over any decoding of a record into a row R (a JSON payload, as the
// metadata sink's).
func newSinkOf[R any](cfg Config, name string, decode func(*kgo.Record) (R, error),
	insert func(context.Context, []R) error, log *zap.Logger, reg prometheus.Registerer) (*kafka.BatchConsumer[R], error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	written := promauto.With(reg).NewCounter(prometheus.CounterOpts{
		Name: "meterline_" + name + "_rows_written_total", Help: "Rows written from " + cfg.Topic + "."})
	write := func(ctx context.Context, rows []R) error {
		if err := insert(ctx, rows); err != nil {
			return unwritable(err)
		}
		written.Add(float64(len(rows)))
		return nil
	}
	return kafka.NewBatchConsumer(cfg.batchConfig(name), decode, write, log, reg)
}
