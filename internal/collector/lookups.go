package collector

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/usage"
)

// lookups coalesces the duplicate look-ups of concurrent POSTs into one ClickHouse query:
// a look-up that arrives while a query runs waits for the next one, which asks for every id
// that arrived meanwhile. An idle collector queries at once, so a lone POST waits no longer
// than before; a busy one sends one query per round trip instead of one per document (a
// point query per POST was what bounded a collector's throughput).
//
// A failed or timed-out query answers "not stored" for each of its ids, as a single look-up
// did: the document is then published, and the sink and the processor drop it by id.
type lookups struct {
	existing func(context.Context, []usage.EventRef) (map[string]bool, error)
	timeout  time.Duration
	log      *zap.Logger

	mu      sync.Mutex
	pending []lookup
	running bool
}

type lookup struct {
	ref    usage.EventRef
	answer chan bool // buffered: the query never waits for a reader that gave up
}

// storedBefore reports whether the id of ref is in the archive. When ctx ends first it
// answers false.
func (l *lookups) storedBefore(ctx context.Context, ref usage.EventRef) bool {
	lk := lookup{ref: ref, answer: make(chan bool, 1)}
	l.mu.Lock()
	l.pending = append(l.pending, lk)
	if !l.running {
		l.running = true
		go l.run()
	}
	l.mu.Unlock()
	select {
	case found := <-lk.answer:
		return found
	case <-ctx.Done():
		return false
	}
}

// run queries for the pending look-ups until none is left.
func (l *lookups) run() {
	for {
		l.mu.Lock()
		batch := l.pending
		l.pending = nil
		if len(batch) == 0 {
			l.running = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		refs := make([]usage.EventRef, len(batch))
		for i, lk := range batch {
			refs[i] = lk.ref
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		found, err := l.existing(ctx, refs)
		cancel()
		if err != nil {
			l.log.Warn("duplicate look-up failed; accepting the documents, downstream deduplicates them",
				zap.Int("documents", len(refs)), zap.Error(err))
		}
		for _, lk := range batch {
			lk.answer <- found[lk.ref.ID]
		}
	}
}
