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
// as too late) and are deleted from the changelog, in the transactions, and from memory; so
// are the second and minute cells past their level's retention (metering.Retention), which
// later usage no longer changes.
//
// The files, by concern: processor.go (the Service, a partition's state and its commit and
// abort), session.go (the Kafka session loop: poll, transact, end), restore.go (rebuilding a
// partition's state from its changelog), changelog.go (the changelog's record kinds and their
// encoding), decide.go (counted, duplicate, rejected; pruning) and encode.go (the hot-path
// encoders of the records a transaction produces).
package processor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
)

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
	// KafkaOpts are added to the options of every Kafka session (tests: a dialer that can cut
	// the connections).
	KafkaOpts []kgo.Opt
	// TickInterval is how often, in Clock's time, Run writes a tick record to every partition
	// of the collected topic (see runTicks): 0 is DefaultTickInterval, a negative one none
	// (only for a test about something else, which says so).
	TickInterval time.Duration
	// CarryBatch bounds the cells the carry pass changes in one transaction (DefaultCarryBatch
	// when 0): a partition with very many running instances carries them into a new period
	// over several transactions, its progress in the progress record (metering.Engine.Carry).
	CarryBatch int
	// RatedV1 also produces the v1 rated topic (Topics.Rated: one RatedUsage record per changed
	// cell) besides the v2 batches (Topics.RatedBatch); for the exporters of one release.
	RatedV1 bool
	// RatedBatchBytes bounds a record of the v2 rated topic (DefaultRatedBatchBytes when 0):
	// a transaction's cells of a partition are split into records of at most about this many
	// bytes (and at most MaxBatchCells cells).
	RatedBatchBytes int
}

// DefaultRatedBatchBytes is the default bound of a v2 rated record: half of Kafka's default
// message.max.bytes, so a batch never needs broker settings changed.
const DefaultRatedBatchBytes = 512 << 10

// MaxBatchCells bounds the cells of one v2 rated record (kafka.MaxBatchCells).
const MaxBatchCells = kafka.MaxBatchCells

// DefaultCarryBatch is the cells the carry pass changes in one transaction by default.
const DefaultCarryBatch = 10000

// Service is a running metering processor.
type Service struct {
	cfg   Config
	clock clock.Clock
	sess  *kgo.GroupTransactSession
	// current is sess, for readers outside Run (readiness): Run replaces the session after
	// a Kafka failure.
	current  atomic.Pointer[kgo.GroupTransactSession]
	plans    metering.Plans
	accounts Accounts
	log      *zap.Logger
	metrics  metrics
	ops      *opMetrics

	mu     sync.Mutex
	states map[int32]*partState
	// carrying tells that the carry pass of a partition is under way (see noteCarrying).
	carrying atomic.Bool

	outs       []*output                // the open transaction's records, one per worker
	onProduced func(*kgo.Record, error) // s.produced, made once
	// produceFailed tells that a record of the open transaction failed to produce: the
	// transaction must then abort.
	produceFailed atomic.Bool

	// failure is the Kafka failure the processor is recovering from (nil when none): it
	// tells readiness what is down.
	failure atomic.Pointer[failure]
	// restoreFailed is why the state of a partition assigned to the session could not be
	// restored (nil when none): the session is then replaced, which restores it again.
	restoreFailed atomic.Pointer[kafkaError]

	// endTimeout bounds flushing and ending a transaction (the constant endTimeout; tests
	// shorten it to have an outage outlast it sooner).
	endTimeout time.Duration

	// afterProduce, when set (by tests), runs after a transaction's records are produced and
	// before it ends; an error from it stops the service there, as a crash would.
	afterProduce func() error
	// beforeRestore, when set (by tests), runs before a partition's state is restored; an
	// error from it fails the restore, as a broker gone at that moment would.
	beforeRestore func() error
}

// partState is the state of one input partition: its cells, the documents it decided, and
// how far its input has gone.
type partState struct {
	engine *metering.Engine // its own: an engine's scratch is not safe for concurrent use
	cells  *metering.Cells
	ids    map[string]int64 // decided documents (counted or rejected) by id: their end time
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

// newPartState returns the empty state of a partition, with an engine of its own.
func (s *Service) newPartState() *partState {
	cells := metering.NewCells()
	cells.SetRetention(s.cfg.Acceptance)
	return &partState{engine: &metering.Engine{Plans: s.plans, Acceptance: s.cfg.Acceptance, CarryBatch: s.cfg.CarryBatch},
		cells: cells, ids: map[string]int64{}}
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
	recoveries            prometheus.Counter
}

// New returns a processor; Run starts it.
func New(cfg Config, p metering.Plans, accounts Accounts, log *zap.Logger, reg prometheus.Registerer) (*Service, error) {
	if cfg.Group == "" {
		return nil, errors.New("processor: no consumer group (kafka.GroupsFor names it)")
	}
	if err := cfg.Acceptance.Retention.Validate(cfg.Acceptance.Slack); err != nil {
		return nil, fmt.Errorf("processor: %w", err)
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = DefaultTickInterval
	}
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = 20000
	}
	if cfg.CarryBatch <= 0 {
		cfg.CarryBatch = DefaultCarryBatch
	}
	s := &Service{cfg: cfg, clock: clock.Or(cfg.Clock), plans: p, accounts: accounts,
		log: log, states: map[int32]*partState{}, endTimeout: endTimeout}
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
		recoveries: f.NewCounter(prometheus.CounterOpts{Name: "meterline_processor_kafka_failures_total",
			Help: "Kafka failures (a transaction that could not begin, flush or end) after which the processor started a new session."}),
	}
	ops, err := newOpMetrics(reg, cfg.Group, s.Client)
	if err != nil {
		return nil, fmt.Errorf("processor: %w", err)
	}
	s.ops = ops
	s.onProduced = s.produced
	if err := s.newSession(); err != nil {
		return nil, err
	}
	return s, nil
}

// newSession starts a Kafka session (a client in the group, with the transactional id); its
// partitions' states are restored as they are assigned.
func (s *Service) newSession() error {
	cfg := s.cfg
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.WithLogger(kafka.Logger(s.log)),
		kgo.TransactionalID(cfg.TransactionalID),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics.Collected),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.SessionTimeout(15 * time.Second),
		kgo.OnPartitionsAssigned(s.assigned),
		kgo.OnPartitionsRevoked(s.dropped),
		kgo.OnPartitionsLost(s.dropped),
	}, cfg.KafkaOpts...)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("processor: %w", err)
	}
	s.sess = sess
	s.current.Store(sess)
	return nil
}

// Client is the processor's Kafka client (for readiness checks).
func (s *Service) Client() *kgo.Client {
	if sess := s.current.Load(); sess != nil {
		return sess.Client()
	}
	return nil
}

// failure is a Kafka failure of the processor and since when it lasts.
type failure struct {
	err   error
	since time.Time
}

// Ready tells whether the processor runs normally: it returns the Kafka failure it is riding
// out (an ended transaction that failed), until a transaction commits again.
func (s *Service) Ready(context.Context) error {
	if f := s.failure.Load(); f != nil {
		return fmt.Errorf("processor: recovering since %s from a Kafka failure: %w", f.since.UTC().Format(time.RFC3339), f.err)
	}
	return nil
}

// assigned rebuilds the state of newly assigned partitions from the changelog.
func (s *Service) assigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	for _, p := range assigned[s.cfg.Topics.Collected] {
		st, err := s.restore(ctx, p)
		if err != nil {
			// Without its state the partition cannot be processed. The session is replaced
			// (see Run), as after any Kafka failure: the new one joins the group again and
			// restores what it is assigned. (Leaving the group instead would stop this
			// processor consuming for good.)
			s.log.Error("restoring a partition's state failed; the session is replaced", zap.Int32("partition", p), zap.Error(err))
			s.restoreFailed.Store(&kafkaError{what: fmt.Sprintf("restoring the state of partition %d", p), err: err})
			return
		}
		s.mu.Lock()
		s.states[p] = st
		s.noteCarrying()
		s.mu.Unlock()
	}
}

func (s *Service) dropped(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range lost[s.cfg.Topics.Collected] {
		delete(s.states, p)
	}
	s.noteCarrying()
}

// produced marks the open transaction failed when a record of it failed to produce, so that
// commit aborts it.
func (s *Service) produced(r *kgo.Record, err error) {
	if err != nil {
		s.produceFailed.Store(true)
		s.log.Error("producing in a transaction failed; it will abort", zap.String("topic", r.Topic), zap.Error(err))
	}
}
