package elasticbox

import (
	"testing"
	"time"

	"github.com/meterline/meterline/internal/poller/pollertest"
)

// TestExactlyOnceThroughKafka runs the ElasticBox poller on the real broker through the shared
// check of pollertest: a crash between a day's events and its state, a restart, and a fenced
// second instance leave every day's documents committed exactly once.
func TestExactlyOnceThroughKafka(t *testing.T) {
	e := newEnv(t, fleet(), 0)
	pollertest.ExactlyOnce{Provider: e.p, Clock: e.clk, Initial: e.initial(t), Start: d0.Add(-time.Minute), Slack: 30 * 24 * time.Hour,
		Source: Source, Due: d0.Add(3*24*time.Hour + 15*time.Minute), Periods: 3, Later: d0.Add(4*24*time.Hour + 15*time.Minute)}.Run(t)
}
