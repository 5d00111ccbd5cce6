package clickhouse_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/collector"
	"github.com/meterline/meterline/internal/sink"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// The tables implement the ports of their users.
var (
	_ collector.Archive    = clickhouse.Archive{}
	_ sink.EventStorage    = (*clickhouse.Events)(nil)
	_ sink.CellWriter      = (*clickhouse.Cells)(nil)
	_ sink.RejectionWriter = (*clickhouse.Rejections)(nil)
)

// TestExistingAtBatchSize looks up as many ids as a default sink batch holds (10,000), more
// than one query's text may name, across two months and several organizations.
func TestExistingAtBatchSize(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	conn := testenv.ClickHouse(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	events := clickhouse.NewEvents(conn)
	const n = 10000
	var rows []usage.EventRow
	var refs []usage.EventRef
	base := time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC).UnixMilli()
	for i := range n + 50 {
		d := usage.Document{Start: base, End: base + int64(i)*10_000, OrganizationID: fmt.Sprintf("org-%d", i%13),
			SpaceID: "s", ResourceID: "r", PlanID: "p", ResourceInstanceID: fmt.Sprint(i),
			MeasuredUsage: []usage.Measure{{Measure: "m", Quantity: decimal.NewFromInt(int64(i))}}}
		refs = append(refs, usage.EventRef{Org: d.OrganizationID, ID: d.ID()})
		if i < n { // the last 50 are never stored
			rows = append(rows, usage.EventRow{Event: &meterlinev1.UsageEvent{Id: d.ID(), Document: d.Proto()}, Offset: int64(i)})
		}
	}
	if err := events.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	found, err := events.Existing(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != n {
		t.Errorf("found %d of the %d stored ids", len(found), n)
	}
	for _, r := range refs[n:] {
		if found[r.ID] {
			t.Errorf("found %s, which was never stored", r.ID)
		}
	}
}
