package poller

import (
	"context"
	"errors"

	"github.com/meterline/meterline/internal/metadata"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// MetadataPublisher is a Publisher that also commits a batch's metadata records in the same
// transaction (TxPublisher is one).
type MetadataPublisher interface {
	Publisher
	PublishWithMetadata(ctx context.Context, events []*meterlinev1.UsageEvent, rejects []Reject, meta []metadata.Record, state []byte) error
}

// errNoMetadata fails a batch with metadata given to a Publisher that cannot commit it: the
// records are never dropped silently.
var errNoMetadata = errors.New("poller: the batch has metadata records and the publisher cannot commit them")

// publish commits a batch through pub, its metadata included.
func publish(ctx context.Context, pub Publisher, events []*meterlinev1.UsageEvent, rejects []Reject, meta []metadata.Record, state []byte) error {
	if len(meta) == 0 {
		return pub.Publish(ctx, events, rejects, state)
	}
	mp, ok := pub.(MetadataPublisher)
	if !ok {
		return errNoMetadata
	}
	return mp.PublishWithMetadata(ctx, events, rejects, meta, state)
}
