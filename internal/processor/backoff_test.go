package processor

import (
	"testing"
	"time"
)

func TestBackoffStartsOverAfterACommit(t *testing.T) {
	attempt := 0
	var waits []time.Duration
	for range 8 { // one long outage: no commit between the failures
		var w time.Duration
		w, attempt = nextBackoff(attempt, false)
		waits = append(waits, w)
	}
	if waits[0] > 750*time.Millisecond || waits[7] < 30*time.Second {
		t.Fatalf("one outage's waits %v: want from 0.5s(+50%%) up to 30s(+50%%)", waits)
	}
	w, next := nextBackoff(attempt, true) // a transaction committed since: a new outage
	if w > 750*time.Millisecond || next != 1 {
		t.Fatalf("the first wait of a new outage is %v (next attempt %d), want at most 0.75s (1)", w, next)
	}
}
