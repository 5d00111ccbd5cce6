package nova

import (
	"testing"
	"time"

	"github.com/meterline/meterline/internal/poller/pollertest"
)

// TestExactlyOnceThroughKafka runs the Nova poller on the real broker through the shared check
// of pollertest: an instance that dies between a window's events and its state (the second
// window) leaves nothing of that window visible; the next instance reads the first window's
// state, polls on, and the committed events are every window's documents exactly once. A
// third instance fences the second, whose Run then stops with ErrFenced without publishing.
func TestExactlyOnceThroughKafka(t *testing.T) {
	c := newCloud(t, fleet(), 2)
	pollertest.ExactlyOnce{Provider: c.p, Clock: c.clk, Initial: c.initial(t), Start: h0.Add(-time.Minute), Slack: 48 * time.Hour,
		Source: Source, Due: h0.Add(4*time.Hour + 15*time.Minute), Periods: 4, Later: h0.Add(5*time.Hour + 15*time.Minute)}.Run(t)
}
