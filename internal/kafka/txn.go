package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/metadata"
	"github.com/meterline/meterline/internal/platform/clock"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// TxConfig configures a TxPublisher.
type TxConfig struct {
	Brokers []string
	// Topics are Meterline's topics: events go to Collected, the state to PollerState.
	Topics Topics
	// Source names the one writer of a stream ("poller:cf/<foundation>/app-events"): the key
	// of its state record, and, through TransactionalID, its transactional id.
	Source string
	// Prefix is the topic prefix, which the transactional id carries so that two Meterlines
	// sharing a broker never fence each other.
	Prefix string
	// Clock stamps the records (the events' stored time); nil is the wall clock.
	Clock clock.Clock
}

// TransactionalID is the transactional id of source's publisher under prefix. It is the same
// for every instance of the source, so a second instance fences the first.
func TransactionalID(prefix, source string) string { return prefix + "-txn-" + source }

// ErrFenced is in the error of a publish that failed because another publisher with the same
// transactional id (a second instance of the source) took over. The publisher is then
// unusable; nothing it had not committed becomes visible.
var ErrFenced = errors.New("fenced by another publisher of the same source")

// TxPublisher writes usage events and the state of the source that produced them (a poller's
// cursor) in one Kafka transaction, so that a reader (read committed: the processor, the
// sinks, LastState) sees both or neither. A crash at any point between Begin and the commit
// leaves nothing visible: the broker aborts the open transaction when the next instance of the
// source starts (its InitProducerID bumps the epoch) or when the transaction times out. So a
// poller that resumes from LastState re-reads exactly what was not committed, and publishes
// the same documents again (same ids), never a gap and never a double count.
//
// A TxPublisher is not safe for concurrent use: a source has one writer.
type TxPublisher struct {
	cfg   TxConfig
	cl    *kgo.Client
	clock clock.Clock

	// afterEvents, when set (by tests), runs after the events are produced and before the
	// state record; an error from it stops Publish there, as a crash would (the transaction
	// is neither committed nor aborted).
	afterEvents func() error
}

// NewTxPublisher returns the publisher of cfg.Source. It claims the transactional id at once,
// which fences a previous instance and aborts the transaction that one left open, so that
// LastState afterwards reads a settled state.
func NewTxPublisher(ctx context.Context, cfg TxConfig, log *zap.Logger) (*TxPublisher, error) {
	if cfg.Source == "" {
		return nil, errors.New("transactional publisher: no source")
	}
	cl, err := NewClient(cfg.Brokers, log,
		kgo.TransactionalID(TransactionalID(cfg.Prefix, cfg.Source)),
		// An open transaction of a crashed instance holds back every read committed reader
		// of its partitions until the next instance starts, or for this long.
		kgo.TransactionTimeout(time.Minute),
	)
	if err != nil {
		return nil, err
	}
	if _, _, err := cl.ProducerID(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("transactional publisher %s: claim the transactional id: %w", cfg.Source, err)
	}
	return &TxPublisher{cfg: cfg, cl: cl, clock: clock.Or(cfg.Clock)}, nil
}

// Client is the publisher's Kafka client (for readiness checks).
func (p *TxPublisher) Client() *kgo.Client { return p.cl }

// Close closes the client. A transaction still open (after a failed Publish) is aborted by
// the broker.
func (p *TxPublisher) Close() { p.cl.Close() }

// Publish writes events to the collected-usage topic (keyed by organization, as the
// collector's, so an organization's usage stays on one partition) and state as the source's
// state record,
// in one transaction, all records stamped with the publisher's clock. It returns once the
// transaction is committed. On error the transaction is aborted (or, if the commit's answer
// was lost, may have committed: LastState then tells); the caller reads LastState again and
// carries on from there. An empty events writes the state alone (a cursor that moved past
// nothing to publish).
func (p *TxPublisher) Publish(ctx context.Context, events []*meterlinev1.UsageEvent, state []byte) error {
	return p.PublishWithRejects(ctx, events, nil, state)
}

// PollerReject is a provider payload a poller could not decode, or a document it built that
// failed validation: set aside to the poller rejects topic, never skipped silently.
type PollerReject struct {
	// Request names what was read ("GET https://.../os-simple-tenant-usage?...").
	Request string
	// Error says why it was set aside (at most 2 KiB are kept).
	Error string
	// Payload is the body as read.
	Payload []byte
}

// Headers of a record of the poller rejects topic, besides HeaderError.
const (
	HeaderPollerSource  = "meterline-poller-source"
	HeaderPollerRequest = "meterline-poller-request"
)

// PublishWithRejects is Publish that also writes rejects to the poller rejects topic in the
// same transaction, so that a payload set aside is set aside once with the state that moved
// past it (or, when the state did not move, once per poll that met it).
func (p *TxPublisher) PublishWithRejects(ctx context.Context, events []*meterlinev1.UsageEvent, rejects []PollerReject, state []byte) error {
	return p.PublishWithMetadata(ctx, events, rejects, nil, state)
}

// PublishWithMetadata is PublishWithRejects that also writes metadata, what the source read
// of its provider's entities (package metadata), to the poller metadata topic in the same
// transaction: each keyed by Record.Key, its Source the publisher's. A record that does not
// encode (beyond metadata's bounds) fails the publish before anything is produced.
func (p *TxPublisher) PublishWithMetadata(ctx context.Context, events []*meterlinev1.UsageEvent, rejects []PollerReject, meta []metadata.Record, state []byte) error {
	if err := p.cl.BeginTransaction(); err != nil {
		return p.failed("begin", err)
	}
	at := p.clock.Now()
	recs := make([]*kgo.Record, 0, len(events)+len(rejects)+len(meta))
	for _, ev := range events {
		rec, err := EventRecord(p.cfg.Topics.Collected, ev)
		if err != nil {
			return p.abort("encode", err)
		}
		rec.Timestamp = at
		recs = append(recs, rec)
	}
	for _, rj := range rejects {
		recs = append(recs, &kgo.Record{Topic: p.cfg.Topics.PollerRejects, Key: []byte(p.cfg.Source), Value: rj.Payload,
			Timestamp: at, Headers: []kgo.RecordHeader{
				{Key: HeaderPollerSource, Value: []byte(p.cfg.Source)},
				{Key: HeaderPollerRequest, Value: []byte(truncate(rj.Request, 2048))},
				{Key: HeaderError, Value: []byte(truncate(rj.Error, 2048))},
			}})
	}
	for _, m := range meta {
		m.Source = p.cfg.Source
		v, err := metadata.Encode(m)
		if err != nil {
			return p.abort("encode", err)
		}
		recs = append(recs, &kgo.Record{Topic: p.cfg.Topics.PollerMetadata, Key: []byte(m.Key()), Value: v, Timestamp: at})
	}
	if err := Produce(ctx, p.cl, recs...); err != nil {
		return p.abort("produce events", err)
	}
	if p.afterEvents != nil {
		if err := p.afterEvents(); err != nil {
			return err
		}
	}
	st := &kgo.Record{Topic: p.cfg.Topics.PollerState, Key: []byte(p.cfg.Source), Value: state, Timestamp: at}
	if state == nil {
		st.Value = []byte{} // nil would be a tombstone: compaction would drop the source's state
	}
	if err := Produce(ctx, p.cl, st); err != nil {
		return p.abort("produce state", err)
	}
	// Ending is not cancelled with ctx, as franz-go advises: a commit cut off half-way leaves
	// the outcome unknown to this client.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := p.cl.EndTransaction(ectx, kgo.TryCommit); err != nil {
		return p.failed("commit", err)
	}
	return nil
}

// abort ends the open transaction without committing it and returns the error of what failed.
func (p *TxPublisher) abort(what string, err error) error {
	actx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if aerr := p.cl.AbortBufferedRecords(actx); aerr == nil {
		_ = p.cl.EndTransaction(actx, kgo.TryAbort) // failing, the broker aborts it on timeout
	}
	return p.failed(what, err)
}

func (p *TxPublisher) failed(what string, err error) error {
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		return fmt.Errorf("transactional publisher %s: %s: %w: %w", p.cfg.Source, what, ErrFenced, err)
	}
	return fmt.Errorf("transactional publisher %s: %s: %w", p.cfg.Source, what, err)
}

// LastState returns the last committed state record of the publisher's source; ok is false
// when the source has none (a first start). Records of aborted or open transactions are never
// read (read committed); NewTxPublisher has aborted the one a previous instance left open, so
// a new instance reads the settled state. Right after this instance's own commit, the
// coordinator may still be writing the commit's markers, and the previous state may be read:
// a poller reads its state at start, then carries it in memory.
func (p *TxPublisher) LastState(ctx context.Context) (state []byte, ok bool, err error) {
	return LastState(ctx, p.cfg.Brokers, p.cfg.Topics.PollerState, p.cfg.Source, zap.NewNop())
}

// LastState reads the state topic up to its last stable offset and returns the last committed
// state record of source.
func LastState(ctx context.Context, brokers []string, topic, source string, log *zap.Logger) (state []byte, ok bool, err error) {
	cl, err := NewClient(brokers, log,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// The markers tell where the stable part of the log ends, which data records alone
		// cannot: the last committed record is followed by its transaction's marker.
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return nil, false, err
	}
	defer cl.Close()
	// A topic created a moment ago may not list its partition yet in the metadata a broker
	// answers with: that is asked again until ctx ends, not reported as a failure.
	var lo kadm.ListedOffset
	for {
		offsets, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
		if err != nil {
			return nil, false, fmt.Errorf("state of %s: list the stable offset of %s: %w", source, topic, err)
		}
		var found bool
		if lo, found = offsets.Lookup(topic, 0); found {
			break
		}
		select {
		case <-ctx.Done():
			return nil, false, fmt.Errorf("state of %s: topic %s has no partition 0: %w", source, topic, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if lo.Err != nil {
		return nil, false, fmt.Errorf("state of %s: list the stable offset of %s: %w", source, topic, lo.Err)
	}
	stable := lo.Offset
	key := []byte(source)
	for next := int64(0); next < stable; {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, false, fmt.Errorf("state of %s: %w", source, err)
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return nil, false, fmt.Errorf("state of %s: read %s: %w", source, topic, ferr)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			if r.Offset >= stable || r.Attrs.IsControl() || !bytes.Equal(r.Key, key) {
				return
			}
			state, ok = r.Value, r.Value != nil
		})
	}
	return state, ok, nil
}
