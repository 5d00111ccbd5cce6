// Package processor runs the metering processor on Kafka with exactly-once semantics: it
// consumes the collected-usage topic in a consumer group and, in one Kafka transaction per
// poll, produces the changed window cells to a compacted changelog topic, their rated values
// to the rated-usage topic and the rejected documents (with their reasons) to the
// rejected-usage topic, and commits the consumed offsets.
//
// The processor's state (the cells, and the ids of the documents it has decided) lives in the
// changelog, co-partitioned with the input: records of input partition p go to changelog
// partition p. When a partition is assigned, its state is rebuilt by reading its changelog
// partition to the end before any of its input is processed. A crash at any point aborts the
// open transaction; the next owner of the partition rebuilds the state of the last committed
// transaction and reprocesses from its offsets, so no document counts twice or is lost.
//
// Decisions replay the same way: the "processing time" a document is judged by (too late,
// from the future) is its stored time, its record's timestamp, not the wall clock. So does
// pruning: the ids of documents and the cells of periods that ended more than the slack
// before a partition's latest stored time can no longer matter (usage that old is rejected
// as too late) and are deleted from the changelog, in the transactions, and from memory.
package processor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// Group is the consumer group of the metering processor.
const Group = "meterline-processor"

// Accounts tells the account and currency of an organization.
type Accounts interface {
	AccountID(org string) string
	Currency(org string) string
}

// Config configures the processor.
type Config struct {
	Brokers         []string
	Topics          kafka.Topics
	Group           string
	TransactionalID string // unique per processor instance
	Acceptance      metering.Acceptance
	// MaxPollRecords bounds the documents of one transaction (20,000 when 0). A cell is
	// produced once per transaction however many of its documents changed it, so larger
	// transactions produce fewer records per document.
	MaxPollRecords int
	// Clock gives the processing time written on rated records (the wall clock when nil).
	// Decisions never read it: they go by the records' stored times, so a replay decides
	// the same whatever the clock says.
	Clock clock.Clock
}

// Service is a running metering processor.
type Service struct {
	cfg      Config
	clock    clock.Clock
	sess     *kgo.GroupTransactSession
	proc     *metering.Processor
	accounts Accounts
	log      *zap.Logger
	metrics  metrics

	mu     sync.Mutex
	states map[int32]*partState

	outs       []*output                // the open transaction's records, one per worker
	onProduced func(*kgo.Record, error) // s.produced, made once

	// afterProduce, when set (by tests), runs after a transaction's records are produced and
	// before it ends; an error from it stops the service there, as a crash would.
	afterProduce func() error
}

// partState is the state of one input partition: its cells, the documents it decided, and
// how far its input has gone.
type partState struct {
	cells *metering.Cells
	ids   map[string]int64 // decided documents (counted or rejected) by id: their end time
	// idExpiry indexes the committed ids by end time, for pruning.
	idExpiry metering.Expiry[string]
	// stored is the latest stored time of the committed input (0 after a restore, until the
	// first transaction).
	stored int64
	// processed is the processing time given to the last transaction, so that the next gets
	// a later one even if the clock goes back; it is kept in the changelog (key "p/"), so a
	// new owner of the partition continues after it whatever its own clock says.
	processed int64
	// floor is the committed horizon: the ids and cells of what ended before it are pruned,
	// so a document that ended before it is rejected as too late whatever its stored time
	// (stored times come from the collectors' clocks and need not grow). It never goes down
	// and is kept in the changelog with processed.
	floor int64

	// The open transaction: ids decided (already in ids), the latest stored time of its
	// input, and the horizon before which ids and cells are pruned when it commits.
	txnIDs    []string
	txnStored int64
	horizon   int64
}

func newPartState() *partState {
	return &partState{cells: metering.NewCells(), ids: map[string]int64{}}
}

// commit makes the open transaction's changes the committed state.
func (st *partState) commit() {
	st.cells.Commit()
	st.cells.Expire(st.horizon)
	st.idExpiry.Pop(st.horizon-1, func(id string) { delete(st.ids, id) })
	for _, id := range st.txnIDs {
		switch end, ok := st.ids[id]; {
		case !ok:
		case end < st.horizon:
			delete(st.ids, id) // pruned in the transaction that decided it
		default:
			st.idExpiry.Add(end, id)
		}
	}
	st.stored = st.txnStored
	st.floor = max(st.floor, st.horizon)
	st.endTxn()
}

// abort drops the open transaction's changes.
func (st *partState) abort() {
	st.cells.Abort()
	for _, id := range st.txnIDs {
		delete(st.ids, id)
	}
	st.endTxn()
}

func (st *partState) endTxn() {
	clear(st.txnIDs)
	st.txnIDs = st.txnIDs[:0]
}

type metrics struct {
	processed, duplicates prometheus.Counter
	rejected              *prometheus.CounterVec
	aborted               prometheus.Counter
}

// New returns a processor; Run starts it.
func New(cfg Config, p metering.Plans, accounts Accounts, log *zap.Logger, reg prometheus.Registerer) (*Service, error) {
	if cfg.Group == "" {
		cfg.Group = Group
	}
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = 20000
	}
	s := &Service{cfg: cfg, clock: clock.Or(cfg.Clock), proc: &metering.Processor{Plans: p, Acceptance: cfg.Acceptance}, accounts: accounts,
		log: log, states: map[int32]*partState{}}
	f := promauto.With(reg)
	s.metrics = metrics{
		processed: f.NewCounter(prometheus.CounterOpts{Name: "meterline_processor_documents_total",
			Help: "Usage documents counted by the metering processor (in committed transactions or not)."}),
		duplicates: f.NewCounter(prometheus.CounterOpts{Name: "meterline_processor_duplicates_total",
			Help: "Usage documents skipped because their id was counted before."}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{Name: "meterline_processor_rejected_total",
			Help: "Usage documents rejected by the metering processor, by reason code."}, []string{"code"}),
		aborted: f.NewCounter(prometheus.CounterOpts{Name: "meterline_processor_aborted_transactions_total",
			Help: "Transactions aborted (rebalances, failures); their input is processed again."}),
	}
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.WithLogger(kafka.Logger(log)),
		kgo.TransactionalID(cfg.TransactionalID),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics.Collected),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.SessionTimeout(15*time.Second),
		kgo.OnPartitionsAssigned(s.assigned),
		kgo.OnPartitionsRevoked(s.dropped),
		kgo.OnPartitionsLost(s.dropped),
	)
	if err != nil {
		return nil, fmt.Errorf("processor: %w", err)
	}
	s.sess = sess
	s.onProduced = s.produced
	return s, nil
}

// Client is the processor's Kafka client (for readiness checks).
func (s *Service) Client() *kgo.Client { return s.sess.Client() }

// assigned rebuilds the state of newly assigned partitions from the changelog.
func (s *Service) assigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	for _, p := range assigned[s.cfg.Topics.Collected] {
		st, err := s.restore(ctx, p)
		if err != nil {
			// Without its state the partition cannot be processed; leaving the group makes
			// another member (or this one, on its next join) try again.
			s.log.Error("restoring a partition's state failed; leaving the group", zap.Int32("partition", p), zap.Error(err))
			go cl.LeaveGroup()
			return
		}
		s.mu.Lock()
		s.states[p] = st
		s.mu.Unlock()
	}
}

func (s *Service) dropped(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range lost[s.cfg.Topics.Collected] {
		delete(s.states, p)
	}
}

// restore reads changelog partition p to its end.
func (s *Service) restore(ctx context.Context, p int32) (*partState, error) {
	st := newPartState()
	// Control records (transaction markers) are kept so that the read position is known to
	// reach the end offset, which a marker may hold.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.cfg.Brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.cfg.Topics.Changelog: {p: kgo.NewOffset().AtStart()}}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	end, err := s.changelogEnd(ctx, kadm.NewClient(cl), p)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	n := 0
	for next := int64(0); next < end.Offset; {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return nil, ferr
		}
		var rerr error
		fetches.EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			if rerr == nil && !r.Attrs.IsControl() {
				rerr = st.apply(r)
				n++
			}
		})
		if rerr != nil {
			return nil, rerr
		}
	}
	s.log.Info("restored partition state", zap.Int32("partition", p), zap.Int("records", n),
		zap.Int("cells", st.cells.Len()), zap.Int("documents", len(st.ids)), zap.Duration("took", time.Since(start)))
	return st, nil
}

// changelogEnd returns the end offset of changelog partition p. A topic created a moment ago
// may not be in the broker's metadata yet: the look-up is tried again for up to 10s.
func (s *Service) changelogEnd(ctx context.Context, adm *kadm.Client, p int32) (kadm.ListedOffset, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		ends, err := adm.ListEndOffsets(ctx, s.cfg.Topics.Changelog)
		if err == nil {
			end, ok := ends.Lookup(s.cfg.Topics.Changelog, p)
			if ok && end.Err == nil {
				return end, nil
			}
			err = end.Err
		}
		select {
		case <-ctx.Done():
			return kadm.ListedOffset{}, fmt.Errorf("changelog partition %d: end offset unknown: %w", p, errors.Join(err, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// apply loads one changelog record into the state.
func (st *partState) apply(r *kgo.Record) error {
	key := string(r.Key)
	if key == progressKey {
		processed, floor, ok := strings.Cut(string(r.Value), " ")
		var err1, err2 error
		if ok {
			st.processed, err1 = strconv.ParseInt(processed, 10, 64)
			st.floor, err2 = strconv.ParseInt(floor, 10, 64)
		}
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("changelog %s: %q is not \"<processed> <floor>\"", key, r.Value)
		}
		return nil
	}
	if id, ok := strings.CutPrefix(key, "d/"); ok {
		if r.Value == nil {
			delete(st.ids, id)
			return nil
		}
		end, err := strconv.ParseInt(string(r.Value), 10, 64)
		if err != nil {
			return fmt.Errorf("changelog %s: %w", key, err)
		}
		st.ids[id] = end
		st.idExpiry.Add(end, id)
		return nil
	}
	k, err := metering.ParseCellKey(key)
	if err != nil {
		return err
	}
	if r.Value == nil {
		st.cells.Load(k, nil)
		return nil
	}
	var pv meterlinev1.Value
	if err := proto.Unmarshal(r.Value, &pv); err != nil {
		return fmt.Errorf("changelog %s: %w", key, err)
	}
	v, err := metering.ValueFromProto(&pv)
	if err != nil {
		return fmt.Errorf("changelog %s: %w", key, err)
	}
	st.cells.Load(k, v)
	return nil
}

// Run processes until ctx ends or the session fails. On return the open transaction has been
// ended (committed when ctx ended between polls, else aborted).
func (s *Service) Run(ctx context.Context) error {
	defer s.sess.Close()
	for {
		fetches := s.sess.PollRecords(ctx, s.cfg.MaxPollRecords)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			s.log.Warn("fetch", zap.String("topic", t), zap.Int32("partition", p), zap.Error(err))
		})
		if fetches.NumRecords() == 0 {
			continue
		}
		if err := s.sess.Begin(); err != nil {
			return fmt.Errorf("processor: begin transaction: %w", err)
		}
		states, err := s.transact(ctx, fetches)
		if err != nil {
			_, _ = s.sess.End(context.WithoutCancel(ctx), kgo.TryAbort)
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
		committed, err := s.sess.End(ctx, kgo.TryCommit)
		if err != nil {
			return fmt.Errorf("processor: end transaction: %w", err)
		}
		if !committed {
			s.metrics.aborted.Inc()
		}
		for _, o := range s.outs {
			o.reset() // End flushed or aborted every record
		}
		s.ended(states, committed)
	}
}

// ended applies the end of a transaction to the states it changed.
func (s *Service) ended(states map[int32]*partState, committed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
	s.mu.Unlock()
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
	t, err := s.decide(p, records, st, out, false)
	if err == nil {
		if err = s.proc.Rate(st.cells); err != nil {
			if reasonCode(err) == "" {
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
	for _, r := range t.records {
		s.sess.Produce(ctx, r, s.onProduced)
	}
	s.metrics.processed.Add(float64(t.processed))
	s.metrics.duplicates.Add(float64(t.duplicates))
	for code, n := range t.rejected {
		s.metrics.rejected.WithLabelValues(code).Add(float64(n))
	}
	produce := func(topic string, key, value []byte) {
		r := out.record()
		r.Topic, r.Partition, r.Key, r.Value = topic, p, key, value
		s.sess.Produce(ctx, r, s.onProduced)
	}
	// Coalesced: each changed cell once, with its value at the end of the transaction.
	processed := max(now, st.txnStored, st.processed+1)
	st.processed = processed
	ru := ratedUsage{processed: processed}
	var org string // whose account and currency ru holds
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
		rated, err := appendRated(out.buf(512), &ru)
		if err != nil {
			return err
		}
		rated = out.done(rated)
		produce(s.cfg.Topics.Rated, out.bytes(ru.key.Org), rated)
	}
	s.prune(st, out, produce)
	produce(s.cfg.Topics.Changelog, []byte(progressKey),
		out.done(fmt.Appendf(out.buf(41), "%d %d", processed, max(st.floor, st.horizon))))
	return nil
}

// progressKey is the changelog key of a partition's progress: "<processed> <floor>".
const progressKey = "p/"

// tally is what decide decided: the id and rejection records to produce, and the counts.
type tally struct {
	records               []*kgo.Record
	processed, duplicates int
	rejected              map[string]int
}

// decide applies the documents of records, in order, to the open transaction of st: each is a
// duplicate, rejected, or counted. With rate, each counted document's cells are rated as it is
// applied; else Processor.Rate must rate the transaction's cells.
func (s *Service) decide(p int32, records []*kgo.Record, st *partState, out *output, rate bool) (tally, error) {
	st.txnStored = st.stored
	t := tally{records: make([]*kgo.Record, 0, 2*len(records)), rejected: map[string]int{}}
	produce := func(topic string, key, value []byte) {
		r := out.record()
		r.Topic, r.Partition, r.Key, r.Value = topic, p, key, value
		t.records = append(t.records, r)
	}
	decided := func(id string, end int64) {
		st.ids[id] = end
		st.txnIDs = append(st.txnIDs, id)
		produce(s.cfg.Topics.Changelog, idKey(out, id), out.done(strconv.AppendInt(out.buf(20), end, 10)))
	}
	var ev meterlinev1.UsageEvent
	for _, r := range records {
		if err := kafka.DecodeEvent(r, &ev); err != nil {
			s.log.Error("skipping a record that is not a usage event", zap.Error(err))
			continue
		}
		stored := ev.StoredMs
		st.txnStored = max(st.txnStored, stored)
		end := ev.GetDocument().GetEnd()
		// A copy of a document decided before is a duplicate. One whose id was pruned ended
		// before the floor, and is rejected as too late below, as every document that old is:
		// none is counted twice.
		if _, ok := st.ids[ev.Id]; ok {
			t.duplicates++
			continue
		}
		doc, err := usage.FromProto(ev.Document)
		if err != nil {
			return t, err
		}
		switch {
		case end < st.floor:
			err = fmt.Errorf("%w: it ended at %s, before %s, up to which this partition's usage is settled and pruned",
				metering.ErrTooLate, time.UnixMilli(end).UTC().Format(time.RFC3339Nano), time.UnixMilli(st.floor).UTC().Format(time.RFC3339Nano))
		case rate:
			_, err = s.proc.Process(&doc, stored, st.cells)
		default:
			err = s.proc.Meter(&doc, stored, st.cells)
		}
		if err != nil {
			code := reasonCode(err)
			if code == "" {
				return t, fmt.Errorf("processor: document %s: %w", ev.Id, err)
			}
			t.rejected[code]++
			value, merr := proto.Marshal(&meterlinev1.RejectedUsage{Event: proto.Clone(&ev).(*meterlinev1.UsageEvent),
				Reason: err.Error(), Code: code, ProcessedMs: stored})
			if merr != nil {
				return t, merr
			}
			produce(s.cfg.Topics.Rejected, []byte(doc.OrganizationID), value)
			if code != "too_late" {
				decided(ev.Id, doc.End) // a rejection is final: the same document is not judged again
			}
			continue
		}
		t.processed++
		decided(ev.Id, doc.End)
	}
	return t, nil
}

// idKey returns the changelog key of a document id, "d/<id>", in out.
func idKey(out *output, id string) []byte {
	return out.done(append(append(out.buf(2+len(id)), "d/"...), id...))
}

// prune deletes, in the open transaction, what usage processed from now on cannot change: the
// ids of documents, and the cells of periods, that ended more than the slack before the
// partition's latest stored time, and never less than the floor. A document that old is
// rejected as too late whether its id is known or not, and the cells it would land in are
// settled.
// The horizon is driven by the records' stored times, never the wall clock, so a replay
// prunes the same.
func (s *Service) prune(st *partState, out *output, produce func(topic string, key, value []byte)) {
	if st.txnStored == 0 {
		return
	}
	st.horizon = max(st.floor, st.txnStored-s.cfg.Acceptance.Slack.Milliseconds()-s.cfg.Acceptance.Future.Milliseconds())
	st.idExpiry.Due(st.horizon-1, func(id string) {
		if _, ok := st.ids[id]; ok {
			produce(s.cfg.Topics.Changelog, idKey(out, id), nil)
		}
	})
	for _, id := range st.txnIDs {
		if st.ids[id] < st.horizon {
			produce(s.cfg.Topics.Changelog, idKey(out, id), nil)
		}
	}
	st.cells.Expiring(st.horizon, func(c *metering.Cell) {
		produce(s.cfg.Topics.Changelog, out.done(c.Key().AppendTo(out.buf(256))), nil)
	})
}

// produced logs a failed produce; the transaction then fails to commit.
func (s *Service) produced(r *kgo.Record, err error) {
	if err != nil {
		s.log.Error("producing in a transaction failed; it will abort", zap.String("topic", r.Topic), zap.Error(err))
	}
}

// reasonCode classifies a rejection; "" for an error that is not one.
func reasonCode(err error) string {
	var ee *plans.EvalError
	switch {
	case errors.Is(err, metering.ErrTooLate):
		return "too_late"
	case errors.Is(err, metering.ErrFuture):
		return "future"
	case errors.Is(err, metering.ErrNoPlan):
		return "no_plan"
	case errors.Is(err, metering.ErrNoPrice):
		return "no_price"
	case errors.As(err, &ee):
		return "formula_error"
	}
	return ""
}
