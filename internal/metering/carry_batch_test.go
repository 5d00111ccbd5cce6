package metering_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/usage"
)

// TestCarryInBatches: a partition with many running instances carries them into a new month
// over several transactions of at most a batch of cells each; a crash between batches (the
// open batch aborted, the state rebuilt from the committed cells and the committed progress,
// as a restore from the changelog does) resumes the pass where the last committed batch left
// it; a document for an instance the pass has yet to visit carries that instance first. The
// cells end exactly as one unbatched carry leaves them.
func TestCarryInBatches(t *testing.T) {
	const instances, batch = 60, 25
	start := time.Date(2026, 1, 31, 22, 30, 0, 0, time.UTC)
	tick := time.Date(2026, 2, 1, 0, 0, 30, 0, time.UTC)
	stop := tick.Add(10 * time.Minute) // the last instance stops then, in the middle of the pass
	doc := func(i int, gb, prev int64, at time.Time) *usage.Document {
		d := memoryDoc("org", at, gb, prev)
		d.ResourceInstanceID = fmt.Sprintf("app-%02d", i)
		return d
	}

	// The reference: no batch.
	ref := newCarrier(t)
	for i := range instances {
		ref.at(start, doc(i, 2, 0, start))
	}
	ref.at(tick, nil)
	ref.at(stop, doc(instances-1, 0, 2, stop))
	ref.at(stop.Add(time.Minute), nil)

	// Batched, with a crash after the second batch.
	cr := newCarrier(t)
	cr.engine.CarryBatch = batch
	for i := range instances {
		cr.at(start, doc(i, 2, 0, start))
	}
	var sizes []int
	commit := func() {
		t.Helper()
		if err := cr.engine.Rate(cr.cells); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(cr.cells.Changed()))
		cr.cells.Commit()
	}
	through := func(at time.Time) int64 { return at.Add(time.Minute).UnixMilli() }
	if err := cr.engine.Carry(cr.cells, through(tick), false); err != nil {
		t.Fatal(err)
	}
	commit()
	if !cr.cells.CarryPending() {
		t.Fatalf("the pass ended in one transaction of %d cells, want batches of %d", sizes[0], batch)
	}
	// The stop of an instance the pass has not visited yet.
	cr.at(stop, doc(instances-1, 0, 2, stop))
	if err := cr.engine.ContinueCarry(cr.cells, false); err != nil {
		t.Fatal(err)
	}
	commit()
	// A crash: the next batch is carried, never committed.
	committed := cr.cells.CarryProgress()
	if err := cr.engine.ContinueCarry(cr.cells, false); err != nil {
		t.Fatal(err)
	}
	cr.cells.Abort()
	restored := metering.NewCells()
	cr.cells.Each(restored.Load)
	restored.LoadCarryProgress(committed)
	cr.cells = restored
	cr.engine = &metering.Engine{Plans: cr.cat, Acceptance: cr.engine.Acceptance, CarryBatch: batch}
	for n := 0; cr.cells.CarryPending(); n++ {
		if n > instances {
			t.Fatal("the pass does not end")
		}
		if err := cr.engine.ContinueCarry(cr.cells, false); err != nil {
			t.Fatal(err)
		}
		commit()
	}
	cr.at(stop.Add(time.Minute), nil)

	if len(sizes) < 4 {
		t.Errorf("the pass took %d transactions, want more than 3 batches", len(sizes))
	}
	// A batch stops after a whole instance once it holds batch cells: an instance's carry
	// changes its hour, day and month cells and their aggregates.
	for i, n := range sizes {
		if n > batch+7*3*2 {
			t.Errorf("transaction %d changed %d cells, want at most a batch of %d and an instance's", i, n, batch)
		}
	}
	want := map[string]any{}
	ref.cells.Each(func(k metering.CellKey, v any) { want[k.String()] = v })
	got := 0
	cr.cells.Each(func(k metering.CellKey, v any) {
		got++
		if w, ok := want[k.String()]; !ok || !plans.Equal(w, v) {
			t.Errorf("%s = %v, want %v", k, v, w)
		}
	})
	if got != len(want) {
		t.Errorf("%d cells, want %d", got, len(want))
	}
	// Carried: February's month holds the running instances and the stopped one's ten minutes.
	feb := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	gotFeb, wantFeb := cr.summary("org", metering.ScopeOrganization, metering.Month, feb, report(stop)),
		ref.summary("org", metering.ScopeOrganization, metering.Month, feb, report(stop))
	if gotFeb != wantFeb || gotFeb == "none" || gotFeb == "0" {
		t.Errorf("the organization's February = %s GB-hours, want %s", gotFeb, wantFeb)
	}
}

// report is the time of a report an hour after at.
func report(at time.Time) time.Time { return at.Add(time.Hour) }
