// Package rawsink writes every collected usage event into the ClickHouse table usage_events,
// one row per document, for analysts.
//
// It consumes meterline.usage.collected.v1 in a consumer group and writes in batches that are
// flushed when they hold Config.BatchSize rows or when Config.FlushInterval has passed since
// their first row. Offsets are committed only after the batch is written, so a crash loses
// nothing: the records of an unwritten or uncommitted batch are read again. Before writing, a
// batch drops the events whose id is already in the table (a replay after a crash, or the same
// document collected twice), so a replay leaves no duplicate row visible to queries.
// Rebalances are held off while a batch is open (franz-go's BlockRebalanceOnPoll), so a batch
// is never written by a consumer that has lost its partitions.
package rawsink

import (
	"context"
	"errors"
	"fmt"
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
	// Insert writes rows atomically: all of them or none.
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
	cfg     Config
	cl      *kgo.Client
	store   Storage
	log     *zap.Logger
	metrics metrics

	// afterWrite, when set (by tests), runs after a batch is written and before its offsets
	// are committed; an error from it stops the sink there, as a crash would.
	afterWrite func() error
}

type metrics struct {
	rows, duplicates, undecodable, writeErrors prometheus.Counter
	flush                                      prometheus.Histogram
}

// New returns a sink; Run starts it.
func New(cfg Config, store Storage, log *zap.Logger, reg prometheus.Registerer) (*Sink, error) {
	if cfg.Group == "" {
		cfg.Group = Group
	}
	cl, err := kafka.NewClient(cfg.Brokers, log,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// A crashed sink's partitions move to another member after this long (Kafka's
		// default is 45s); the heartbeat stays well inside it.
		kgo.SessionTimeout(15*time.Second),
	)
	if err != nil {
		return nil, err
	}
	f := promauto.With(reg)
	return &Sink{cfg: cfg, cl: cl, store: store, log: log, metrics: metrics{
		rows: f.NewCounter(prometheus.CounterOpts{Name: "meterline_rawsink_rows_written_total",
			Help: "Usage events written to usage_events."}),
		duplicates: f.NewCounter(prometheus.CounterOpts{Name: "meterline_rawsink_duplicates_skipped_total",
			Help: "Usage events not written because their id was stored already (replays, resubmissions)."}),
		undecodable: f.NewCounter(prometheus.CounterOpts{Name: "meterline_rawsink_undecodable_records_total",
			Help: "Records of the collected-usage topic that are not usage events; each is logged with its offset."}),
		writeErrors: f.NewCounter(prometheus.CounterOpts{Name: "meterline_rawsink_write_errors_total",
			Help: "Failed batch writes; the batch is retried until it is written."}),
		flush: f.NewHistogram(prometheus.HistogramOpts{Name: "meterline_rawsink_flush_seconds",
			Help: "Time to deduplicate and write one batch.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
	}}, nil
}

// Client is the sink's Kafka client (for readiness checks).
func (s *Sink) Client() *kgo.Client { return s.cl }

// Run consumes until ctx ends, then writes the open batch, commits its offsets, leaves the
// group and returns. It returns an error only when it stopped without writing what it had
// read; those records are read again by the next consumer.
func (s *Sink) Run(ctx context.Context) error {
	defer func() {
		// Leaving the group waits for rebalances to be allowed; whatever is still uncommitted
		// is read again by the next owner of the partitions.
		s.cl.AllowRebalance()
		s.cl.Close()
	}()
	var (
		batch  []clickhouse.EventRow
		opened time.Time
	)
	for {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if len(batch) > 0 {
			pollCtx, cancel = context.WithDeadline(ctx, opened.Add(s.cfg.FlushInterval))
		}
		fetches := s.cl.PollRecords(pollCtx, s.cfg.BatchSize-len(batch))
		cancel()
		if fetches.IsClientClosed() {
			return errors.New("raw sink: kafka client closed")
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				s.log.Warn("fetch error", zap.String("topic", topic), zap.Int32("partition", p), zap.Error(err))
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			ev := &meterlinev1.UsageEvent{}
			if err := kafka.DecodeEvent(r, ev); err != nil {
				s.metrics.undecodable.Inc()
				s.log.Error("skipping a record that is not a usage event", zap.Error(err))
				return
			}
			if len(batch) == 0 {
				opened = time.Now()
			}
			batch = append(batch, clickhouse.EventRow{Event: ev, Partition: r.Partition, Offset: r.Offset})
		})
		stopping := ctx.Err() != nil
		due := len(batch) >= s.cfg.BatchSize || (len(batch) > 0 && time.Since(opened) >= s.cfg.FlushInterval)
		if due || stopping {
			if err := s.flush(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
		if stopping {
			return nil
		}
		if len(batch) == 0 {
			s.cl.AllowRebalance()
		}
	}
}

// flush writes batch, retrying until it is written (once ctx has ended, for at most 30s
// more), then commits the offsets of every record polled so far, which are the batch's.
func (s *Sink) flush(ctx context.Context, batch []clickhouse.EventRow) error {
	start := time.Now()
	wctx, cancel := ctx, context.CancelFunc(func() {})
	defer func() { cancel() }()
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil && wctx == ctx {
			wctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		}
		err := s.write(wctx, batch)
		if err == nil {
			break
		}
		s.metrics.writeErrors.Inc()
		s.log.Warn("writing a batch to usage_events failed; retrying", zap.Int("rows", len(batch)), zap.Int("attempt", attempt+1), zap.Error(err))
		select {
		case <-time.After(min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)):
		case <-wctx.Done():
			if wctx != ctx {
				return fmt.Errorf("raw sink: batch of %d rows not written, its records will be read again: %w", len(batch), err)
			}
		}
	}
	s.metrics.flush.Observe(time.Since(start).Seconds())
	if s.afterWrite != nil {
		if err := s.afterWrite(); err != nil {
			return err
		}
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.cl.CommitUncommittedOffsets(cctx); err != nil {
		// The rows are written; their records will be read again and skipped as duplicates.
		s.log.Warn("committing offsets failed after a write", zap.Error(err))
	}
	return nil
}

// write drops the events already stored (and repeats within the batch), then inserts the rest.
func (s *Sink) write(ctx context.Context, batch []clickhouse.EventRow) error {
	if len(batch) == 0 {
		return nil
	}
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
