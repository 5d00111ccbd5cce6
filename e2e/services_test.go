package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
)

// TestServicesSurviveSinkKill runs each service as its own process (migrate, collector, sink)
// against the real broker, kills the sink with SIGKILL while documents stream in, starts it
// again, and checks that usage_events then holds every accepted document exactly once, with
// no duplicate visible even without FINAL.
func TestServicesSurviveSinkKill(t *testing.T) {
	s := newStack(t)
	s.start([]string{"migrate"})
	coll := s.start([]string{"collector"})
	sink := s.start([]string{"sink"}, "METERLINE_SINK_BATCH_SIZE=50")

	const docs = 600
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	postRange := func(from, to int) {
		defer wg.Done()
		for i := from; i < to; i++ {
			body := fmt.Sprintf(`{"start":%d,"end":%d,"organization_id":"org-%d","space_id":"s","consumer_id":"app:%d",
"resource_id":"object-storage","plan_id":"basic","resource_instance_id":"ri-%d","measured_usage":[{"measure":"storage","quantity":%d.5}]}`,
				1700000000000+int64(i)*1000, 1700000000000+int64(i)*1000+500, i%5, i%9, i, i)
			r := post(t, coll, body)
			if r.status != http.StatusCreated {
				t.Errorf("POST %d: %d %s", i, r.status, r.body)
				return
			}
			mu.Lock()
			accepted++
			mu.Unlock()
		}
	}
	wg.Add(4)
	for w := 0; w < 4; w++ {
		go postRange(w*docs/4, (w+1)*docs/4)
	}
	s.waitCount(50, "")
	if err := sink.stop(t, syscall.SIGKILL); err == nil {
		t.Fatal("the sink exited cleanly on SIGKILL?")
	}
	wg.Wait()
	if accepted != docs {
		t.Fatalf("%d of %d documents accepted", accepted, docs)
	}
	s.start([]string{"sink"}, "METERLINE_SINK_BATCH_SIZE=50")
	s.waitCount(docs, "")
	// Let any wrongly replayed batch land before the final count.
	if err := coll.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("collector after SIGTERM: %v", err)
	}
	if n := s.count(""); n != docs {
		t.Errorf("usage_events has %d rows, want %d (one per document)", n, docs)
	}
	var distinct uint64
	if err := s.ch.QueryRow(t.Context(), "SELECT uniqExact(id) FROM "+s.database+".usage_events").Scan(&distinct); err != nil {
		t.Fatal(err)
	}
	if distinct != docs {
		t.Errorf("usage_events has %d distinct ids, want %d", distinct, docs)
	}
}
