package collector_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/collector"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// entryPublisher signals each publish it is asked for, then holds it until gate closes.
type entryPublisher struct {
	*fakePublisher
	entries chan struct{}
	gate    chan struct{}
}

func (p *entryPublisher) PublishAt(ctx context.Context, ev *meterlinev1.UsageEvent, at time.Time) (time.Time, error) {
	p.entries <- struct{}{}
	<-p.gate
	return p.fakePublisher.PublishAt(ctx, ev, at)
}

// TestBatchesSharingIDsWithOtherRequests stores documents that a single POST and another batch
// are storing at the same time: a batch claims the ids nobody is storing, waits for the others
// beside them without holding up its own, and every document is published once, answered 201
// to the request that stored it and 409 to the others.
func TestBatchesSharingIDsWithOtherRequests(t *testing.T) {
	pub := &entryPublisher{fakePublisher: &fakePublisher{}, entries: make(chan struct{}, 16), gate: make(chan struct{})}
	s := newServer(t, collector.Config{}, pub, &fakeArchive{})
	single, batchA, batchB := make(chan response, 1), make(chan response, 1), make(chan response, 1)
	go func() { single <- s.post(t, docN(1)) }()
	<-pub.entries // the single POST is publishing document 1
	go func() { batchA <- s.postBatch(t, "application/json", docN(2), docN(1)) }()
	<-pub.entries // batch A is publishing document 2 and waiting for the single POST's 1
	go func() { batchB <- s.postBatch(t, "application/json", docN(2), docN(3)) }()
	<-pub.entries // batch B is publishing document 3 and waiting for batch A's 2
	close(pub.gate)

	checkStatus(t, <-single, http.StatusCreated)
	a, b := <-batchA, <-batchB
	checkStatus(t, a, http.StatusOK)
	checkStatus(t, b, http.StatusOK)
	checkResults(t, batchOf(t, a), 201, 409)
	checkResults(t, batchOf(t, b), 409, 201)
	pub.mu.Lock()
	defer pub.mu.Unlock()
	seen := map[string]bool{}
	for _, ev := range pub.events {
		if seen[ev.GetId()] {
			t.Errorf("document %s published twice", ev.GetId())
		}
		seen[ev.GetId()] = true
	}
	if len(seen) != 3 {
		t.Errorf("%d documents published, want 3", len(seen))
	}
}
