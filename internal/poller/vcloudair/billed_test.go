package vcloudair

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/poller/vcloudair/vcasim"
)

// The closed billing months of an anniversary, across a year's end.
func TestClosedMonths(t *testing.T) {
	at := time.Date(2027, 1, 12, 23, 59, 0, 0, time.UTC)
	if got := fmt.Sprint(ClosedMonths(13, at, 3)); got != "[[2026 11] [2026 10] [2026 9]]" {
		t.Fatalf("before the 13th: %s", got)
	}
	if got := fmt.Sprint(ClosedMonths(13, at.Add(time.Minute), 2)); got != "[[2026 12] [2026 11]]" {
		t.Fatalf("on the 13th: %s", got)
	}
	if got := fmt.Sprint(ClosedMonths(1, at, 1)); got != "[[2026 12]]" {
		t.Fatalf("anniversary 1: %s", got)
	}
}

// A billing round stores each group's billed months (the injected over-billing as a group
// entity without service instance), skips those not billed yet, and a second round writes
// exactly the same rows again.
func TestBillingRound(t *testing.T) {
	sc := vcasim.DemoScript(time.Date(2026, 2, 11, 0, 0, 0, 0, time.UTC))
	sc.BilledExtra = map[string]map[string]decimal.Decimal{"sg-east": {vcasim.VCPU: decimal.RequireFromString("3.5")}}
	clk := clock.NewManual(time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC))
	srv := httptest.NewServer(vcasim.New(sc, clk).Handler())
	defer srv.Close()
	p := New(Config{Account: "sim", URL: srv.URL, Client: &poller.Client{Auth: &Login{URL: srv.URL, Username: "u", Password: "p"}, Clock: clk}})
	var writes [][]Billed
	b := &Billing{Provider: p, Clock: clk, Months: 1, Write: func(_ context.Context, rows []Billed, _ time.Time) error {
		writes = append(writes, rows)
		return nil
	}}
	// 1 March 00:30: sg-west's February (from the 1st) is billed, sg-east's (from the 13th)
	// is January 13 – February 13, billed too; nothing of March.
	n, err := b.Round(context.Background())
	if err != nil || len(writes) != 2 || n != len(writes[0])+len(writes[1]) {
		t.Fatalf("round: %d rows, %v, %d writes", n, err, len(writes))
	}
	find := func(rows []Billed, entity, billable string) *Billed {
		i := slices.IndexFunc(rows, func(r Billed) bool { return r.Entity == entity && r.Billable == billable })
		if i < 0 {
			return nil
		}
		return &rows[i]
	}
	east, west := writes[0], writes[1]
	if east[0].Group != "sg-east" || east[0].Year != 2026 || east[0].Month != 1 ||
		east[0].FromMs != time.Date(2026, 1, 13, 0, 0, 0, 0, time.UTC).UnixMilli() || east[0].ToMs != time.Date(2026, 2, 13, 0, 0, 0, 0, time.UTC).UnixMilli() {
		t.Fatalf("east month: %+v", east[0])
	}
	// vm-a1 (2 vCPU) started 9 February 18:00: 6 + 3×24 hours before 13 February.
	if r := find(east, "vm-a1", vcasim.VCPU); r == nil || !r.Quantity.Equal(decimal.NewFromInt(2*(6+72))) || r.ServiceInstance != "si-100" || r.L2 != "vdc-a" {
		t.Fatalf("vm-a1: %+v", r)
	}
	if r := find(east, "sg-east", vcasim.VCPU); r == nil || !r.Quantity.Equal(decimal.RequireFromString("3.5")) || r.ServiceInstance != "" {
		t.Fatalf("over-billing: %+v", r)
	}
	if west[0].Group != "sg-west" || west[0].Month != 2 || find(west, "vm-a1", vcasim.VCPU) != nil || find(west, "vm-d1", vcasim.VCPU) == nil {
		t.Fatalf("west: %+v", west)
	}
	if _, err := b.Round(context.Background()); err != nil || len(writes) != 4 ||
		fmt.Sprint(writes[2]) != fmt.Sprint(east) || fmt.Sprint(writes[3]) != fmt.Sprint(west) {
		t.Fatalf("a re-read differs: %v", err)
	}
	// Not billed yet: sg-east's February (to 13 March) on 12 March.
	rows, billed, err := p.BilledMonth(context.Background(), ServiceGroup{ID: "sg-east", Anniversary: 13}, 2026, 2)
	if err != nil || billed || rows != nil {
		t.Fatalf("February billed early: %v %v %v", rows, billed, err)
	}
}
