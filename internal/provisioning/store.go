package provisioning

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/kafka"
)

// Store is the provisioning state kept in the compacted provisioning topic: a catalog.Catalog built
// from the topic and kept up to date by following it.
type Store struct {
	*catalog.Catalog
	cl    *kgo.Client
	topic string
	log   *zap.Logger

	// ProduceTimeout bounds a Put (0: only its context does), so that while Kafka is down a
	// write through the API is answered 503 rather than left waiting for the broker.
	ProduceTimeout time.Duration

	mu      sync.Mutex
	changed *sync.Cond
	next    int64 // offset of the next record to apply (the topic has one partition)
	done    bool
}

// OpenStore reads the provisioning topic to its end, then keeps following it until Close.
func OpenStore(ctx context.Context, brokers []string, topic string, log *zap.Logger) (*Store, error) {
	cl, err := kafka.NewClient(brokers, log,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return nil, err
	}
	s := &Store{Catalog: catalog.NewCatalog(), cl: cl, topic: topic, log: log}
	s.changed = sync.NewCond(&s.mu)
	ends, err := kafka.EndOffsets(ctx, kadm.NewClient(cl), topic)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("provisioning topic %s: %w", topic, err)
	}
	var end int64
	ends.Each(func(o kadm.ListedOffset) { end = max(end, o.Offset) })
	go s.follow()
	if err := s.waitFor(ctx, end); err != nil {
		s.Close()
		return nil, fmt.Errorf("reading provisioning topic %s: %w", topic, err)
	}
	log.Info("provisioning state loaded", zap.String("topic", topic), zap.Int64("records", end))
	return s, nil
}

func (s *Store) follow() {
	defer func() {
		s.mu.Lock()
		s.done = true
		s.changed.Broadcast()
		s.mu.Unlock()
	}()
	for {
		fetches := s.cl.PollFetches(context.Background())
		if fetches.IsClientClosed() {
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			s.log.Warn("provisioning fetch", zap.String("topic", t), zap.Error(err))
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Value != nil { // a tombstone deletes nothing: provisioning history is kept
				switch err := s.Apply(catalog.Record{Key: string(r.Key), Value: r.Value}); {
				case errors.Is(err, catalog.ErrLaterVersion): // a writer lost a race and was answered 409
					s.log.Warn("ignoring a later version of a plan or mapping", zap.Int64("offset", r.Offset), zap.Error(err))
				case err != nil:
					s.log.Error("skipping a provisioning record", zap.Int64("offset", r.Offset), zap.Error(err))
				}
			}
			s.mu.Lock()
			s.next = r.Offset + 1
			s.changed.Broadcast()
			s.mu.Unlock()
		})
	}
}

// waitFor returns once every record before offset end has been applied.
func (s *Store) waitFor(ctx context.Context, end int64) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.changed.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.next < end {
		if s.done {
			return errors.New("the provisioning reader stopped")
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		s.changed.Wait()
	}
	return nil
}

// Put writes a record and returns once this process has applied it. On error (Kafka down,
// ProduceTimeout passed) the record may or may not be in the topic; a retry of the same write
// is harmless, since a record's key carries what it is (a plan's digest, a mapping's slot).
func (s *Store) Put(ctx context.Context, r catalog.Record) error {
	if s.ProduceTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.ProduceTimeout)
		defer cancel()
	}
	rec := &kgo.Record{Topic: s.topic, Key: []byte(r.Key), Value: r.Value,
		Headers: []kgo.RecordHeader{{Key: kafka.HeaderContentType, Value: []byte("application/json")}}}
	if err := kafka.Produce(ctx, s.cl, rec); err != nil {
		return err
	}
	return s.waitFor(ctx, rec.Offset+1)
}

// Client is the store's Kafka client (for readiness checks).
func (s *Store) Client() *kgo.Client { return s.cl }

// Close stops following the topic.
func (s *Store) Close() { s.cl.Close() }
