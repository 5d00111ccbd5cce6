package metering_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/metering"
)

// TestExpiry: an item is due once its whole minute bucket is at or before the time asked
// for, never before its own time; Pop removes exactly what Due showed.
func TestExpiry(t *testing.T) {
	var e metering.Expiry[int64]
	for _, at := range []int64{-1, 0, 59_999, 60_000, 61_000, 3_600_000} {
		e.Add(at, at)
	}
	f := func(t0 int64, want string) {
		t.Helper()
		var got []int64
		e.Due(t0, func(v int64) { got = append(got, v) })
		if fmt.Sprint(got) != want {
			t.Errorf("Due(%d) = %v, want %s", t0, got, want)
		}
		for _, v := range got {
			if v > t0 {
				t.Errorf("Due(%d) gave %d, which is later", t0, v)
			}
		}
	}
	f(-2, "[]")
	f(-1, "[-1]")
	f(59_998, "[-1]")
	f(59_999, "[-1 0 59999]")
	f(119_998, "[-1 0 59999]")
	f(119_999, "[-1 0 59999 60000 61000]")
	var popped []int64
	e.Pop(119_999, func(v int64) { popped = append(popped, v) })
	if fmt.Sprint(popped) != "[-1 0 59999 60000 61000]" || e.Len() != 1 {
		t.Errorf("Pop = %v leaving %d, want 5 popped and 1 left", popped, e.Len())
	}
	f(time.Hour.Milliseconds()*2, "[3600000]")
}

// TestCellsTransactions: changes are seen by later documents of the same transaction, become
// the committed values on Commit and vanish on Abort; expired cells are removed.
func TestCellsTransactions(t *testing.T) { atInstants(t, testCellsTransactions) }

func testCellsTransactions(t *testing.T, now int64) {
	p := &metering.Engine{Plans: builtinCatalog(t), Acceptance: metering.DefaultAcceptance}
	// The day's cells expire below while the month's stay: on a month's last day (whose end
	// is the month's) the documents are a day earlier.
	_, dayEnd := metering.Day.Period(now)
	if _, monthEnd := metering.Month.Period(now); dayEnd == monthEnd {
		now -= 24 * time.Hour.Milliseconds()
	}
	plan := metering.PlanKey("basic", "basic-object-storage", "object-rating-plan", "object-pricing-basic")
	cells := metering.NewCells()
	month := orgCell("heavy_api_calls", metering.Month, now, plan)
	for i := range 2 {
		if _, err := p.Process(objectDoc("i1", now-int64(i)*1000), now, cells); err != nil {
			t.Fatal(err)
		}
	}
	if v := cells.Get(month); !equalDec(v, "200") || cells.Len() != 0 {
		t.Fatalf("in the transaction: %v with %d committed cells, want 200 and none", v, cells.Len())
	}
	changed := len(cells.Changed())
	cells.Commit()
	if v := cells.Get(month); !equalDec(v, "200") || cells.Len() != changed {
		t.Fatalf("committed: %v with %d cells, want 200 and %d", v, cells.Len(), changed)
	}
	if _, err := p.Process(objectDoc("i1", now), now, cells); err != nil {
		t.Fatal(err)
	}
	cells.Abort()
	if v := cells.Get(month); !equalDec(v, "200") {
		t.Fatalf("aborted: %v, want 200", v)
	}
	_, dayEnd = metering.Day.Period(now)
	dayEnd += time.Minute.Milliseconds() - 1 // the end of the minute bucket that holds the day's end
	var expiring int
	cells.Expiring(dayEnd, func(*metering.Cell) { expiring++ })
	cells.Expire(dayEnd)
	n := 0
	cells.Each(func(k metering.CellKey, _ any) {
		n++
		if k.Level != metering.Month {
			t.Errorf("cell %s outlived its period's expiry", k)
		}
	})
	if want := changed - expiring; n != want || cells.Len() != want || !equalDec(cells.Get(month), "200") {
		t.Errorf("after expiry: %d cells (Len %d), want %d, the month ones", n, cells.Len(), want)
	}
	// A tombstone read from the changelog removes a cell wherever it is in its series.
	cells.Load(month, nil)
	cells.Each(func(k metering.CellKey, _ any) {
		if k == month {
			t.Errorf("cell %s outlived its tombstone", k)
		}
	})
	if v := cells.Get(month); v != nil || cells.Len() != changed-expiring-1 {
		t.Errorf("after a tombstone: %v with %d cells, want nil and %d", v, cells.Len(), changed-expiring-1)
	}
}

// TestRateMatchesProcess: metering a transaction's documents and rating its changed cells
// once at the end gives every cell the cost Process gives it document by document.
func TestRateMatchesProcess(t *testing.T) { atInstants(t, testRateMatchesProcess) }

func testRateMatchesProcess(t *testing.T, now int64) {
	p := &metering.Engine{Plans: builtinCatalog(t), Acceptance: metering.DefaultAcceptance}
	eager, deferred := metering.NewCells(), metering.NewCells()
	for i := range 40 {
		doc := objectDoc(fmt.Sprint("i", i%3), now-int64(i%7)*1000)
		if _, err := p.Process(doc, now, eager); err != nil {
			t.Fatal(err)
		}
		if err := p.Meter(doc, now, deferred); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Rate(deferred); err != nil {
		t.Fatal(err)
	}
	want := map[metering.CellKey]any{}
	for _, c := range eager.Changed() {
		want[c.Key()] = c.Cost()
	}
	rated := 0
	for _, c := range deferred.Changed() {
		w := want[c.Key()]
		if fmt.Sprint(c.Cost()) != fmt.Sprint(w) || !equalDec(c.Value(), fmt.Sprint(eager.Get(c.Key()))) {
			t.Errorf("%s: cost %v, Process gives %v", c.Key(), c.Cost(), w)
		}
		if c.Cost() != nil {
			rated++
		}
	}
	if n := len(deferred.Changed()); n != len(eager.Changed()) || rated == 0 {
		t.Errorf("%d cells changed (%d rated), Process changes %d", n, rated, len(eager.Changed()))
	}
}
