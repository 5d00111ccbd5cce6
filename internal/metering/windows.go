// Package metering holds the time logic of the metering pipeline: the five window levels,
// the calendar period (UTC) of a cell, the report slots that show those periods, and the
// acceptance of late and future usage. It does no I/O.
//
// Every metric keeps cells at the levels second, minute, hour, day and month; a usage
// document lands, at each level, in the cell of the calendar period that holds its end time.
// A report for time t shows, per level, slot 0 = the period holding t, slot 1 = the one
// before, and so on.
package metering

import (
	"errors"
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

// Errors of Accept: the reasons usage is rejected for its time.
var (
	ErrTooLate = errors.New("usage is older than the slack allows")
	ErrFuture  = errors.New("usage ends in the future")
)

// Acceptance decides whether usage is processed given its end time and the processing time.
type Acceptance struct {
	// Slack is how late usage may arrive: usage whose end is more than Slack before the time
	// it is processed is rejected, so that the cells it would change are settled.
	Slack time.Duration
	// Future is how far ahead of the processing time usage may end (clock skew).
	Future time.Duration
}

// DefaultAcceptance takes usage up to two days late, as Abacus' default slack did, and up to
// a minute in the future.
var DefaultAcceptance = Acceptance{Slack: 48 * time.Hour, Future: time.Minute}

// Accept returns nil when usage ending at end (epoch ms) is processed at now, else an error
// wrapping ErrTooLate or ErrFuture with the times.
func (a Acceptance) Accept(end, now int64) error {
	switch {
	case end < now-a.Slack.Milliseconds():
		return fmt.Errorf("%w: it ended at %s, %s before it was processed (slack %s)", ErrTooLate,
			time.UnixMilli(end).UTC().Format(time.RFC3339Nano), time.Duration(now-end)*time.Millisecond, a.Slack)
	case end > now+a.Future.Milliseconds():
		return fmt.Errorf("%w: it ends at %s, after the processing time %s", ErrFuture,
			time.UnixMilli(end).UTC().Format(time.RFC3339Nano), time.UnixMilli(now).UTC().Format(time.RFC3339Nano))
	}
	return nil
}
