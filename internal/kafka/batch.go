package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// BatchConfig configures a BatchConsumer.
type BatchConfig struct {
	// Name names the consumer in logs and metrics (meterline_<name>_...).
	Name          string
	Brokers       []string
	Topic         string
	Group         string
	BatchSize     int
	FlushInterval time.Duration
}

// BatchConsumer is the loop of Meterline's sinks: it consumes a topic in a consumer group
// (read committed), decodes each record, and hands batches to a writer. A batch is written
// when it holds BatchSize items or FlushInterval after its first item, whichever comes first,
// and the consumed offsets are committed only after the write: a crash loses nothing, and
// what was written but not committed is read and written again, so writers must be
// idempotent. Rebalances are held off while a batch is open (BlockRebalanceOnPoll). A failed
// write is retried with backoff until it succeeds.
type BatchConsumer[T any] struct {
	cfg    BatchConfig
	cl     *kgo.Client
	decode func(*kgo.Record) (T, error)
	write  func(context.Context, []T) error
	log    *zap.Logger

	// AfterWrite, when set (by tests), runs after a batch is written and before its offsets
	// are committed; an error from it stops the consumer there, as a crash would.
	AfterWrite func() error

	undecodable, writeErrors prometheus.Counter
	flushTime                prometheus.Histogram
}

// NewBatchConsumer returns a consumer; Run starts it. A record decode fails on is logged with
// its offset and counted, then skipped: it is not a payload of the topic's contract.
func NewBatchConsumer[T any](cfg BatchConfig, decode func(*kgo.Record) (T, error), write func(context.Context, []T) error,
	log *zap.Logger, reg prometheus.Registerer) (*BatchConsumer[T], error) {
	cl, err := NewClient(cfg.Brokers, log,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// A crashed consumer's partitions move to another member after this long (Kafka's
		// default is 45s); the heartbeat stays well inside it.
		kgo.SessionTimeout(15*time.Second),
	)
	if err != nil {
		return nil, err
	}
	f := promauto.With(reg)
	return &BatchConsumer[T]{cfg: cfg, cl: cl, decode: decode, write: write, log: log,
		undecodable: f.NewCounter(prometheus.CounterOpts{Name: "meterline_" + cfg.Name + "_undecodable_records_total",
			Help: "Records of " + cfg.Topic + " that do not decode; each is logged with its offset."}),
		writeErrors: f.NewCounter(prometheus.CounterOpts{Name: "meterline_" + cfg.Name + "_write_errors_total",
			Help: "Failed batch writes; the batch is retried until it is written."}),
		flushTime: f.NewHistogram(prometheus.HistogramOpts{Name: "meterline_" + cfg.Name + "_flush_seconds",
			Help: "Time to write one batch.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
	}, nil
}

// Client is the consumer's Kafka client (for readiness checks).
func (c *BatchConsumer[T]) Client() *kgo.Client { return c.cl }

// Run consumes until ctx ends, then writes the open batch, commits its offsets, leaves the
// group and returns. It returns an error only when it stopped without writing what it had
// read; those records are read again by the next consumer.
func (c *BatchConsumer[T]) Run(ctx context.Context) error {
	defer func() {
		// Leaving the group waits for rebalances to be allowed; whatever is still uncommitted
		// is read again by the next owner of the partitions.
		c.cl.AllowRebalance()
		c.cl.Close()
	}()
	var (
		batch  []T
		opened time.Time
	)
	for {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if len(batch) > 0 {
			pollCtx, cancel = context.WithDeadline(ctx, opened.Add(c.cfg.FlushInterval))
		}
		fetches := c.cl.PollRecords(pollCtx, c.cfg.BatchSize-len(batch))
		cancel()
		if fetches.IsClientClosed() {
			return fmt.Errorf("%s: kafka client closed", c.cfg.Name)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				c.log.Warn("fetch error", zap.String("topic", topic), zap.Int32("partition", p), zap.Error(err))
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			item, err := c.decode(r)
			if err != nil {
				c.undecodable.Inc()
				c.log.Error("skipping a record that does not decode", zap.Error(err))
				return
			}
			if len(batch) == 0 {
				opened = time.Now()
			}
			batch = append(batch, item)
		})
		stopping := ctx.Err() != nil
		due := len(batch) >= c.cfg.BatchSize || (len(batch) > 0 && time.Since(opened) >= c.cfg.FlushInterval)
		if due || stopping {
			if err := c.flush(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
		if stopping {
			return nil
		}
		if len(batch) == 0 {
			c.cl.AllowRebalance()
		}
	}
}

// flush writes batch, retrying until it is written (once ctx has ended, for at most 30s
// more), then commits the offsets of every record polled so far, which are the batch's.
func (c *BatchConsumer[T]) flush(ctx context.Context, batch []T) error {
	start := time.Now()
	// Once ctx has ended, the last tries get 30s of their own.
	last, cancelLast := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelLast()
	wctx := ctx
	for attempt := 0; len(batch) > 0; attempt++ {
		if ctx.Err() != nil && wctx == ctx {
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(last, 30*time.Second)
			defer cancel()
		}
		err := c.write(wctx, batch)
		if err == nil {
			break
		}
		c.writeErrors.Inc()
		c.log.Warn("writing a batch failed; retrying", zap.Int("items", len(batch)), zap.Int("attempt", attempt+1), zap.Error(err))
		select {
		case <-time.After(min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)):
		case <-wctx.Done():
			if wctx != ctx {
				return fmt.Errorf("%s: batch of %d not written, its records will be read again: %w", c.cfg.Name, len(batch), err)
			}
		}
	}
	c.flushTime.Observe(time.Since(start).Seconds())
	if c.AfterWrite != nil {
		if err := c.AfterWrite(); err != nil {
			return err
		}
	}
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer ccancel()
	if err := c.cl.CommitUncommittedOffsets(cctx); err != nil {
		// The batch is written; its records will be read again and written again, which the
		// writers are idempotent for.
		c.log.Warn("committing offsets failed after a write", zap.Error(err))
	}
	return nil
}
