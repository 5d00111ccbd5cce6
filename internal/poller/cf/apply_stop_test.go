package cf

import (
	"slices"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/poller"
)

// TestApplyUntrackedStops: a stop of a process, task or staging the state does not know runs
// counts nothing and is an untracked_stop notice naming the event; a tracked one is counted.
func TestApplyUntrackedStops(t *testing.T) {
	p := New(Config{Foundation: "f"})
	at := time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
	st := &state{Running: map[string]footprint{"p:known": {Resource: ResourceApp, MemoryMB: 256, Count: 1}}}
	docs, notices := p.apply(st, []event{
		{guid: "e1", at: at, state: "STOPPED", app: "a", process: "gone"},
		{guid: "e2", at: at, state: "TASK_STOPPED", app: "a", task: "t1"},
		{guid: "e3", at: at, state: "STAGING_STOPPED", app: "a"},
	}, false)
	if len(docs) != 0 {
		t.Fatalf("untracked stops made documents: %+v", docs)
	}
	want := []poller.Notice{
		{Kind: "untracked_stop", Detail: "STOPPED e1 of process gone that the state does not know runs"},
		{Kind: "untracked_stop", Detail: "TASK_STOPPED e2 of task t1 that the state does not know runs"},
		{Kind: "untracked_stop", Detail: "STAGING_STOPPED e3 of app a without a staging start"},
	}
	if !slices.Equal(notices, want) {
		t.Fatalf("notices %+v, want %+v", notices, want)
	}
	docs, notices = p.apply(st, []event{{guid: "e4", at: at, state: "STOPPED", app: "a", process: "known"}}, false)
	if len(notices) != 0 || len(docs) != 1 {
		t.Fatalf("tracked stop: docs %+v notices %+v, want one document and no notice", docs, notices)
	}
	if _, ok := st.Running["p:known"]; ok {
		t.Fatal("a tracked stop left the process running")
	}
}
