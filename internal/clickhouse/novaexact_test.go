package clickhouse_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/report/nova"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// novaStores stores docs on a fresh database of the real ClickHouse and returns the view's
// store (nova_servers_v2, nova_server_days_v2) and its reference (every document).
func novaStores(t *testing.T, ctx context.Context, docs []usage.Document) (days, events nova.Store) {
	t.Helper()
	cfg := testenv.Get(t).Config(t)
	conn := testenv.ClickHouse(t, cfg)
	var rows []usage.EventRow
	for i, d := range docs {
		rows = append(rows, usage.EventRow{Event: &meterlinev1.UsageEvent{Id: d.ID(), Document: d.Proto()}, Offset: int64(i)})
	}
	if err := clickhouse.NewEvents(conn).Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	return clickhouse.NewNovaServers(conn), clickhouse.NewNovaServerEvents(conn)
}

// novaQuantities is a document of the Nova view whose four measures are given as written.
func novaQuantities(server string, h, start time.Time, secs, vcpu, mem, gb string) usage.Document {
	d := novaDoc("t1", server, "m1.huge", h, start, secs, 1, 1, 1)
	for i, q := range []string{secs, vcpu, mem, gb} {
		d.MeasuredUsage[i].Quantity = decimal.RequireFromString(q)
	}
	return d
}

// TestNovaDaySumBeyondDecimal128: four hourly documents of one day with 8.5 × 10^25
// vCPU-seconds each, and a small latest one. ClickHouse 18.16 sums Decimal128 without an
// overflow check, so 0010's day state held the wrapped sum (about 5) and the view read it
// as a clean day's sum; the states of 0011 sum parts that cannot wrap, and both stores give
// the exact sum, 340282366920938463463374612.431768211456 + 7.
func TestNovaDaySumBeyondDecimal128(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	day := time.Date(2026, 12, 14, 0, 0, 0, 0, time.UTC)
	const big = "85070591730234615865843653.107942052864"
	var docs []usage.Document
	for i := range 4 {
		h := day.Add(time.Duration(i) * time.Hour)
		docs = append(docs, novaQuantities("w", h, h, "3600", big, "7372800", "1"))
	}
	h := day.Add(4 * time.Hour)
	docs = append(docs, novaQuantities("w", h, h, "3600", "7", "1", "1"))
	days, events := novaStores(t, ctx, docs)
	want := nova.Measures{Seconds: decimal.RequireFromString("18000"),
		VCPU:     decimal.RequireFromString("340282366920938463463374619.431768211456"),
		MemoryMB: decimal.RequireFromString("29491201"),
		LocalGB:  decimal.RequireFromString("5")}
	q := nova.Query{Tenant: "t1", From: day.UnixMilli(), To: day.AddDate(0, 0, 1).UnixMilli()}
	for name, store := range map[string]nova.Store{"NovaServers": days, "NovaServerEvents": events} {
		rows, err := store.Servers(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rows) != 1 {
			t.Fatalf("%s: %d servers, want 1: %+v", name, len(rows), rows)
		}
		r := rows[0]
		if len(r.Edges) != 0 || !equalMeasures(r.Inside, want) {
			t.Errorf("%s: inside %+v with %d edges, want %+v and none", name, r.Inside, len(r.Edges), want)
		}
		if !r.Latest.VCPU.Equal(decimal.NewFromInt(7)) || !r.Latest.Seconds.Equal(decimal.NewFromInt(3600)) {
			t.Errorf("%s: latest %+v", name, r.Latest.Measures)
		}
	}
}

func equalMeasures(a, b nova.Measures) bool {
	return a.Seconds.Equal(b.Seconds) && a.VCPU.Equal(b.VCPU) && a.MemoryMB.Equal(b.MemoryMB) && a.LocalGB.Equal(b.LocalGB)
}

// TestNovaRunEndExact: a run of 100000000.000000000001 s from a period's start ends 10^-9 ms
// after the period's end, 10^11 ms later. Through a Float64 its end came out at the period's
// end exactly, so the run was summed whole as inside; now it is an edge, which the view clips
// exactly to 10^8 s. A run of exactly 10^8 s lies inside. A run of about 10^26 s (beyond
// Int64 in ms) ends at start + 10^18 ms and is an edge too; its measures read in full.
func TestNovaRunEndExact(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Date(2026, 12, 14, 0, 0, 0, 0, time.UTC)
	const (
		long = "100000000.000000000001"
		huge = "99999999999999999999999999.999999999999"
	)
	docs := []usage.Document{
		novaQuantities("long", start, start, long, long, long, long),
		novaQuantities("exact", start, start, "100000000", "100000000", "100000000", "100000000"),
		novaQuantities("huge", start, start, huge, huge, huge, huge),
	}
	days, events := novaStores(t, ctx, docs)
	q := nova.Query{Tenant: "t1", From: start.UnixMilli(), To: start.UnixMilli() + 100_000_000_000}
	for name, store := range map[string]nova.Store{"NovaServers": days, "NovaServerEvents": events} {
		rows, err := store.Servers(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := map[string]nova.ServerRow{}
		for _, r := range rows {
			got[r.Instance] = r
		}
		for _, server := range []string{"long", "exact", "huge"} {
			if _, ok := got[server]; !ok {
				t.Errorf("%s: no server %s among %+v", name, server, rows)
			}
		}
		for server, secs := range map[string]string{"long": long, "huge": huge} {
			r, ok := got[server]
			if !ok {
				continue
			}
			if !r.Inside.Seconds.IsZero() || len(r.Edges) != 1 || !r.Edges[0].Seconds.Equal(decimal.RequireFromString(secs)) ||
				!r.Edges[0].VCPU.Equal(decimal.RequireFromString(secs)) {
				t.Errorf("%s: %s: inside %+v, edges %+v; want its document as the one edge", name, server, r.Inside, r.Edges)
			}
		}
		if r := got["exact"]; !r.Inside.Seconds.Equal(decimal.NewFromInt(100_000_000)) || len(r.Edges) != 0 {
			t.Errorf("%s: exact: inside %+v, edges %+v; want it inside", name, r.Inside, r.Edges)
		}
	}
}

// TestNovaUpgradeFrom0010: a deployment at migration 0010 (its tables fed by its views) with
// documents stored, one of them twice, then upgraded by 0011: the new summaries are filled
// from usage_events, 0010's tables and views are gone, and the view answers as from every
// document (NovaServerEvents), now with the day beyond Decimal128 exact.
func TestNovaUpgradeFrom0010(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := testenv.Get(t).Config(t)
	conn := testenv.ClickHouse(t, cfg)
	all, err := clickhouse.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	run := func(version uint32) {
		t.Helper()
		for _, m := range all {
			if m.Version != version {
				continue
			}
			for i, stmt := range m.Statements {
				if err := conn.Exec(ctx, stmt); err != nil {
					t.Fatalf("migration %04d, statement %d: %v", version, i+1, err)
				}
			}
			return
		}
		t.Fatalf("no migration %04d", version)
	}
	// Back to 0010: 0011's tables and views dropped, 0010's created again.
	for _, table := range []string{"nova_servers_v2_mv", "nova_server_days_v2_mv", "nova_servers_v2", "nova_server_days_v2"} {
		if err := conn.Exec(ctx, "DROP TABLE "+table); err != nil {
			t.Fatal(err)
		}
	}
	run(10)
	day := time.Date(2026, 12, 14, 0, 0, 0, 0, time.UTC)
	var rows []usage.EventRow
	add := func(d usage.Document) {
		rows = append(rows, usage.EventRow{Event: &meterlinev1.UsageEvent{Id: d.ID(), Document: d.Proto()}, Offset: int64(len(rows))})
	}
	for i := range 4 {
		h := day.Add(time.Duration(i) * time.Hour)
		add(novaQuantities("w", h, h, "3600", "85070591730234615865843653.107942052864", "7372800", "1"))
		add(novaDoc("t1", "a", "m1.small", h, h, "3600", 1, 2048, 20))
	}
	add(novaQuantities("long", day, day, "100000000.000000000001", "1", "1", "1"))
	add(novaDoc("t2", "c", "m1.tiny", day, day.Add(20*time.Minute), "2400", 1, 512, 1))
	events := clickhouse.NewEvents(conn)
	if err := events.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := events.Insert(ctx, rows[1:2]); err != nil { // a's first hour, stored twice
		t.Fatal(err)
	}
	var old uint64 // 0010's views kept their tables
	if err := conn.QueryRow(ctx, "SELECT count() FROM nova_server_days").Scan(&old); err != nil || old == 0 {
		t.Fatalf("0010's nova_server_days holds %d rows (%v)", old, err)
	}

	run(11)
	var left uint64
	if err := conn.QueryRow(ctx, `SELECT count() FROM system.tables WHERE database = currentDatabase()
		AND name IN ('nova_servers', 'nova_server_days', 'nova_servers_mv', 'nova_server_days_mv')`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d of 0010's tables and views left after 0011 (%v)", left, err)
	}
	days, reference := clickhouse.NewNovaServers(conn), clickhouse.NewNovaServerEvents(conn)
	for _, q := range []nova.Query{
		{From: day.UnixMilli(), To: day.AddDate(0, 0, 1).UnixMilli()},
		{Tenant: "t1", From: day.Add(30 * time.Minute).UnixMilli(), To: day.Add(150 * time.Minute).UnixMilli()},
		{Tenant: "t1", From: day.UnixMilli(), To: day.UnixMilli() + 100_000_000_000},
		{Tenant: "t2", From: day.AddDate(0, 0, -1).UnixMilli(), To: day.UnixMilli()},
	} {
		got, err := days.Servers(ctx, q)
		if err != nil {
			t.Fatalf("%+v: NovaServers: %v", q, err)
		}
		want, err := reference.Servers(ctx, q)
		if err != nil {
			t.Fatalf("%+v: NovaServerEvents: %v", q, err)
		}
		if g, w := novaRowsText(got), novaRowsText(want); g != w {
			t.Errorf("%+v:\n NovaServers:      %s\n NovaServerEvents: %s", q, g, w)
		}
		if q.To == day.AddDate(0, 0, 1).UnixMilli() && !strings.Contains(novaRowsText(got), "inside 14400 340282366920938463463374612.431768211456 29491200 4") {
			t.Errorf("the day beyond Decimal128 is not exact: %s", novaRowsText(got))
		}
	}
}

// novaRowsText is rows in the view's order, their measures as exact decimal text.
func novaRowsText(rows []nova.ServerRow) string {
	m := func(x nova.Measures) string {
		return x.Seconds.String() + " " + x.VCPU.String() + " " + x.MemoryMB.String() + " " + x.LocalGB.String()
	}
	var out []string
	for _, r := range rows {
		s := fmt.Sprintf("%s/%s first %d latest %s %d %d %s inside %s", r.Tenant, r.Instance, r.FirstStartMs,
			r.Latest.Flavor, r.Latest.StartMs, r.Latest.EndMs, m(r.Latest.Measures), m(r.Inside))
		for _, e := range r.Edges {
			s += fmt.Sprintf(" edge %s %d %d %s", e.Flavor, e.StartMs, e.EndMs, m(e.Measures))
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}
