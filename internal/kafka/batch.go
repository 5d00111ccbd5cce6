package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/platform/clock"
)

// BatchConfig configures a BatchConsumer.
type BatchConfig struct {
	// Name names the consumer in logs and metrics (meterline_<name>_..., and the sink label of
	// meterline_sink_deadlettered_total).
	Name          string
	Brokers       []string
	Topic         string
	Group         string
	BatchSize     int
	FlushInterval time.Duration
	// DeadLetter is the topic the records that cannot be written are set aside to
	// (Topics.DeadLetter); required.
	DeadLetter string
	// KafkaOpts are added to the consumer's client options (tests: a dialer that can cut the
	// connections).
	KafkaOpts []kgo.Opt
	// Clock, when set, is what the write lag is measured by (tests pin it).
	Clock clock.Clock
}

// ErrUnwritable marks a write error that the records written will meet however often the
// write is retried, because of what some of them hold (a value a column cannot take), as
// opposed to a failure of the storage (unreachable, overloaded, refusing every record alike),
// which a retry outlives. A writer returns it wrapped (Unwritable) only when it knows the
// error to be of that kind; every other error is retried.
var ErrUnwritable = errors.New("unwritable")

// Unwritable returns err marked as ErrUnwritable.
func Unwritable(err error) error { return fmt.Errorf("%w: %w", ErrUnwritable, err) }

// The headers of a dead-lettered record, besides the source record's own: which sink set it
// aside, why, and where it was read.
const (
	HeaderSink            = "meterline-sink"
	HeaderError           = "meterline-error"
	HeaderSourceTopic     = "meterline-source-topic"
	HeaderSourcePartition = "meterline-source-partition"
	HeaderSourceOffset    = "meterline-source-offset"
	HeaderSourceTimestamp = "meterline-source-timestamp" // epoch ms
)

// BatchConsumer is the loop of Meterline's sinks: it consumes a topic in a consumer group
// (read committed), decodes each record, and hands batches to a writer. A batch is written
// when it holds BatchSize records or FlushInterval after its first, whichever comes first,
// and the consumed offsets are committed only after the write: a crash loses nothing, and
// what was written but not committed is read and written again, so writers must be
// idempotent. Rebalances are held off while a batch is open (BlockRebalanceOnPoll).
//
// A failed write is retried with backoff until it succeeds, unless the writer calls it
// ErrUnwritable: the batch is then written in halves, each half that fails so again in
// halves, down to the records the writer refuses alone; the others are written, and those
// are set aside. So is a record that does not decode (the decoder's error names what is
// wrong). A record set aside is produced, as it was read, to the dead-letter topic with
// headers naming the sink, the error and where it was read; it is logged once and counted,
// all before the offsets are committed. A storage failure is never a reason to set a record
// aside: a write that fails otherwise is retried, whatever the part of the batch it holds,
// and a write that refuses every record of a batch of several is taken for one too.
//
// No failure of Kafka or of the storage ends Run: a broker outage of any length stalls the
// consumer (polls return nothing, a commit fails and is tried again), and it continues where
// it committed once the broker is back, Ready naming what is down meanwhile. Records whose
// commit was lost with the group session (an outage longer than the session timeout) are
// read and written again, which the writers are idempotent for.
type BatchConsumer[T any] struct {
	cfg    BatchConfig
	cl     *kgo.Client
	decode func(*kgo.Record) (T, error)
	write  func(context.Context, []T) error
	log    *zap.Logger

	// AfterWrite, when set (by tests), runs after a batch is written and before its offsets
	// are committed; an error from it stops the consumer there, as a crash would.
	AfterWrite func() error

	undecodable, writeErrors, deadLettered prometheus.Counter
	flushTime                              prometheus.Histogram
	writeLag                               prometheus.Histogram
	clock                                  clock.Clock

	// flushing is the failure the open batch's write (or setting aside) meets, nil once it
	// is written; committing is that of the last commit, nil once one succeeds.
	flushing, committing atomic.Pointer[failure]
	committed            time.Time // when the last commit was tried (Run's goroutine only)
}

// failure is a failure that lasts, since when.
type failure struct {
	err   error
	since time.Time
}

// note records err as f's failure, keeping when it began; nil err clears it.
func note(f *atomic.Pointer[failure], err error) {
	switch old := f.Load(); {
	case err == nil:
		f.Store(nil)
	case old == nil:
		f.Store(&failure{err: err, since: time.Now()})
	default:
		f.Store(&failure{err: err, since: old.since})
	}
}

// commitRetry is how often, while the last commit failed and no batch is open, the commit is
// tried again.
const commitRetry = time.Second

// NewBatchConsumer returns a consumer; Run starts it.
func NewBatchConsumer[T any](cfg BatchConfig, decode func(*kgo.Record) (T, error), write func(context.Context, []T) error,
	log *zap.Logger, reg prometheus.Registerer) (*BatchConsumer[T], error) {
	if cfg.DeadLetter == "" {
		return nil, fmt.Errorf("%s: no dead-letter topic (see Topics.DeadLetter)", cfg.Name)
	}
	cl, err := NewClient(cfg.Brokers, log, append([]kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// A crashed consumer's partitions move to another member after this long (Kafka's
		// default is 45s); the heartbeat stays well inside it.
		kgo.SessionTimeout(15 * time.Second),
	}, cfg.KafkaOpts...)...)
	if err != nil {
		return nil, err
	}
	if err := reg.Register(NewLagCollector(cfg.Group, cfg.Name, func() *kgo.Client { return cl })); err != nil {
		cl.Close()
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	f := promauto.With(reg)
	return &BatchConsumer[T]{cfg: cfg, cl: cl, decode: decode, write: write, log: log, clock: clock.Or(cfg.Clock),
		writeLag: f.NewHistogram(writeLagOpts(cfg.Name)),
		undecodable: f.NewCounter(prometheus.CounterOpts{Name: "meterline_" + cfg.Name + "_undecodable_records_total",
			Help: "Records of " + cfg.Topic + " that do not decode; each is set aside to the dead-letter topic."}),
		writeErrors: f.NewCounter(prometheus.CounterOpts{Name: "meterline_" + cfg.Name + "_write_errors_total",
			Help: "Failed writes: retried, or split to find the records the table refuses."}),
		deadLettered: f.NewCounter(prometheus.CounterOpts{Name: "meterline_sink_deadlettered_total",
			Help:        "Records a sink could not write, set aside to the dead-letter topic.",
			ConstLabels: prometheus.Labels{"sink": cfg.Name}}),
		flushTime: f.NewHistogram(prometheus.HistogramOpts{Name: "meterline_" + cfg.Name + "_flush_seconds",
			Help: "Time to write one batch.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
	}, nil
}

// Client is the consumer's Kafka client (for readiness checks).
func (c *BatchConsumer[T]) Client() *kgo.Client { return c.cl }

// Ready tells whether the consumer runs normally: it returns an error naming each thing down,
// the broker (as a ping through the consumer's client finds it), a write of the open batch
// that keeps failing, or offsets that could not be committed, with since when.
func (c *BatchConsumer[T]) Ready(ctx context.Context) error {
	var errs []error
	if err := Ping(ctx, c.cl); err != nil {
		errs = append(errs, fmt.Errorf("%s: kafka: %w", c.cfg.Name, err))
	}
	for _, f := range []struct {
		what string
		f    *failure
	}{{"writing a batch", c.flushing.Load()}, {"committing offsets", c.committing.Load()}} {
		if f.f != nil {
			errs = append(errs, fmt.Errorf("%s: %s has failed since %s: %w", c.cfg.Name, f.what, f.f.since.UTC().Format(time.RFC3339), f.f.err))
		}
	}
	return errors.Join(errs...)
}

// batch is what was polled since the last commit: the decoded items with their records, and
// the records set aside.
type batch[T any] struct {
	items  []T
	recs   []*kgo.Record // the record of each item
	aside  []setAside
	opened time.Time
}

// setAside is a record set aside, with why.
type setAside struct {
	rec *kgo.Record
	err error
}

func (b *batch[T]) len() int { return len(b.items) + len(b.aside) }

func (b *batch[T]) reset() {
	clear(b.items)
	clear(b.recs)
	clear(b.aside)
	b.items, b.recs, b.aside = b.items[:0], b.recs[:0], b.aside[:0]
}

// Run consumes until ctx ends, then writes the open batch, commits its offsets, leaves the
// group and returns. It returns an error only when it stopped without writing what it had
// read; those records are read again by the next consumer.
func (c *BatchConsumer[T]) Run(ctx context.Context) error {
	defer func() {
		// Leaving the group waits for rebalances to be allowed; whatever is still uncommitted
		// is read again by the next owner of the partitions.
		c.cl.AllowRebalance()
		CloseMember(c.cl.Close, c.log)
	}()
	var b batch[T]
	for {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		switch {
		case b.len() > 0:
			pollCtx, cancel = context.WithDeadline(ctx, b.opened.Add(c.cfg.FlushInterval))
		case c.committing.Load() != nil:
			pollCtx, cancel = context.WithTimeout(ctx, commitRetry)
		}
		fetches := c.cl.PollRecords(pollCtx, c.cfg.BatchSize-b.len())
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
			if b.len() == 0 {
				b.opened = time.Now()
			}
			item, err := c.decode(r)
			if err != nil {
				c.undecodable.Inc()
				b.aside = append(b.aside, setAside{r, fmt.Errorf("the record does not decode: %w", err)})
				return
			}
			b.items = append(b.items, item)
			b.recs = append(b.recs, r)
		})
		stopping := ctx.Err() != nil
		due := b.len() >= c.cfg.BatchSize || (b.len() > 0 && time.Since(b.opened) >= c.cfg.FlushInterval)
		if due || stopping {
			if err := c.flush(ctx, &b); err != nil {
				return err
			}
			b.reset()
		}
		if stopping {
			return nil
		}
		if b.len() == 0 && !due && c.committing.Load() != nil && time.Since(c.committed) >= commitRetry {
			// Nothing new came, but what was written is not committed yet.
			c.commit(ctx)
		}
		if b.len() == 0 {
			c.cl.AllowRebalance()
		}
	}
}

// flush writes b (see writeParts), retrying until it is written (once ctx has ended, for at
// most 30s more), sets aside the records it refused and those that did not decode, then
// commits the offsets of every record polled so far, which are b's.
func (c *BatchConsumer[T]) flush(ctx context.Context, b *batch[T]) error {
	start := time.Now()
	// Once ctx has ended, the last tries get 30s of their own.
	wctx, stop := ctx, context.CancelFunc(func() {})
	defer func() { stop() }()
	tryCtx := func() context.Context {
		if ctx.Err() != nil && wctx == ctx {
			wctx, stop = context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		}
		return wctx
	}
	// wait waits before try attempt+1 after err; it fails once the last tries' time is over.
	wait := func(what string, attempt int, err error) error {
		select {
		case <-time.After(min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)):
		case <-wctx.Done():
			if wctx != ctx {
				return fmt.Errorf("%s: %s, its records will be read again: %w", c.cfg.Name, what, err)
			}
		}
		return nil
	}
	split := false
	refusedAt, err := writeParts(b.items,
		func(items []T) error {
			err := c.write(tryCtx(), items)
			if err != nil {
				c.writeErrors.Inc()
				if errors.Is(err, ErrUnwritable) && !split {
					split = true
					c.log.Warn("a write was refused for what its records hold; writing the batch in parts to find them",
						zap.Int("items", len(items)), zap.Error(err))
				}
			}
			return err
		},
		func(n, attempt int, err error) error {
			c.log.Warn("writing a batch failed; retrying", zap.Int("items", n), zap.Int("attempt", attempt+1), zap.Error(err))
			note(&c.flushing, err)
			return wait(fmt.Sprintf("batch of %d not written", n), attempt, err)
		})
	if err != nil {
		return err
	}
	for _, r := range refusedAt {
		b.aside = append(b.aside, setAside{b.recs[r.index], r.err})
	}
	for attempt := 0; len(b.aside) > 0; attempt++ {
		err := c.deadLetter(tryCtx(), b.aside)
		if err == nil {
			break
		}
		c.log.Warn("setting records aside to the dead-letter topic failed; retrying", zap.String("topic", c.cfg.DeadLetter),
			zap.Int("records", len(b.aside)), zap.Int("attempt", attempt+1), zap.Error(err))
		note(&c.flushing, err)
		if err := wait(fmt.Sprintf("%d records not set aside", len(b.aside)), attempt, err); err != nil {
			return err
		}
	}
	note(&c.flushing, nil)
	c.flushTime.Observe(time.Since(start).Seconds())
	c.observeWriteLag(b)
	if c.AfterWrite != nil {
		if err := c.AfterWrite(); err != nil {
			return err
		}
	}
	c.commit(ctx)
	return nil
}

// commit commits the offsets of every record polled so far, all of them written. A failure
// is logged and noted, and the commit is tried again after the next batch, or every
// commitRetry while none comes. Should the group session be lost meanwhile (an outage longer
// than the session timeout), the records are read and written again, which the writers are
// idempotent for.
func (c *BatchConsumer[T]) commit(ctx context.Context) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	c.committed = time.Now()
	err := c.cl.CommitUncommittedOffsets(cctx)
	if err != nil {
		c.log.Warn("committing offsets failed after a write", zap.Error(err))
	}
	note(&c.committing, err)
}

// refusal is an item a write refused alone, with the writer's error.
type refusal struct {
	index int
	err   error
}

// writeParts writes items with write, and returns the items it refused. A write that fails
// with ErrUnwritable is split in halves, written in order, down to single items; a single
// item that fails so is refused. Any other failure is passed to retry (with the number of
// items of the write and the count of the failed tries of that write before it), which waits
// and returns nil to try the same write again, or an error to give up: writeParts then
// returns that error. Should every item of several be refused, the fault is not theirs (a
// table that takes no row, say): the whole batch is then written again, through retry, until
// it succeeds, and nothing is refused.
func writeParts[T any](items []T, write func([]T) error, retry func(n, attempt int, err error) error) ([]refusal, error) {
	type span struct{ from, to int }
	var (
		out     []refusal
		todo    []span
		attempt int
		whole   bool // every item was refused once: write only the whole batch
	)
	if len(items) > 0 {
		todo = append(todo, span{0, len(items)})
	}
	for len(todo) > 0 {
		s := todo[len(todo)-1]
		err := write(items[s.from:s.to])
		switch {
		case err == nil:
			todo, attempt = todo[:len(todo)-1], 0
		case errors.Is(err, ErrUnwritable) && !whole && s.to-s.from > 1:
			mid := s.from + (s.to-s.from)/2
			todo = append(todo[:len(todo)-1], span{mid, s.to}, span{s.from, mid})
			attempt = 0
		case errors.Is(err, ErrUnwritable) && !whole:
			todo, attempt = todo[:len(todo)-1], 0
			out = append(out, refusal{s.from, err})
			if len(out) == len(items) && len(items) > 1 {
				out, whole = nil, true
				todo = append(todo, span{0, len(items)})
			}
		default:
			if err := retry(s.to-s.from, attempt, err); err != nil {
				return nil, err
			}
			attempt++
		}
	}
	return out, nil
}

// deadLetter produces the records set aside to the dead-letter topic, each as it was read
// with headers saying which sink set it aside, why and where it was read, and waits until
// Kafka has them all; each is logged and counted once produced.
func (c *BatchConsumer[T]) deadLetter(ctx context.Context, aside []setAside) error {
	recs := make([]*kgo.Record, len(aside))
	for i, a := range aside {
		r := a.rec
		headers := make([]kgo.RecordHeader, 0, len(r.Headers)+6)
		headers = append(headers, r.Headers...)
		headers = append(headers,
			kgo.RecordHeader{Key: HeaderSink, Value: []byte(c.cfg.Name)},
			kgo.RecordHeader{Key: HeaderError, Value: []byte(truncate(a.err.Error(), 2048))},
			kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(r.Topic)},
			kgo.RecordHeader{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
			kgo.RecordHeader{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
			kgo.RecordHeader{Key: HeaderSourceTimestamp, Value: strconv.AppendInt(nil, r.Timestamp.UnixMilli(), 10)})
		// Stamped now, not with the source's time: the topic's retention runs from when the
		// record was set aside.
		recs[i] = &kgo.Record{Topic: c.cfg.DeadLetter, Key: r.Key, Value: r.Value, Headers: headers}
	}
	if err := Produce(ctx, c.cl, recs...); err != nil {
		// Those produced are produced again by the retry: a dead letter may be there twice.
		return err
	}
	for _, a := range aside {
		c.deadLettered.Inc()
		c.log.Error("set a record aside to the dead-letter topic: it cannot be written", zap.String("dead_letter_topic", c.cfg.DeadLetter),
			zap.String("topic", a.rec.Topic), zap.Int32("partition", a.rec.Partition), zap.Int64("offset", a.rec.Offset), zap.Error(a.err))
	}
	return nil
}

// truncate returns s cut to at most n bytes, at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
