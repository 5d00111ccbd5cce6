package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/collector"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/usage"
	"github.com/meterline/meterline/pkg/client"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// lossyKafka stands for a Kafka whose acknowledgement of an event's first publish is lost: the
// event is stored, but the collector is told it failed (so it answers 503). The archive then
// holds the event, as the raw sink would, so the collector's look-up finds it on a retry.
type lossyKafka struct {
	mu       sync.Mutex
	lose     map[string]bool // resource instance ids whose first acknowledgement is lost
	stored   map[string]int  // event id to how many times it was published
	attempts int
}

var (
	_ collector.Publisher = (*lossyKafka)(nil)
	_ collector.Archive   = (*lossyKafka)(nil)
)

func (k *lossyKafka) PublishAt(_ context.Context, ev *meterlinev1.UsageEvent, at time.Time) (time.Time, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.attempts++
	k.stored[ev.GetId()]++
	if inst := ev.GetDocument().GetResourceInstanceId(); k.lose[inst] {
		delete(k.lose, inst)
		return time.Time{}, errors.New("kafka: the acknowledgement was lost")
	}
	return at, nil
}

func (k *lossyKafka) Get(context.Context, string) (usage.StoredEvent, error) {
	return usage.StoredEvent{}, usage.ErrNoEvent
}

func (k *lossyKafka) Existing(_ context.Context, refs []usage.EventRef) (map[string]bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]bool{}
	for _, r := range refs {
		if k.stored[r.ID] > 0 {
			out[r.ID] = true
		}
	}
	return out, nil
}

func (k *lossyKafka) Rejection(context.Context, string, string) (usage.Rejection, error) {
	return usage.Rejection{}, usage.ErrNotRejected
}

// realCollector serves Meterline's collector over k, its clock pinned.
func realCollector(t *testing.T, k *lossyKafka) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	cfg := collector.Config{MaxBodyBytes: 64 << 10, ProduceTimeout: 5 * time.Second,
		Clock: clock.NewManual(time.Date(2015, 1, 3, 1, 0, 0, 0, time.UTC))}
	collector.New(cfg, k, k, nil, zap.NewNop(), prometheus.NewRegistry()).Register(mux)
	srv := httptest.NewServer(auth.AsAdmin(mux))
	t.Cleanup(srv.Close)
	return srv
}

// TestAgainstTheCollector runs the client against Meterline's own collector: a document
// whose acknowledgement is lost is answered 503, retried, found stored and answered 409,
// which the client reports as stored once; in a batch, only the unavailable documents are
// sent again, and each document is published once but for the lost acknowledgement.
func TestAgainstTheCollector(t *testing.T) {
	k := &lossyKafka{lose: map[string]bool{"lost-1": true, "lost-2": true}, stored: map[string]int{}}
	srv := realCollector(t, k)
	sl := &sleeps{}
	c := newClient(t, srv, sl)

	d := doc
	d.ResourceInstanceID = "lost-1"
	r, err := c.Collect(context.Background(), d)
	id, _ := d.ID()
	if err != nil || r.ID != id || !r.Retried || fmt.Sprint(sl.waits) != "[1s]" {
		t.Fatalf("Collect = %+v, %v after waits %v; want %s stored by the first attempt, after the collector's Retry-After of 1s", r, err, sl.waits, id)
	}
	if _, err := c.Collect(context.Background(), d); !client.IsDuplicate(err) {
		t.Errorf("Collect of it again: %v, want a duplicate", err)
	}

	docs := make([]client.Document, 4)
	for i := range docs {
		docs[i] = doc
		docs[i].ResourceInstanceID = fmt.Sprintf("batch-%d", i)
	}
	docs[2].ResourceInstanceID = "lost-2"
	docs = append(docs, docs[2]) // repeated within the batch
	items := make([]json.RawMessage, len(docs))
	for i, d := range docs {
		items[i], _ = json.Marshal(d)
	}
	items = append(items, json.RawMessage(`{"start":1}`))
	resp, err := c.CollectBatchJSON(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Accepted != 4 || resp.Duplicate != 1 || resp.Invalid != 1 || resp.Unavailable != 0 || !resp.Results[2].Retried ||
		resp.Results[4].Status != http.StatusConflict || resp.Results[5].Error.Kind != client.KindInvalid {
		t.Errorf("batch answered %+v", resp)
	}
	for i, d := range docs {
		id, _ := d.ID()
		if resp.Results[i].ID != id {
			t.Errorf("result %d names %s, the client computes %s", i, resp.Results[i].ID, id)
		}
	}
	// lost-1 and lost-2 were published once each by the client's first attempt (and not
	// again: the retries found them), the other batch documents once.
	for id, n := range k.stored {
		if n != 1 {
			t.Errorf("event %s published %d times, want once", id, n)
		}
	}
	if len(k.stored) != 5 || k.attempts != 5 {
		t.Errorf("%d events published in %d attempts, want 5 in 5", len(k.stored), k.attempts)
	}
}
