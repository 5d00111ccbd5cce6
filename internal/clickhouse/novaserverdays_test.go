package clickhouse_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report/nova"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// TestNovaServerDaysAsEvents stores documents across a year's end on the real ClickHouse,
// with a document stored twice (in two inserts, as two sink instances would: the summary
// sees both blocks), one rejected by the processor, and one arriving late (after the view
// was read, for a day already summarised), and checks that every answer of the view through
// nova_server_days_v2 (NovaServers) is byte for byte the answer through every document
// (NovaServerEvents): periods on day boundaries, inside a day, across the edges, paged with
// limits and markers, for a tenant and for all; a server idle through a period between runs
// before and after it, and a document whose run reaches days past its own; and that running
// migration 0011 (its backfill) a second time changes no answer.
func TestNovaServerDaysAsEvents(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	conn := testenv.ClickHouse(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	hour := func(s string) time.Time { return at(s).Truncate(time.Hour) }
	var docs []usage.Document
	// a runs 2026-12-31 22:00 to 2027-01-01 03:00, resized at midnight; b from 23:20 on
	// the 31st until 01:40:30.5; c (tenant t2) the whole time, in one tenant of its own.
	for h := hour("2026-12-31T22:00:00Z"); h.Before(hour("2027-01-01T03:00:00Z")); h = h.Add(time.Hour) {
		flavor, vcpus := "m1.small", int64(1)
		if !h.Before(hour("2027-01-01T00:00:00Z")) {
			flavor, vcpus = "m1.large", 4
		}
		docs = append(docs, novaDoc("t1", "a", flavor, h, h, "3600", vcpus, 2048*vcpus, 20))
		docs = append(docs, novaDoc("t2", "c", "m1.tiny", h, h, "3600", 1, 512, 1))
	}
	docs = append(docs,
		novaDoc("t1", "b", "m1.tiny", hour("2026-12-31T23:00:00Z"), at("2026-12-31T23:20:00Z"), "2400", 1, 512, 1),
		novaDoc("t1", "b", "m1.tiny", hour("2027-01-01T00:00:00Z"), hour("2027-01-01T00:00:00Z"), "3600", 1, 512, 1),
		novaDoc("t1", "b", "m1.tiny", hour("2027-01-01T01:00:00Z"), hour("2027-01-01T01:00:00Z"), "2430.5", 1, 512, 1),
		// d ran at 22:00 and again at 02:00: not in between (the summary of servers cannot tell).
		novaDoc("t1", "d", "m1.tiny", hour("2026-12-31T22:00:00Z"), hour("2026-12-31T22:00:00Z"), "3600", 1, 512, 1),
		novaDoc("t1", "d", "m1.tiny", hour("2027-01-01T02:00:00Z"), hour("2027-01-01T02:00:00Z"), "3600", 1, 512, 1),
		// e: a posted document of an hour on the 30th whose run lasts two days, into the new year.
		novaDoc("t1", "e", "m1.tiny", hour("2026-12-30T11:00:00Z"), hour("2026-12-30T11:00:00Z"), "172800", 1, 512, 1))
	row := func(i int, d usage.Document) usage.EventRow {
		return usage.EventRow{Event: &meterlinev1.UsageEvent{Id: d.ID(), Document: d.Proto()}, Offset: int64(i)}
	}
	var rows []usage.EventRow
	for i, d := range docs {
		rows = append(rows, row(i, d))
	}
	events := clickhouse.NewEvents(conn)
	if err := events.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	// a's 23:00 document once more, in a block of its own; c's 01:00 one rejected.
	if err := events.Insert(ctx, []usage.EventRow{rows[2]}); err != nil {
		t.Fatal(err)
	}
	if err := clickhouse.NewRejections(conn).Insert(ctx, []usage.RejectionRow{{Rejection: &meterlinev1.RejectedUsage{
		Event: rows[7].Event, Code: "too_late", Reason: "test"}}}); err != nil {
		t.Fatal(err)
	}

	clk := clock.NewManual(at("2027-01-01T04:10:00Z"))
	handler := func(store nova.Store) http.Handler {
		mux := http.NewServeMux()
		nova.NewAPI(store, clk, zap.NewNop()).Register(mux)
		return auth.AsAdmin(mux)
	}
	days, events2 := handler(clickhouse.NewNovaServers(conn)), handler(clickhouse.NewNovaServerEvents(conn))
	get := func(h http.Handler, path string) (int, string) {
		req := httptest.NewRequest(http.MethodGet, path, nil).WithContext(ctx)
		req.Header.Set("OpenStack-API-Version", "compute 2.40")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	period := func(from, to string) string {
		return "start=" + url.QueryEscape(from) + "&end=" + url.QueryEscape(to)
	}
	paths := []string{}
	for _, p := range []string{
		period("2026-12-31T00:00:00", "2027-01-02T00:00:00"), // every day whole
		period("2027-01-01T00:00:00", "2027-01-02T00:00:00"), // the new year's day only
		period("2026-12-31T22:30:00", "2027-01-01T01:15:00"), // both edges inside a day
		period("2026-12-31T23:00:00", "2027-01-01T00:00:00"), // one hour, on a day's end
		period("2027-01-01T01:40:30.25", "2027-01-01T01:40:30.75"),
		period("2026-06-01T00:00:00", "2026-06-02T00:00:00"), // nothing
	} {
		for _, q := range []string{"detailed=1&", "", "detailed=1&limit=1&", "detailed=1&limit=1&marker=a&",
			"detailed=1&limit=0&", "limit=2&marker=b&", "limit=1&marker=a&", "limit=1&marker=d&", "marker=nobody&"} {
			paths = append(paths, nova.Base+"/os-simple-tenant-usage?"+q+p, nova.Base+"/os-simple-tenant-usage/t1?"+q+p)
		}
	}
	compare := func(when string) {
		t.Helper()
		for _, path := range paths {
			c1, b1 := get(days, path)
			c2, b2 := get(events2, path)
			if c1 != c2 || b1 != b2 {
				t.Errorf("%s: %s:\n days:   %d %s\n events: %d %s", when, path, c1, b1, c2, b2)
			}
		}
	}
	compare("stored")
	if _, b := get(days, paths[0]); len(b) < 200 {
		t.Fatalf("the view shows nothing: %s", b)
	}

	// A late document: b's 02:00 hour after all, for a day the summary holds already.
	late := novaDoc("t1", "b", "m1.tiny", hour("2027-01-01T02:00:00Z"), hour("2027-01-01T02:00:00Z"), "600", 1, 512, 1)
	before, _ := get(days, paths[0])
	_, bodyBefore := get(days, paths[0])
	if err := events.Insert(ctx, []usage.EventRow{row(len(rows), late)}); err != nil {
		t.Fatal(err)
	}
	if code, body := get(days, paths[0]); code != before || body == bodyBefore {
		t.Errorf("the late document changed nothing: %s", body)
	}
	compare("late")
	// Merged (the duplicate's rows replaced, the summary's folded): the same answers.
	for _, table := range []string{"usage_events", "nova_server_days_v2", "usage_rejections"} {
		if err := conn.Exec(ctx, "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
			t.Fatal(err)
		}
	}
	compare("merged")

	// Migration 0011 run again, as after a crash between its backfill and its record in
	// schema_migrations: the backfill sums every document once more, so every day's docs
	// differ from its ids and the view reads the days from usage_events; nova_servers_v2'
	// minima, maxima and argMax do not change. The answers stay the same: nothing is doubled.
	all, err := clickhouse.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	rerun := false
	for _, m := range all {
		if m.Version != 11 {
			continue
		}
		rerun = true
		for i, stmt := range m.Statements {
			if err := conn.Exec(ctx, stmt); err != nil {
				t.Fatalf("migration 0011 again, statement %d: %v", i+1, err)
			}
		}
	}
	if !rerun {
		t.Fatal("no migration 0011")
	}
	var single uint64 // days that do not read as holding a duplicate: none, after the backfill
	if err := conn.QueryRow(ctx, `SELECT count() FROM (SELECT countMerge(docs) AS d, uniqExactMerge(ids) AS i
		FROM nova_server_days_v2 GROUP BY organization_id, resource_instance_id, day) WHERE d = i`).Scan(&single); err != nil {
		t.Fatal(err)
	}
	if single != 0 {
		t.Errorf("%d days read as summed once after the backfill ran again", single)
	}
	compare("migration 0011 run twice")
	if err := conn.Exec(ctx, "OPTIMIZE TABLE nova_server_days_v2 FINAL"); err != nil {
		t.Fatal(err)
	}
	compare("migration 0011 run twice, merged")
}
