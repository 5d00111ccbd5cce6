package clickhouse_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/report/elasticbox"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	"github.com/meterline/meterline/internal/usage/ebdetails"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// TestElasticBoxDocsOverClickHouse stores ElasticBox documents of days across a year's end on
// the real ClickHouse, one stored twice and one rejected by the processor, and reads them
// back: the period's documents of the organization, once each, the rejected one left out,
// every measure (the details too) exact; an organization is known by any document.
func TestElasticBoxDocsOverClickHouse(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	conn := testenv.ClickHouse(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d0 := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	created := time.Date(2025, 12, 30, 16, 45, 5, 246651000, time.UTC)
	det := ebdetails.Details{Size: "t1.micro", Created: &created, States: []ebdetails.State{{State: "up", Started: created}}}
	mk := func(org, inst string, day int, cost string) usage.Document {
		start := d0.AddDate(0, 0, day)
		return usage.Document{Start: start.UnixMilli(), End: start.AddDate(0, 0, 1).UnixMilli() - 1, OrganizationID: org, SpaceID: "prov-1",
			ConsumerID: inst, ResourceID: ebdetails.Resource, PlanID: ebdetails.Plan, ResourceInstanceID: inst, DedupID: "eb:test:" + inst + ":" + start.Format("2006-01-02"),
			MeasuredUsage: append([]usage.Measure{{Measure: ebdetails.Cost, Quantity: decimal.RequireFromString(cost)}}, det.Measures()...)}
	}
	hostile := mk("eb-acme", "eb-x", 0, "0")
	hostile.MeasuredUsage = append(hostile.MeasuredUsage, ebdetails.Details{Type: "a\tb\\n\nc\\"}.Measures()...)
	docs := []usage.Document{hostile, mk("eb-acme", "eb-2", 0, "0.5"), mk("eb-acme", "eb-1", 1, "0.25"), mk("eb-acme", "eb-1", 0, "1.5"),
		mk("eb-acme", "eb-1", 2, "9"), mk("eb-acme", "eb-3", 1, "4"), mk("eb-beta", "eb-b", 0, "3"), mk("eb-acme", "eb-1", -1, "8")}
	var rows []usage.EventRow
	for i, d := range docs {
		rows = append(rows, usage.EventRow{Event: &meterlinev1.UsageEvent{Id: d.ID(), Document: d.Proto()}, Offset: int64(i)})
	}
	rows = append(rows, rows[2]) // stored twice: read once
	if err := clickhouse.NewEvents(conn).Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := clickhouse.NewRejections(conn).Insert(ctx, []usage.RejectionRow{{Rejection: &meterlinev1.RejectedUsage{
		Event: rows[5].Event, Code: "too_late", Reason: "test"}}}); err != nil { // eb-3's: not counted
		t.Fatal(err)
	}
	s := clickhouse.NewElasticBoxDocs(conn)
	got, err := s.Docs(ctx, "eb-acme", d0.UnixMilli(), d0.AddDate(0, 0, 2).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, d := range got {
		seen = append(seen, d.Instance+"@"+time.UnixMilli(d.StartMs).UTC().Format("01-02"))
	}
	if want := "eb-1@12-31 eb-1@01-01 eb-2@12-31 eb-x@12-31"; strings.Join(seen, " ") != want {
		t.Fatalf("documents %s, want %s", strings.Join(seen, " "), want)
	}
	back := ebdetails.Parse(got[0].Names, got[0].Quantities)
	if back.Size != "t1.micro" || !back.Created.Equal(created) || len(back.States) != 1 || !back.States[0].Started.Equal(created) || got[0].Space != "prov-1" {
		t.Errorf("details read back %+v", back)
	}
	// A name with a tab, a newline and backslashes reads back the same.
	if x := ebdetails.Parse(got[3].Names, got[3].Quantities); x.Type != "a\tb\\n\nc\\" || x.Size != "t1.micro" {
		t.Errorf("hostile details read back %+v", x)
	}
	insts := elasticbox.Build("eb-acme", got, d0, d0.AddDate(0, 0, 1), 100)
	tot := decimal.Zero
	for _, in := range insts {
		for _, d := range in.Days {
			tot = tot.Add(d.Cost)
		}
	}
	if tot.String() != "225" {
		t.Errorf("total %s cents, want 225", tot)
	}
	for org, want := range map[string]bool{"eb-acme": true, "eb-beta": true, "eb-nobody": false} {
		if known, err := s.Known(ctx, org); err != nil || known != want {
			t.Errorf("Known(%s) = %v, %v", org, known, err)
		}
	}
}
