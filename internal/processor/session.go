package processor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/metering"
)

// Run processes until ctx ends or processing fails. On return the open transaction has been
// ended (committed when ctx ended between polls, else aborted).
//
// A Kafka failure (a transaction that cannot begin, flush or end: the broker is gone) does not
// end Run, however long it lasts: the open transaction is aborted if the broker still answers
// (else the broker aborts it when the next session claims the transactional id, or when it
// times out), every partition's state is dropped, and after a back-off with jitter a new
// session joins the group; each partition assigned to it is restored from its changelog
// before its input is processed again from the committed offsets. Nothing is counted twice
// (what the failed transaction did is not committed) and nothing is lost (its offsets were not
// committed either). Ready reports the failure until a transaction commits again.
func (s *Service) Run(ctx context.Context) error {
	// In a closure: s.sess is the session current at the end, not at the start. Its
	// transaction has ended by then, so a rebalance in flight need not hold the stop.
	defer func() { kafka.CloseMember(s.sess.Close, s.log) }()
	if s.cfg.TickInterval > 0 {
		ticks, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); s.runTicks(ticks) }()
		defer func() { stop(); <-done }()
	}
	attempt := 0
	for {
		err := s.runSession(ctx)
		var kerr *kafkaError
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if !errors.As(err, &kerr) {
			return err
		}
		s.metrics.recoveries.Inc()
		var wait time.Duration
		wait, attempt = nextBackoff(attempt, s.failure.Load() == nil)
		s.failure.Store(&failure{err: kerr.err, since: s.clock.Now()})
		s.log.Error("Kafka failed; the session is restarted after a back-off", zap.Duration("backoff", wait), zap.Error(err))
		s.closeSession()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if err := s.newSession(); err != nil {
			return err
		}
	}
}

// kafkaError is a failure of Kafka (not of processing): Run rides it out with a new session.
type kafkaError struct {
	what string
	err  error
}

func (e *kafkaError) Error() string { return "processor: " + e.what + ": " + e.err.Error() }
func (e *kafkaError) Unwrap() error { return e.err }

// nextBackoff returns the wait after a failure that ended the attempt-th consecutive session
// (from 0), and the attempt of the next one. A failure after a committed transaction
// (committed: none has failed since) is a new outage: its back-off starts over, so that one
// outage a week ago does not make every later recovery wait the longest.
func nextBackoff(attempt int, committed bool) (time.Duration, int) {
	if committed {
		attempt = 0
	}
	return backoff(attempt), attempt + 1
}

// backoff is the wait before the session of the attempt-th consecutive failure (from 0): half
// a second doubling up to 30s, and up to half as much again at random, so that processors
// that failed together do not all come back at once.
func backoff(attempt int) time.Duration {
	d := min(500*time.Millisecond<<min(attempt, 6), 30*time.Second)
	return d + rand.N(d/2+1)
}

// abortTimeout bounds the attempt to abort the open transaction of a failed session: a broker
// that is gone would otherwise be waited for the whole end timeout.
const abortTimeout = 10 * time.Second

// closeSession closes a failed session without waiting for the broker: the open transaction
// is aborted if the broker answers within abortTimeout, the states of its partitions are
// dropped (a new session restores them from the changelog) and the group is left without
// waiting for an answer (the group coordinator drops the member when its session times out).
func (s *Service) closeSession() {
	ctx, cancel := context.WithTimeout(context.Background(), abortTimeout)
	if err := s.sess.Client().AbortBufferedRecords(ctx); err == nil {
		_, _ = s.sess.End(ctx, kgo.TryAbort)
	}
	cancel()
	for _, o := range s.outs {
		o.reset()
	}
	s.mu.Lock()
	clear(s.states)
	s.noteCarrying()
	s.mu.Unlock()
	left, cancel := context.WithCancel(context.Background())
	cancel()
	_ = s.sess.Client().LeaveGroupContext(left)
	s.sess.Close()
}

// runSession processes on the current session until ctx ends, processing fails (an error) or
// Kafka fails (a *kafkaError, also when an assigned partition's state could not be restored).
func (s *Service) runSession(ctx context.Context) error {
	for {
		// While a carry pass is under way, a poll waits for input only briefly: without
		// input, a transaction carries the pass's next batch (see transact).
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		pending := s.carryPending()
		if pending {
			pollCtx, cancel = context.WithTimeout(ctx, carryPoll)
		}
		fetches := s.sess.PollRecords(pollCtx, s.cfg.MaxPollRecords)
		cancel()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		if kerr := s.restoreFailed.Swap(nil); kerr != nil {
			return kerr
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				s.log.Warn("fetch", zap.String("topic", t), zap.Int32("partition", p), zap.Error(err))
			}
		})
		if fetches.NumRecords() == 0 && !pending {
			continue
		}
		if err := s.sess.Begin(); err != nil {
			return &kafkaError{what: "begin transaction", err: err}
		}
		began := time.Now()
		s.produceFailed.Store(false)
		states, err := s.transact(ctx, fetches)
		if err != nil {
			_, _ = s.end(ctx, kgo.TryAbort)
			s.ended(states, false)
			if ctx.Err() != nil {
				return nil // stopped mid-transaction: its input is processed again by the next owner
			}
			return err
		}
		if s.afterProduce != nil {
			if err := s.afterProduce(); err != nil {
				return err // as a crash: the transaction is never ended, Close aborts it
			}
		}
		committed, err := s.commit(ctx)
		if err != nil {
			s.ended(states, false)
			return &kafkaError{what: "end transaction", err: err}
		}
		s.txnEnded(began, committed)
		if !committed {
			s.metrics.aborted.Inc()
		} else {
			s.failure.Store(nil)
		}
		for _, o := range s.outs {
			o.reset() // End flushed or aborted every record
		}
		s.ended(states, committed)
	}
}

// carryPoll is how long a poll waits for input while a carry pass is under way.
const carryPoll = 50 * time.Millisecond

// carryPending reports whether the carry pass of a partition is under way, as the last
// transaction (or restore) left it: safe to call while a transaction is processed.
func (s *Service) carryPending() bool { return s.carrying.Load() }

// noteCarrying records whether the carry pass of a partition is under way; s.mu is held and
// no transaction is being processed.
func (s *Service) noteCarrying() {
	pending := false
	for _, st := range s.states {
		pending = pending || st.cells.CarryPending()
	}
	s.carrying.Store(pending)
}

// endTimeout bounds ending a transaction: longer than the transaction timeout (franz-go's
// default is 40s), after which the broker aborts the transaction itself.
const endTimeout = time.Minute

// end ends the open transaction, committing it (and the consumed offsets) or aborting it. It
// runs on a context that a stop does not cancel: franz-go advises against cancelling End,
// which may leave the client in an invalid state, so a stop that comes once a transaction's
// records are produced still commits them. A commit that fails or is refused (a rebalance)
// aborts; the input is then processed again by the partition's next owner.
func (s *Service) end(ctx context.Context, commit kgo.TransactionEndTry) (bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.endTimeout)
	defer cancel()
	return s.sess.End(ctx, commit)
}

// commit ends the open transaction, committing it unless one of its records failed to
// produce. End does not look at the records: a transaction missing a failed record would
// commit its offsets, losing the record's usage. The records are flushed first, on a context
// a stop does not cancel; once Flush returns every record's promise has run, so a failure is
// known. A flush that times out returns its error: the session's Close then aborts.
func (s *Service) commit(ctx context.Context) (bool, error) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.endTimeout)
	defer cancel()
	if err := s.sess.Client().Flush(fctx); err != nil {
		return false, fmt.Errorf("flushing the transaction: %w", err)
	}
	if s.produceFailed.Load() {
		return s.end(ctx, kgo.TryAbort)
	}
	return s.end(ctx, kgo.TryCommit)
}

// ended applies the end of a transaction to the states it changed.
func (s *Service) ended(states map[int32]*partState, committed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.noteCarrying()
	for p, st := range states {
		switch {
		case s.states[p] != st:
			// Revoked meanwhile; a new owner rebuilds the state from the changelog.
		case committed:
			st.commit()
		default:
			st.abort()
		}
	}
}

// transact processes a poll's records inside the open transaction and returns the states it
// changed. Partitions are independent (each has its own state and changelog partition), so
// up to GOMAXPROCS of them are processed at once, each by one goroutine, in offset order.
func (s *Service) transact(ctx context.Context, fetches kgo.Fetches) (map[int32]*partState, error) {
	// One processing time for the whole transaction: the time its rated records say their
	// cells' values were reached.
	now := s.clock.Now().UnixMilli()
	records := map[int32][]*kgo.Record{}
	var parts []int32
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		if _, ok := records[fp.Partition]; !ok {
			parts = append(parts, fp.Partition)
		}
		records[fp.Partition] = append(records[fp.Partition], fp.Records...)
	})
	states := make(map[int32]*partState, len(parts))
	s.mu.Lock()
	for _, p := range parts {
		states[p] = s.states[p]
	}
	// A partition whose carry pass is under way carries its next batch, input or not.
	for p, st := range s.states {
		if _, ok := states[p]; !ok && st.cells.CarryPending() {
			parts = append(parts, p)
			states[p] = st
		}
	}
	s.mu.Unlock()
	if len(parts) == 0 {
		return states, nil
	}
	for _, p := range parts {
		if states[p] == nil {
			return nil, fmt.Errorf("processor: no state for partition %d", p)
		}
	}
	workers := min(len(parts), runtime.GOMAXPROCS(0))
	for len(s.outs) < workers {
		s.outs = append(s.outs, &output{})
	}
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(parts) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				p := parts[i]
				if errs[w] = s.processPartition(ctx, p, records[p], states[p], now, s.outs[w]); errs[w] != nil {
					next.Store(int64(len(parts))) // the others stop after their partition
					return
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		// Partitions may have been left out: the transaction must not commit their offsets.
		return states, fmt.Errorf("processor: transaction stopped: %w", err)
	}
	return states, errors.Join(errs...)
}

// processPartition processes the records of partition p, whose records and bytes come from
// out.
//
// Documents are metered one by one and the cells the transaction changed are rated once each,
// at their final values, at the end. Should that rating fail, which document's change made it
// fail is not known: the partition's records are then processed again, each document rated
// as it is applied, so that the document whose change fails to rate is rejected, as it would
// have been alone. The records of the first pass are dropped unproduced.
func (s *Service) processPartition(ctx context.Context, p int32, records []*kgo.Record, st *partState, now int64, out *output) error {
	// Records are produced on a context a stop does not cancel: a stop fails no record of a
	// transaction that then commits (see commit); it stops the work between partitions.
	ctx = context.WithoutCancel(ctx)
	t, err := s.decide(p, records, st, out, false)
	if err == nil {
		if err = st.engine.Rate(st.cells); err != nil {
			if _, ok := metering.CodeOf(err); !ok {
				return fmt.Errorf("processor: rating partition %d: %w", p, err)
			}
			s.log.Warn("rating a transaction's cells failed; its documents are processed again, each rated as it is applied",
				zap.Int32("partition", p), zap.Error(err))
			st.abort()
			t, err = s.decide(p, records, st, out, true)
		}
	}
	if err != nil {
		return err
	}
	s.ops.consumed.Add(float64(len(records)))
	for _, r := range t.records {
		s.producing(r)
		s.sess.Produce(ctx, r, s.onProduced)
	}
	s.metrics.processed.Add(float64(t.processed))
	s.metrics.duplicates.Add(float64(t.duplicates))
	for code, n := range t.rejected {
		s.metrics.rejected.WithLabelValues(string(code)).Add(float64(n))
	}
	produce := func(topic string, key, value []byte) {
		r := out.record()
		r.Topic, r.Partition, r.Key, r.Value = topic, p, key, value
		s.producing(r)
		s.sess.Produce(ctx, r, s.onProduced)
	}
	// Coalesced: each changed cell once, with its value at the end of the transaction.
	processed := max(now, st.txnStored, st.processed+1)
	st.processed = processed
	ru := ratedUsage{processed: processed}
	var org string // whose account and currency ru holds
	// The v2 rated records: the cells' RatedUsage messages appended to batch as the repeated
	// field of a RatedUsageBatch, a record produced whenever it reaches the limit.
	limit := s.cfg.RatedBatchBytes
	if limit <= 0 {
		limit = DefaultRatedBatchBytes
	}
	// The batch is built in its own bytes (out.rated): the loop takes out's for the others.
	rb := out.ratedOutput()
	batch, cells := rb.buf(limit+batchSlack), 0
	start := len(batch)
	for i, c := range st.cells.Changed() {
		ru.key, ru.quantity, ru.cost = c.Key(), c.Value(), c.Cost()
		_, ru.to = ru.key.Level.Period(ru.key.From)
		value, err := appendValue(out.buf(64), ru.quantity, false)
		if err != nil {
			return err
		}
		value = out.done(value)
		produce(s.cfg.Topics.Changelog, out.done(ru.key.AppendTo(out.buf(256))), value)
		if s.accounts != nil && (i == 0 || ru.key.Org != org) {
			org = ru.key.Org
			ru.account, ru.currency = s.accounts.AccountID(org), s.accounts.Currency(org)
		}
		if s.cfg.RatedV1 {
			rated, err := appendRated(out.buf(512), &ru)
			if err != nil {
				return err
			}
			rated = out.done(rated) // before the key's bytes are taken
			produce(s.cfg.Topics.Rated, out.bytes(ru.key.Org), rated)
		}
		if batch, err = appendBatchCell(batch, &ru); err != nil {
			return err
		}
		if cells++; len(batch)-start >= limit || cells == MaxBatchCells {
			produce(s.cfg.Topics.RatedBatch, nil, rb.done(batch))
			batch, cells = rb.buf(limit+batchSlack), 0
			start = len(batch)
		}
	}
	if cells > 0 {
		produce(s.cfg.Topics.RatedBatch, nil, rb.done(batch))
	}
	s.prune(st, out, produce)
	produce(s.cfg.Topics.Changelog, []byte(progressKey),
		out.done(appendProgress(out.buf(64), processed, max(st.floor, st.horizon), st.cells.CarryProgress())))
	return nil
}
