package vcloudair

import (
	"testing"
	"time"

	"github.com/meterline/meterline/internal/poller/pollertest"
	"github.com/meterline/meterline/internal/poller/vcloudair/vcasim"
)

// TestExactlyOnceThroughKafka: a poller killed between an hour's events and its state, a
// restart and a fenced second instance give every hour's documents once (pollertest).
func TestExactlyOnceThroughKafka(t *testing.T) {
	a := newAccount(t, vcasim.DemoScript(h0), nil)
	pollertest.ExactlyOnceThroughKafka(t, pollertest.ExactlyOnce{Provider: a.p, Clock: a.clk, Start: h0, Source: Source("sim"),
		Due: h0.Add(4*time.Hour + 15*time.Minute), Later: h0.Add(5*time.Hour + 15*time.Minute), Periods: 4})
}
