// Package rawsink writes every collected usage event into the ClickHouse table usage_events,
// one row per document, for analysts.
//
// It consumes meterline.usage.collected.v1 with kafka.BatchConsumer: batches flush on count
// or time, and offsets are committed only after the batch is written, so a crash loses
// nothing and the records of an uncommitted batch are read again. Before writing, a batch
// drops the events whose id is already in the table (a replay after a crash, or the same
// document collected twice), so a replay leaves no duplicate row visible to queries.
package rawsink

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/kafka"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// Storage is where the sink writes.
type Storage interface {
	// Existing returns the ids of refs that are stored already.
	Existing(ctx context.Context, refs []clickhouse.EventRef) (map[string]bool, error)
	// Insert writes rows.
	Insert(ctx context.Context, rows []clickhouse.EventRow) error
}

var _ Storage = (*clickhouse.Events)(nil)

// Group is the consumer group of the raw event sink.
const Group = "meterline-sink-raw"

// Config configures the sink.
type Config struct {
	Brokers       []string
	Topic         string
	Group         string
	BatchSize     int
	FlushInterval time.Duration
}

// Sink is the raw event sink.
type Sink struct {
	consumer *kafka.BatchConsumer[clickhouse.EventRow]
	store    Storage
	metrics  metrics

	// afterWrite, when set (by tests), runs after a batch is written and before its offsets
	// are committed; an error from it stops the sink there, as a crash would.
	afterWrite func() error
}

type metrics struct {
	rows, duplicates prometheus.Counter
}

// New returns a sink; Run starts it.
func New(cfg Config, store Storage, log *zap.Logger, reg prometheus.Registerer) (*Sink, error) {
	if cfg.Group == "" {
		cfg.Group = Group
	}
	f := promauto.With(reg)
	s := &Sink{store: store, metrics: metrics{
		rows: f.NewCounter(prometheus.CounterOpts{Name: "meterline_rawsink_rows_written_total",
			Help: "Usage events written to usage_events."}),
		duplicates: f.NewCounter(prometheus.CounterOpts{Name: "meterline_rawsink_duplicates_skipped_total",
			Help: "Usage events not written because their id was stored already (replays, resubmissions)."}),
	}}
	c, err := kafka.NewBatchConsumer(kafka.BatchConfig{Name: "rawsink", Brokers: cfg.Brokers, Topic: cfg.Topic,
		Group: cfg.Group, BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval}, decode, s.write, log, reg)
	if err != nil {
		return nil, err
	}
	s.consumer = c
	return s, nil
}

func decode(r *kgo.Record) (clickhouse.EventRow, error) {
	ev := &meterlinev1.UsageEvent{}
	if err := kafka.DecodeEvent(r, ev); err != nil {
		return clickhouse.EventRow{}, err
	}
	return clickhouse.EventRow{Event: ev, Partition: r.Partition, Offset: r.Offset}, nil
}

// Client is the sink's Kafka client (for readiness checks).
func (s *Sink) Client() *kgo.Client { return s.consumer.Client() }

// Run consumes until ctx ends; see kafka.BatchConsumer.Run.
func (s *Sink) Run(ctx context.Context) error {
	s.consumer.AfterWrite = s.afterWrite
	return s.consumer.Run(ctx)
}

// write drops the events already stored (and repeats within the batch), then inserts the rest.
func (s *Sink) write(ctx context.Context, batch []clickhouse.EventRow) error {
	refs := make([]clickhouse.EventRef, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	for _, r := range batch {
		if !seen[r.Event.Id] {
			seen[r.Event.Id] = true
			refs = append(refs, clickhouse.EventRef{Org: r.Event.GetDocument().GetOrganizationId(), ID: r.Event.Id})
		}
	}
	stored, err := s.store.Existing(ctx, refs)
	if err != nil {
		return err
	}
	rows := make([]clickhouse.EventRow, 0, len(refs))
	for _, r := range batch {
		if stored[r.Event.Id] {
			continue
		}
		stored[r.Event.Id] = true // later repeats in this batch are duplicates too
		rows = append(rows, r)
	}
	if err := s.store.Insert(ctx, rows); err != nil {
		return err
	}
	s.metrics.rows.Add(float64(len(rows)))
	s.metrics.duplicates.Add(float64(len(batch) - len(rows)))
	return nil
}
