package clickhouse_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/clickhouse/vcarows"
	"github.com/meterline/meterline/internal/testenv"
)

// TestVCloudAirDirectoryOverClickHouse stores the service groups, instances and a month's
// cost items on the real ClickHouse, then again (a re-read) and a renamed group: each is read
// once, the latest row winning, costs in vCloud Air's order with their properties, and the
// billed months listed from the costs and the billed usage.
func TestVCloudAirDirectoryOverClickHouse(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	conn := testenv.ClickHouse(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := clickhouse.NewVCloudAirDirectory(conn)
	read := time.Date(2027, 1, 13, 1, 0, 0, 0, time.UTC)
	groups := []vcarows.Group{{Account: "sim", ID: "sg-east", Name: "East", Currency: "USD", Anniversary: 13},
		{Account: "sim", ID: "sg-west", Name: "West", Currency: "EUR", Anniversary: 1}}
	insts := []vcarows.Instance{{Account: "sim", ID: "si-100", Name: "VPC", Group: "sg-east"}}
	from, to := time.Date(2026, 12, 13, 0, 0, 0, 0, time.UTC).UnixMilli(), time.Date(2027, 1, 13, 0, 0, 0, 0, time.UTC).UnixMilli()
	costs := []vcarows.Cost{
		{Account: "sim", Group: "sg-east", Year: 2026, Month: 12, FromMs: from, ToMs: to, Index: 0, Type: "Support Cost",
			Amount: decimal.RequireFromString("49.990000000001"), Currency: "USD", Properties: []vcarows.Property{{Name: "plan", Value: "gold"}}},
		{Account: "sim", Group: "sg-east", Year: 2026, Month: 12, FromMs: from, ToMs: to, Index: 1, Type: "Service Credit",
			Amount: decimal.RequireFromString("-10"), Currency: "USD"},
	}
	for i := 0; i < 2; i++ {
		if err := d.InsertDirectory(ctx, groups, insts, read.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := d.InsertCosts(ctx, costs, read.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	groups[0].Name = "East renamed"
	if err := d.InsertDirectory(ctx, groups[:1], nil, read.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	gs, err := d.Groups(ctx)
	if err != nil || fmt.Sprint(gs) != "[{sim sg-east East renamed USD 13} {sim sg-west West EUR 1}]" {
		t.Fatalf("groups: %v %v", gs, err)
	}
	is, err := d.Instances(ctx)
	if err != nil || fmt.Sprint(is) != "[{sim si-100 VPC sg-east}]" {
		t.Fatalf("instances: %v %v", is, err)
	}
	cs, ok, err := d.BilledCosts(ctx, "sg-east", 2026, 12)
	want := "[{sim sg-east 2026 12 " + fmt.Sprint(from) + " " + fmt.Sprint(to) + " 0 Support Cost 49.990000000001 USD [{plan gold}]} {sim sg-east 2026 12 " +
		fmt.Sprint(from) + " " + fmt.Sprint(to) + " 1 Service Credit -10 USD []}]"
	if err != nil || !ok || fmt.Sprint(cs) != want {
		t.Fatalf("costs: %v %v %v\nwant %s", cs, ok, err, want)
	}
	if _, ok, err := d.BilledCosts(ctx, "sg-east", 2026, 11); err != nil || ok {
		t.Fatalf("November: %v %v", ok, err)
	}
	if err := clickhouse.NewVCloudAirBilled(conn).Insert(ctx, []vcarows.Billed{{Account: "sim", Group: "sg-east", Year: 2026, Month: 11,
		Entity: "vm-1", Billable: "vcpu_hours", Quantity: decimal.NewFromInt(1)}}, read); err != nil {
		t.Fatal(err)
	}
	months, err := d.BilledMonths(ctx, "sg-east")
	if err != nil || fmt.Sprint(months) != "[[2026 12] [2026 11]]" {
		t.Fatalf("billed months: %v %v", months, err)
	}
}
