package clickhouse_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/metadata"
	"github.com/meterline/meterline/internal/metadata/ebdetails"
	"github.com/meterline/meterline/internal/report/elasticbox"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// TestElasticBoxDocsOverClickHouse stores ElasticBox documents of days across a year's end on
// the real ClickHouse, one stored twice and one rejected by the processor, and reads them
// back: the period's documents of the organization, once each, the rejected one left out,
// every measure exact; its instances' details from provider_metadata, the period's and the
// organization's, once each (one written twice), hostile values exact; an organization is
// known by any document.
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
			MeasuredUsage: []usage.Measure{{Measure: ebdetails.Cost, Quantity: decimal.RequireFromString(cost)}}}
	}
	meta := func(org, inst string, day int, d ebdetails.Details) metadata.Row {
		attrs := d.Attributes()
		attrs[ebdetails.Organization] = org
		return metadata.Row{Record: metadata.Record{Source: "poller:elasticbox/test", Provider: ebdetails.Provider, Kind: ebdetails.Kind, ID: inst,
			ValidFromMs: d0.AddDate(0, 0, day).UnixMilli(), Attributes: attrs}, WrittenMs: 1}
	}
	hostileType := "a\tb\\n\nc\\'" + strings.Repeat("é", 200)
	metaRows := []metadata.Row{meta("eb-acme", "eb-1", 0, det), meta("eb-acme", "eb-1", 1, ebdetails.Details{Size: "m1.small"}),
		meta("eb-acme", "eb-x", 0, ebdetails.Details{Type: hostileType}), meta("eb-acme", "eb-1", 2, det), meta("eb-acme", "eb-1", -1, det),
		meta("eb-beta", "eb-b", 0, det)}
	metaRows = append(metaRows, metaRows[0]) // written twice: read once
	if err := clickhouse.NewProviderMetadata(conn).Insert(ctx, metaRows); err != nil {
		t.Fatal(err)
	}
	docs := []usage.Document{mk("eb-acme", "eb-x", 0, "0"), mk("eb-acme", "eb-2", 0, "0.5"), mk("eb-acme", "eb-1", 1, "0.25"), mk("eb-acme", "eb-1", 0, "1.5"),
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
	if got[0].Space != "prov-1" || len(got[0].Names) != 1 || got[0].Quantities[0].String() != "1.5" {
		t.Errorf("document read back %+v", got[0])
	}
	dets, err := s.Details(ctx, "eb-acme", d0.UnixMilli(), d0.AddDate(0, 0, 2).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) != 3 || dets[0].Instance != "eb-1" || dets[0].ValidFromMs != d0.UnixMilli() || dets[1].Details.Size != "m1.small" ||
		dets[2].Instance != "eb-x" || dets[0].Source != "poller:elasticbox/test" {
		t.Fatalf("details %+v", dets)
	}
	if back := dets[0].Details; back.Size != "t1.micro" || !back.Created.Equal(created) || len(back.States) != 1 || !back.States[0].Started.Equal(created) {
		t.Errorf("details read back %+v", back)
	}
	if x := dets[2].Details; x.Type != hostileType || x.Size != "" {
		t.Errorf("hostile details read back %+v", x)
	}
	insts := elasticbox.Build("eb-acme", got, dets, d0, d0.AddDate(0, 0, 1), 100)
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
