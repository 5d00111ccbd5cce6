package poller

import (
	"context"
	"errors"
	"testing"

	"github.com/meterline/meterline/internal/metadata"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// metaPublisher is a memPublisher that also commits metadata.
type metaPublisher struct {
	memPublisher
	meta []metadata.Record
}

func (p *metaPublisher) PublishWithMetadata(ctx context.Context, evs []*meterlinev1.UsageEvent, rjs []Reject, meta []metadata.Record, state []byte) error {
	if err := p.memPublisher.Publish(ctx, evs, rjs, state); err != nil {
		return err
	}
	p.meta = append(p.meta, meta...)
	return nil
}

// TestPublishMetadata: a batch's metadata goes to a MetadataPublisher with its state; a
// Publisher that cannot take it fails the publish, committing nothing, and a batch without
// metadata goes to any Publisher.
func TestPublishMetadata(t *testing.T) {
	meta := []metadata.Record{{Provider: "p", Kind: "k", ID: "1"}}
	mp := &metaPublisher{}
	if err := publish(context.Background(), mp, nil, nil, meta, []byte("s1")); err != nil || len(mp.meta) != 1 || string(mp.state) != "s1" {
		t.Errorf("metadata publisher: %v, %d records, state %q", err, len(mp.meta), mp.state)
	}
	plain := &memPublisher{}
	if err := publish(context.Background(), plain, nil, nil, meta, []byte("s1")); !errors.Is(err, errNoMetadata) || plain.has {
		t.Errorf("plain publisher with metadata: %v, state committed %v", err, plain.has)
	}
	if err := publish(context.Background(), plain, nil, nil, nil, []byte("s1")); err != nil || string(plain.state) != "s1" {
		t.Errorf("plain publisher without metadata: %v, state %q", err, plain.state)
	}
}
