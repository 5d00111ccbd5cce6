package kafka

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// store is a writer for writeParts: it refuses (ErrUnwritable) any write holding a bad item,
// fails down (an error that is not ErrUnwritable) while down > 0, and keeps what it wrote.
type store struct {
	bad     map[int]bool
	down    int
	all     bool // refuse every write, as a table that takes no row
	written []int
	writes  int
}

var errDown = errors.New("connection refused")

func (s *store) write(items []int) error {
	s.writes++
	if s.down > 0 {
		s.down--
		return errDown
	}
	for _, it := range items {
		if s.all || s.bad[it] {
			return Unwritable(fmt.Errorf("item %d does not fit", it))
		}
	}
	s.written = append(s.written, items...)
	return nil
}

func items(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestWritePartsSetsAsideOnlyWhatIsRefused: a batch with refused items is written in halves;
// every other item is written once, the refused ones are returned, in few writes.
func TestWritePartsSetsAsideOnlyWhatIsRefused(t *testing.T) {
	s := &store{bad: map[int]bool{3: true, 7: true, 999: true}}
	retries := 0
	refused, err := writeParts(items(1000), s.write, func(int, int, error) error { retries++; return nil })
	if err != nil || retries != 0 {
		t.Fatalf("err %v after %d retries", err, retries)
	}
	var at []int
	for _, r := range refused {
		at = append(at, r.index)
		if !errors.Is(r.err, ErrUnwritable) {
			t.Errorf("item %d refused with %v", r.index, r.err)
		}
	}
	if fmt.Sprint(at) != "[3 7 999]" {
		t.Errorf("refused %v, want [3 7 999]", at)
	}
	want := slices.DeleteFunc(items(1000), func(i int) bool { return s.bad[i] })
	if !slices.Equal(s.written, want) {
		t.Errorf("wrote %d items, want the %d others once each, in order", len(s.written), len(want))
	}
	if s.writes > 70 {
		t.Errorf("%d writes for 3 refused items of 1000", s.writes)
	}
}

// TestWritePartsRetriesAStorageFailure: a failure that is not ErrUnwritable is retried, the
// whole batch or a part of it, and never sets an item aside; giving up returns the error.
func TestWritePartsRetriesAStorageFailure(t *testing.T) {
	s := &store{down: 3}
	var tries []string
	refused, err := writeParts(items(10), s.write, func(n, attempt int, err error) error {
		tries = append(tries, fmt.Sprintf("%d/%d", n, attempt))
		return nil
	})
	if err != nil || len(refused) != 0 || len(s.written) != 10 || fmt.Sprint(tries) != "[10/0 10/1 10/2]" {
		t.Errorf("refused %v, written %v, tries %v, err %v; want all written after 3 retries of the whole", refused, s.written, tries, err)
	}

	// Down while the parts are being written: the part is retried, nothing more is refused.
	s = &store{bad: map[int]bool{5: true}}
	calls := 0
	write := func(items []int) error {
		if calls++; calls == 3 {
			s.down = 4
		}
		return s.write(items)
	}
	refused, err = writeParts(items(10), write, func(int, int, error) error { return nil })
	if err != nil || len(refused) != 1 || refused[0].index != 5 || len(s.written) != 9 {
		t.Errorf("down midway: refused %v, written %v, err %v; want only item 5 refused", refused, s.written, err)
	}

	s = &store{down: 100}
	stop := errors.New("stopped")
	if _, err := writeParts(items(10), s.write, func(_, attempt int, _ error) error {
		if attempt == 2 {
			return stop
		}
		return nil
	}); !errors.Is(err, stop) || len(s.written) != 0 {
		t.Errorf("giving up: %v, want the retry's error and nothing written", err)
	}
}

// TestWritePartsRefusingEverythingIsNoRecordsFault: a write that refuses every item of a batch
// of several refuses none of them: the whole batch is retried until it is written.
func TestWritePartsRefusingEverythingIsNoRecordsFault(t *testing.T) {
	s := &store{all: true}
	retries := 0
	refused, err := writeParts(items(8), s.write, func(n, _ int, err error) error {
		if n != 8 || !errors.Is(err, ErrUnwritable) {
			t.Errorf("retry of %d items after %v, want the whole batch", n, err)
		}
		if retries++; retries == 3 {
			s.all = false // the operator mended the table
		}
		return nil
	})
	if err != nil || len(refused) != 0 || len(s.written) != 8 {
		t.Errorf("refused %v, written %v, err %v; want none refused and all written", refused, s.written, err)
	}

	// A batch of one refused is that record's fault.
	s = &store{all: true}
	if refused, err := writeParts(items(1), s.write, func(int, int, error) error { return errors.New("retried") }); err != nil || len(refused) != 1 {
		t.Errorf("one refused item: %v, %v", refused, err)
	}
	s = &store{}
	if refused, err := writeParts(nil, s.write, nil); err != nil || len(refused) != 0 || s.writes != 0 {
		t.Errorf("an empty batch: %v, %v after %d writes, want no write", refused, err, s.writes)
	}
}
