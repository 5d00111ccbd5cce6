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
//
// An outage is logged twice, whatever its length: a warning at its first failed query and,
// at the first query that succeeds again, how many look-ups it failed. A failure per
// look-up flooded the log (3,042 lines in a 30 s ClickHouse outage).
type lookups struct {
	existing func(context.Context, []usage.EventRef) (map[string]bool, error)
	timeout  time.Duration
	log      *zap.Logger

	mu      sync.Mutex
	pending []lookup
	running bool

	// failed counts the look-ups that failed since the outage began; 0 when the last query
	// succeeded. Only run, which is never concurrent with itself, reads and writes it.
	failed int
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
		l.logOutage(len(refs), err)
		for _, lk := range batch {
			lk.answer <- found[lk.ref.ID]
		}
	}
}

// logOutage logs the start of an outage (the first failed query) and its end (the first
// query that succeeds after failures), and nothing in between.
func (l *lookups) logOutage(n int, err error) {
	switch {
	case err != nil && l.failed == 0:
		l.failed = n
		l.log.Warn("duplicate look-ups are failing; accepting the documents, downstream deduplicates them; logged again when they recover",
			zap.Int("documents", n), zap.Error(err))
	case err != nil:
		l.failed += n
	case l.failed > 0:
		l.log.Info("duplicate look-ups recovered", zap.Int("failed_lookups", l.failed))
		l.failed = 0
	}
}
