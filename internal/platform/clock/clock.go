// Package clock is the wall clock as a dependency. Code that reads the time (the collector's
// received time, the processor's processing time, the sinks' write times, the "now" of a
// report) takes a Clock, so that tests pin it: at a month's or a year's last second, on the
// first of a month, at any instant, whatever the date the tests run on.
package clock

import (
	"time"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Wall is the system clock.
var Wall Clock = wall{}

type wall struct{}

func (wall) Now() time.Time { return time.Now() }

// Or returns c, or Wall when c is nil: the default of an optional Clock field.
func Or(c Clock) Clock {
	if c == nil {
		return Wall
	}
	return c
}

// Func adapts a function to a Clock.
type Func func() time.Time

// Now calls f.
func (f Func) Now() time.Time { return f() }

// StartingAt returns a clock that reads start now and then runs at the wall clock's pace:
// a running service (an e2e test's, a demo's) pinned to an instant.
func StartingAt(start time.Time) Clock {
	base := time.Now()
	return Func(func() time.Time { return start.Add(time.Since(base)) })
}
