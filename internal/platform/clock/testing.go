// Test support: a clock that moves only when told, and the instants time-sensitive tests
// run at. `make lint`'s dead-code check passes over this file, since only tests reach it.

package clock

import (
	"sync"
	"time"
)

// Manual is a clock that moves only when told: tests set and advance it. Its zero value
// reads the zero time; it is safe for concurrent use.
type Manual struct {
	mu  sync.Mutex
	now time.Time
}

// NewManual returns a manual clock reading t.
func NewManual(t time.Time) *Manual { return &Manual{now: t} }

// Now returns the clock's time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Set sets the clock to t.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = t
}

// Advance moves the clock by d and returns the new time.
func (m *Manual) Advance(d time.Duration) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
	return m.now
}

// Instants are the moments that time-sensitive tests run at: a fixed instant inside a
// month, 00:00:30 on the first of a month, 23:59:50 on the last day of a month, and
// 23:59:59.5 on 31 December. All lie in the past, so that records stamped with them are
// neither in the broker's future nor beyond a long retention.
var Instants = []time.Time{
	time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC),
	time.Date(2026, 3, 1, 0, 0, 30, 0, time.UTC),
	time.Date(2026, 4, 30, 23, 59, 50, 0, time.UTC),
	time.Date(2025, 12, 31, 23, 59, 59, 500_000_000, time.UTC),
}
