package ratedusage

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

func TestDecode(t *testing.T) {
	dec := func(s string) *meterlinev1.Value {
		return &meterlinev1.Value{Kind: &meterlinev1.Value_Decimal{Decimal: s}}
	}
	b, err := proto.Marshal(&meterlinev1.RatedUsage{AccountId: "acc", OrganizationId: "org", ResourceId: "linux-container",
		Plan: "basic/basic-linux-container/linux-rating-plan/linux-pricing-basic", Metric: "memory", Scope: "organization",
		Level: "month", PeriodStartMs: 1793491200000, PeriodEndMs: 1796083200000, Currency: "USD", ProcessedMs: 1795867200000,
		Quantity: &meterlinev1.Value{Kind: &meterlinev1.Value_Map{Map: &meterlinev1.MapValue{Fields: map[string]*meterlinev1.Value{
			"consuming": dec("2"), "consumed": dec("172800000")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if c.PlanID != "basic" || c.PricingPlanID != "linux-pricing-basic" || c.Quantity.Map["consumed"].Decimal != "172800000" ||
		!c.Cost.IsZero() || !c.PeriodStart.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) || c.Processed.UnixMilli() != 1795867200000 {
		t.Errorf("decoded %+v", c)
	}
	if _, err := Decode([]byte{0xff, 0xff}); err == nil {
		t.Error("a record that is not a RatedUsage decoded")
	}
	resource := c
	resource.PlanID, resource.MeteringPlanID, resource.RatingPlanID, resource.PricingPlanID = "", "", "", ""
	if resource.Key() == c.Key() {
		t.Error("a plan cell and its resource-level cell have the same key")
	}
}

// TestDecodeBatch: the cells of a v2 record decode as their v1 records do, in order.
func TestDecodeBatch(t *testing.T) {
	a := &meterlinev1.RatedUsage{OrganizationId: "org", ResourceId: "object-storage", Plan: "basic/m/r/p", Metric: "storage",
		Scope: "organization", Level: "day", PeriodStartMs: 1793491200000, PeriodEndMs: 1793577600000, Currency: "USD",
		Quantity: &meterlinev1.Value{Kind: &meterlinev1.Value_Decimal{Decimal: "46.09"}}, ProcessedMs: 1793500000000}
	b := &meterlinev1.RatedUsage{OrganizationId: "org", ResourceId: "object-storage", Metric: "storage", Scope: "space",
		SpaceId: "s", Level: "month", PeriodStartMs: 1793491200000, ProcessedMs: 1793500000000}
	value, err := proto.Marshal(&meterlinev1.RatedUsageBatch{Cells: []*meterlinev1.RatedUsage{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	cells, err := DecodeBatch(value)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range []*meterlinev1.RatedUsage{a, b} {
		v1, _ := proto.Marshal(m)
		want, err := Decode(v1)
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(cells) || cells[i].Key() != want.Key() || cells[i].Quantity.Decimal != want.Quantity.Decimal ||
			!cells[i].Processed.Equal(want.Processed) || cells[i].PlanID != want.PlanID {
			t.Errorf("cell %d: %+v, want %+v", i, cells, want)
		}
	}
	if len(cells) != 2 {
		t.Errorf("%d cells, want 2", len(cells))
	}
	if _, err := DecodeBatch([]byte{0xff, 0xff}); err == nil {
		t.Error("a record that is not a RatedUsageBatch decoded")
	}
}
