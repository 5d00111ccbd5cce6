package vcloudair

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/clickhouse/vcarows"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/poller/vcloudair/vcasim"
)

// A billing round stores each billed month's cost items (scripted for sg-east, the default
// support cost of 0 for sg-west) and the service groups and instances, those only when they
// changed; a month not billed yet has no costs.
func TestBillingRoundCostsAndDirectory(t *testing.T) {
	sc := vcasim.DemoScript(time.Date(2026, 2, 11, 0, 0, 0, 0, time.UTC))
	sc.BilledCosts = map[string][]vcasim.CostItem{"sg-east": {
		{Type: "Support Cost", Amount: decimal.RequireFromString("49.99"), Properties: map[string]string{"plan": "production", "level": "gold"}},
		{Type: "Service Credit", Amount: decimal.RequireFromString("-10")},
	}}
	clk := clock.NewManual(time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC))
	srv := httptest.NewServer(vcasim.New(sc, clk).Handler())
	defer srv.Close()
	p := New(Config{Account: "sim", URL: srv.URL, Client: &poller.Client{Auth: &Login{URL: srv.URL, Username: "u", Password: "p"}, Clock: clk}})
	var costs [][]Cost
	var dirs int
	var groups []vcarows.Group
	var insts []vcarows.Instance
	b := &Billing{Provider: p, Clock: clk, Months: 1, Write: func(context.Context, []Billed, time.Time) error { return nil },
		WriteCosts: func(_ context.Context, c []Cost, _ time.Time) error { costs = append(costs, c); return nil },
		WriteDirectory: func(_ context.Context, g []vcarows.Group, in []vcarows.Instance, _ time.Time) error {
			dirs++
			groups, insts = g, in
			return nil
		}}
	if _, err := b.Round(context.Background()); err != nil || len(costs) != 2 {
		t.Fatalf("round: %v, %d cost writes", err, len(costs))
	}
	east, west := costs[0], costs[1]
	want := "[{sim sg-east 2026 1 1768262400000 1770940800000 0 Support Cost 49.99 USD [{level gold} {plan production}]} " +
		"{sim sg-east 2026 1 1768262400000 1770940800000 1 Service Credit -10 USD []}]"
	if got := fmt.Sprint(east); got != want {
		t.Errorf("east's costs:\n%s, want\n%s", got, want)
	}
	if len(west) != 1 || west[0].Type != "Support Cost" || !west[0].Amount.IsZero() || west[0].Month != 2 {
		t.Errorf("west's costs: %+v", west)
	}
	if dirs != 1 || len(groups) != 2 || groups[0].ID != "sg-east" || groups[0].Anniversary != 13 || groups[0].Account != "sim" ||
		len(insts) == 0 || insts[0].Group == "" {
		t.Errorf("directory: %d writes, %+v %+v", dirs, groups, insts)
	}
	if _, err := b.Round(context.Background()); err != nil || dirs != 1 || len(costs) != 4 {
		t.Fatalf("second round: %v, %d directory writes (unchanged: none more), %d cost writes", err, dirs, len(costs))
	}
	if _, billed, err := p.BilledCosts(context.Background(), ServiceGroup{ID: "sg-east", Anniversary: 13}, 2026, 2); err != nil || billed {
		t.Fatalf("February's costs before it is billed: %v %v", billed, err)
	}
}
