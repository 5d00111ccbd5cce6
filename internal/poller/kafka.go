package poller

import (
	"context"
	"errors"
	"fmt"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/metadata"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// TxPublisher is the Publisher over a kafka.TxPublisher: events to the collected-usage topic,
// rejects to the poller rejects topic and the state to the poller state topic, in one Kafka
// transaction.
type TxPublisher struct{ P *kafka.TxPublisher }

var _ MetadataPublisher = TxPublisher{}

// Publish commits the batch; a fenced publisher's error wraps ErrFenced.
func (t TxPublisher) Publish(ctx context.Context, events []*meterlinev1.UsageEvent, rejects []Reject, state []byte) error {
	return t.PublishWithMetadata(ctx, events, rejects, nil, state)
}

// PublishWithMetadata commits the batch with its metadata records, to the poller metadata
// topic; a fenced publisher's error wraps ErrFenced.
func (t TxPublisher) PublishWithMetadata(ctx context.Context, events []*meterlinev1.UsageEvent, rejects []Reject, meta []metadata.Record, state []byte) error {
	krs := make([]kafka.PollerReject, len(rejects))
	for i, r := range rejects {
		krs[i] = kafka.PollerReject{Request: r.Request, Error: r.Reason, Payload: r.Payload}
	}
	err := t.P.PublishWithMetadata(ctx, events, krs, meta, state)
	if errors.Is(err, kafka.ErrFenced) {
		return fmt.Errorf("%w: %w", ErrFenced, err)
	}
	return err
}

// LastState reads the source's last committed state.
func (t TxPublisher) LastState(ctx context.Context) ([]byte, bool, error) { return t.P.LastState(ctx) }
