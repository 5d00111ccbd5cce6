package collector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/meterline/meterline/internal/usage"
)

// A ClickHouse outage once logged one warning per duplicate look-up (3,042 lines in 30 s).
// An outage is logged when it starts and when it ends, with the number of look-ups it
// failed, however many look-ups fail in between.
func TestLookupsLogAnOutageOnce(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	down := true
	queries := 0
	l := &lookups{timeout: time.Second, log: zap.New(core),
		existing: func(context.Context, []usage.EventRef) (map[string]bool, error) {
			queries++
			if down {
				return nil, errors.New("dial tcp 127.0.0.1:9000: connection refused")
			}
			return map[string]bool{}, nil
		}}
	ctx := context.Background()
	for i := range 500 {
		if l.storedBefore(ctx, usage.EventRef{Org: "org", ID: "id"}) {
			t.Fatalf("look-up %d: a failed look-up answered stored", i)
		}
	}
	if queries != 500 {
		t.Fatalf("%d queries for 500 sequential look-ups, want 500", queries)
	}
	if n := logs.Len(); n != 1 {
		t.Fatalf("%d log lines for 500 failed look-ups, want 1", n)
	}
	first := logs.All()[0]
	if first.Level != zapcore.WarnLevel {
		t.Errorf("outage logged at %v, want warn", first.Level)
	}
	down = false
	for range 10 {
		l.storedBefore(ctx, usage.EventRef{Org: "org", ID: "id"})
	}
	if n := logs.Len(); n != 2 {
		t.Fatalf("%d log lines after the recovery, want 2 (the outage, the recovery): %v", n, logs.All())
	}
	rec := logs.All()[1]
	if rec.Level != zapcore.InfoLevel || rec.ContextMap()["failed_lookups"] != int64(500) {
		t.Errorf("recovery logged as %v %q %v, want info with failed_lookups=500", rec.Level, rec.Message, rec.ContextMap())
	}
	// A second outage is logged again.
	down = true
	l.storedBefore(ctx, usage.EventRef{Org: "org", ID: "id"})
	if n := logs.Len(); n != 3 {
		t.Fatalf("%d log lines after a second outage, want 3: %v", n, logs.All())
	}
}

// TestLookupsCoalesce: look-ups that arrive while a query runs are asked together in the
// next one, and each gets its own answer.
func TestLookupsCoalesce(t *testing.T) {
	const n = 20
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	var queries [][]usage.EventRef
	l := &lookups{timeout: time.Minute, log: zap.NewNop(),
		existing: func(_ context.Context, refs []usage.EventRef) (map[string]bool, error) {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-gate
			queries = append(queries, refs) // run is never concurrent with itself
			found := map[string]bool{}
			for _, r := range refs {
				found[r.ID] = r.ID[len(r.ID)-1]%2 == 1
			}
			return found, nil
		}}
	answers := make([]bool, n)
	var wg sync.WaitGroup
	ask := func(i int) {
		wg.Go(func() {
			answers[i] = l.storedBefore(context.Background(), usage.EventRef{Org: "org", ID: fmt.Sprint("id", i)})
		})
	}
	ask(0)
	<-entered
	for i := 1; i < n; i++ {
		ask(i)
	}
	// Every other look-up waits behind the first query.
	for tries := 0; ; tries++ { // up to a minute
		l.mu.Lock()
		waiting := len(l.pending)
		l.mu.Unlock()
		if waiting == n-1 {
			break
		}
		time.Sleep(time.Millisecond)
		if tries == 60000 {
			t.Fatalf("%d look-ups wait behind the first query, want %d", waiting, n-1)
		}
	}
	close(gate)
	wg.Wait()
	if len(queries) != 2 || len(queries[0]) != 1 || len(queries[1]) != n-1 {
		t.Fatalf("queries of %v look-ups, want [1 %d]", lens(queries), n-1)
	}
	for i, got := range answers {
		if want := i%2 == 1; got != want {
			t.Errorf("look-up %d answered %v, want %v", i, got, want)
		}
	}
}

func lens(qs [][]usage.EventRef) []int {
	out := make([]int, len(qs))
	for i, q := range qs {
		out[i] = len(q)
	}
	return out
}
