package sink

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// EventStorage is where the raw event sink writes (clickhouse.Events). Unlike the other
// sinks' ports it has two methods: the sink looks the batch's ids up before it inserts, so
// that a replay after a crash, or a document collected twice, leaves no duplicate row visible
// to queries even before merges.
type EventStorage interface {
	// Existing returns the ids of refs that are stored already.
	Existing(ctx context.Context, refs []usage.EventRef) (map[string]bool, error)
	// Insert writes rows. A failed Insert may have written some of them; the retry's
	// look-up then finds those.
	Insert(ctx context.Context, rows []usage.EventRow) error
}

// Raw is the raw event sink: every collected usage event into usage_events, one row per
// document. Before writing, a batch drops the events whose id is already stored (a replay
// after a crash, or the same document collected twice) and the repeats within the batch. An
// event whose id is no document id or whose quantities do not fit Decimal(38, 12) is set
// aside (see checkEvent).
type Raw struct {
	consumer *kafka.BatchConsumer[usage.EventRow]
	store    EventStorage
	metrics  metrics

	// afterWrite, when set (by tests), runs after a batch is written and before its offsets
	// are committed; an error from it stops the sink there, as a crash would.
	afterWrite func() error
}

type metrics struct {
	rows, duplicates prometheus.Counter
}

// NewRaw returns the raw event sink of cfg.Topic (the collected-usage topic) into store; Run
// starts it.
func NewRaw(cfg Config, store EventStorage, log *zap.Logger, reg prometheus.Registerer) (*Raw, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	f := promauto.With(reg)
	s := &Raw{store: store, metrics: metrics{
		rows: f.NewCounter(prometheus.CounterOpts{Name: "meterline_rawsink_rows_written_total",
			Help: "Usage events written to usage_events."}),
		duplicates: f.NewCounter(prometheus.CounterOpts{Name: "meterline_rawsink_duplicates_skipped_total",
			Help: "Usage events not written because their id was stored already (replays, resubmissions)."}),
	}}
	c, err := kafka.NewBatchConsumer(cfg.batchConfig("rawsink"), decodeEvent, s.write, log, reg)
	if err != nil {
		return nil, err
	}
	s.consumer = c
	return s, nil
}

func decodeEvent(r *kgo.Record) (usage.EventRow, error) {
	if kafka.IsTick(r) {
		// No usage: a row without an event, which write skips (its offset is committed).
		return usage.EventRow{Partition: r.Partition, Offset: r.Offset}, nil
	}
	ev := &meterlinev1.UsageEvent{}
	if err := kafka.DecodeEvent(r, ev); err != nil {
		return usage.EventRow{}, err
	}
	if err := checkEvent(ev); err != nil {
		return usage.EventRow{}, err
	}
	return usage.EventRow{Event: ev, Partition: r.Partition, Offset: r.Offset}, nil
}

// Client is the sink's Kafka client (for readiness checks).
func (s *Raw) Client() *kgo.Client { return s.consumer.Client() }

// Ready tells whether the sink runs normally; see kafka.BatchConsumer.Ready.
func (s *Raw) Ready(ctx context.Context) error { return s.consumer.Ready(ctx) }

// Run consumes until ctx ends; see kafka.BatchConsumer.Run.
func (s *Raw) Run(ctx context.Context) error {
	s.consumer.AfterWrite = s.afterWrite
	return s.consumer.Run(ctx)
}

// write drops the events already stored (and repeats within the batch), then inserts the rest.
func (s *Raw) write(ctx context.Context, batch []usage.EventRow) error {
	refs := make([]usage.EventRef, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	ticks := 0
	for _, r := range batch {
		if r.Event == nil {
			ticks++ // no usage
			continue
		}
		if !seen[r.Event.Id] {
			seen[r.Event.Id] = true
			refs = append(refs, usage.EventRef{Org: r.Event.GetDocument().GetOrganizationId(), ID: r.Event.Id})
		}
	}
	if len(refs) == 0 {
		return nil // only ticks
	}
	stored, err := s.store.Existing(ctx, refs)
	if err != nil {
		return err // a look-up never fails for a row's values: retried
	}
	rows := make([]usage.EventRow, 0, len(refs))
	for _, r := range batch {
		if r.Event == nil || stored[r.Event.Id] {
			continue
		}
		stored[r.Event.Id] = true // later repeats in this batch are duplicates too
		rows = append(rows, r)
	}
	if err := s.store.Insert(ctx, rows); err != nil {
		return unwritable(err)
	}
	s.metrics.rows.Add(float64(len(rows)))
	s.metrics.duplicates.Add(float64(len(batch) - ticks - len(rows)))
	return nil
}
