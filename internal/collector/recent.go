package collector

import (
	"sync"

	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// recent holds the last accepted events by id, forgetting the oldest first once full. It lets
// a GET right after a POST find the document before the sink has written it (read your
// writes on this collector), and answers most resubmissions without a query.
type recent struct {
	mu   sync.Mutex
	byID map[string]*meterlinev1.UsageEvent
	ring []string
	next int
}

func newRecent(capacity int) *recent {
	return &recent{byID: make(map[string]*meterlinev1.UsageEvent, capacity), ring: make([]string, capacity)}
}

func (r *recent) get(id string) *meterlinev1.UsageEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

func (r *recent) put(id string, ev *meterlinev1.UsageEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byID[id]; ok {
		return
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.byID, old)
	}
	r.ring[r.next] = id
	r.byID[id] = ev
	r.next = (r.next + 1) % len(r.ring)
}
