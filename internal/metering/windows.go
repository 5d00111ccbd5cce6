package metering

import (
	"fmt"
	"time"
)

// Level is a window level.
type Level uint8

// The window levels, in the order of Abacus' windows arrays.
const (
	Second Level = iota
	Minute
	Hour
	Day
	Month
	Levels = 5
)

var levelNames = [Levels]string{"second", "minute", "hour", "day", "month"}

func (l Level) String() string {
	if l < Levels {
		return levelNames[l]
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

// Period returns the calendar period [from, to) of level l that holds t (epoch ms, UTC).
func (l Level) Period(t int64) (from, to int64) {
	switch l {
	case Second, Minute, Hour, Day:
		size := [...]int64{1000, 60_000, 3_600_000, 86_400_000}[l]
		from = t - mod(t, size)
		return from, from + size
	default:
		tm := time.UnixMilli(t).UTC()
		start := time.Date(tm.Year(), tm.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start.UnixMilli(), start.AddDate(0, 1, 0).UnixMilli()
	}
}

// Shift returns the period n periods before (n > 0) the period [from, to) of level l.
func (l Level) Shift(from int64, n int) (int64, int64) {
	if l == Month {
		tm := time.UnixMilli(from).UTC().AddDate(0, -n, 0)
		return l.Period(tm.UnixMilli())
	}
	f, t := l.Period(from)
	size := t - f
	return f - int64(n)*size, t - int64(n)*size
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// Slots is the number of report slots per level.
type Slots [Levels]int

// DefaultSlots shows the current second, minute and hour, and the current and previous day
// and month.
var DefaultSlots = Slots{1, 1, 1, 2, 2}

// Validate checks each level has 1 to 100 slots.
func (s Slots) Validate() error {
	for l, n := range s {
		if n < 1 || n > 100 {
			return fmt.Errorf("%s slots: %d is not between 1 and 100", Level(l), n)
		}
	}
	return nil
}

// Slot returns which slot of a report for time t shows the level-l period that starts at
// from: 0 for the period holding t, 1 for the one before, ...; ok is false when the period is
// after t's or before the last slot.
func (s Slots) Slot(l Level, t, from int64) (slot int, ok bool) {
	cur, _ := l.Period(t)
	for i := 0; i < s[l]; i++ {
		f, _ := l.Shift(cur, i)
		if f == from {
			return i, true
		}
		if f < from {
			return 0, false
		}
	}
	return 0, false
}
