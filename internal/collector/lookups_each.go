package collector

import (
	"context"

	"github.com/meterline/meterline/internal/usage"
)

// storedBeforeEach is storedBefore of each ref, the look-ups queued together so that they go
// in the same query. A look-up whose answer ctx's end forestalls answers false.
func (l *lookups) storedBeforeEach(ctx context.Context, refs []usage.EventRef) []bool {
	lks := make([]lookup, len(refs))
	for i, ref := range refs {
		lks[i] = lookup{ref: ref, answer: make(chan bool, 1)}
	}
	l.mu.Lock()
	l.pending = append(l.pending, lks...)
	if !l.running {
		l.running = true
		go l.run()
	}
	l.mu.Unlock()
	found := make([]bool, len(refs))
	for i, lk := range lks {
		select {
		case found[i] = <-lk.answer:
		case <-ctx.Done():
			return found
		}
	}
	return found
}
