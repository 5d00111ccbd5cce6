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
	initial, err := a.p.Initial(h0)
	if err != nil {
		t.Fatal(err)
	}
	pollertest.ExactlyOnce{Provider: a.p, Clock: a.clk, Initial: initial, Start: h0, Slack: 48 * time.Hour, Source: Source,
		Due: h0.Add(4*time.Hour + 15*time.Minute), Later: h0.Add(5*time.Hour + 15*time.Minute), Periods: 4}.Run(t)
}
