package report

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/testenv"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// ratedRow is a usage_cells row as the cell sink writes it.
func ratedRow(t testing.TB, c Cell, org string, offset int64) clickhouse.CellRow {
	t.Helper()
	q, err := metering.ValueProto(c.Quantity)
	if err != nil {
		t.Fatal(err)
	}
	cost, err := metering.ValueProto(c.Cost)
	if err != nil {
		t.Fatal(err)
	}
	_, to := c.Level.Period(c.From)
	return clickhouse.CellRow{Offset: offset, Cell: &meterlinev1.RatedUsage{OrganizationId: org, SpaceId: c.Space,
		ConsumerId: c.Consumer, ResourceInstanceId: c.Instance, ResourceId: c.Resource, Plan: c.Plan, Metric: c.Metric,
		Scope: c.Scope.String(), Level: c.Level.String(), PeriodStartMs: c.From, PeriodEndMs: to, Quantity: q, Cost: cost,
		ProcessedMs: c.Processed}}
}

// TestClickHouseStore reads usage_cells of the real ClickHouse as of a time: each cell's
// latest version processed by then, decimals and maps, only the organization, scopes, periods
// and plans asked for.
func TestClickHouseStore(t *testing.T) { atInstants(t, testClickHouseStore) }

func testClickHouseStore(t *testing.T, at int64) {
	cfg := testenv.Get(t).Config(t)
	conn := testenv.ClickHouse(t, cfg)
	ctx := context.Background()
	day, _ := metering.Day.Period(at)
	month, _ := metering.Month.Period(at)
	two := decimal.NewFromInt(2)
	cell := func(scope metering.Scope, plan string, l metering.Level, from, processed int64, q any) Cell {
		c := Cell{Scope: scope, Space: "s", Resource: "r", Plan: plan, Metric: "m", Level: l, From: from, Quantity: q, Processed: processed}
		if scope <= metering.ScopeConsumer {
			c.Consumer = "app:1"
		}
		if scope == metering.ScopeInstance {
			c.Instance = "i1"
		}
		if plan != "" {
			c.Cost = decimal.RequireFromString("0.5")
		}
		return c
	}
	memory := map[string]any{"consuming": two, "consumed": decimal.RequireFromString("123.000000000001")}
	var rows []clickhouse.CellRow
	for i, c := range []Cell{
		cell(metering.ScopeOrganization, "", metering.Day, day, at-100, decimal.NewFromInt(1)),
		cell(metering.ScopeOrganization, "p/m/r/x", metering.Day, day, at-100, decimal.NewFromInt(1)),
		cell(metering.ScopeOrganization, "", metering.Month, month, at-200, decimal.NewFromInt(1)),
		cell(metering.ScopeOrganization, "", metering.Month, month, at-100, memory),
		cell(metering.ScopeOrganization, "", metering.Hour, day, at-100, decimal.NewFromInt(7)), // a period not asked for
		cell(metering.ScopeInstance, "p/m/r/x", metering.Day, day, at-100, two),
		cell(metering.ScopeInstance, "pp/m/r/x", metering.Day, day, at-100, two),
	} {
		rows = append(rows, ratedRow(t, c, "o", int64(i)))
		rows = append(rows, ratedRow(t, c, "other", int64(i)))
	}
	written := func(ms int64) *clickhouse.Cells {
		c := clickhouse.NewCells(conn)
		c.Clock = clock.NewManual(time.UnixMilli(ms))
		return c
	}
	if err := written(at-1000).Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	// Two transactions in one millisecond, written apart: the later record of the rated topic
	// wins, not the first written.
	for _, r := range []clickhouse.CellRow{
		ratedRow(t, cell(metering.ScopeSpace, "", metering.Day, day, at-50, decimal.NewFromInt(3)), "o", 100),
		ratedRow(t, cell(metering.ScopeSpace, "", metering.Day, day, at-50, decimal.NewFromInt(4)), "o", 101),
	} {
		if err := written(at-1000).Insert(ctx, []clickhouse.CellRow{r}); err != nil {
			t.Fatal(err)
		}
	}
	// A later version of a cell, processed after the report's time (in a write of its own: of
	// the values of a cell in one write only the last is kept).
	later := cell(metering.ScopeOrganization, "", metering.Day, day, at+100, decimal.NewFromInt(5))
	if err := written(at-1000).Insert(ctx, []clickhouse.CellRow{ratedRow(t, later, "o", 50)}); err != nil {
		t.Fatal(err)
	}
	// Processed before the report's time but written after it: not in the report of that time.
	late := cell(metering.ScopeOrganization, "", metering.Minute, day, at-100, decimal.NewFromInt(8))
	if err := written(at+50).Insert(ctx, []clickhouse.CellRow{ratedRow(t, late, "o", 200)}); err != nil {
		t.Fatal(err)
	}
	st := NewClickHouseStore(conn)
	read := func(q Query) map[string]string {
		t.Helper()
		cells, err := st.Cells(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, c := range cells {
			out[fmt.Sprintf("%s/%s/%s/%s", c.Scope, c.Plan, c.Level, c.Instance)] = fmt.Sprint(c.Quantity, " ", c.Cost, " ", c.Processed)
		}
		return out
	}
	periods := []Period{{metering.Day, day}, {metering.Month, month}}
	got := read(Query{Org: "o", AsOf: at, Scopes: []metering.Scope{metering.ScopeOrganization}, Periods: periods})
	want := map[string]string{
		"organization//day/":        "1 <nil> " + fmt.Sprint(at-100),
		"organization/p/m/r/x/day/": "1 0.5 " + fmt.Sprint(at-100),
		"organization//month/":      "map[consumed:123.000000000001 consuming:2] <nil> " + fmt.Sprint(at-100),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("as of the report's time\n got %v\nwant %v", got, want)
	}
	minute := []Period{{metering.Minute, day}}
	if got := read(Query{Org: "o", AsOf: at, Scopes: []metering.Scope{metering.ScopeOrganization}, Periods: minute}); len(got) != 0 {
		t.Errorf("a row written after the report's time was read: %v", got)
	}
	if got := read(Query{Org: "o", AsOf: at + 50, Scopes: []metering.Scope{metering.ScopeOrganization}, Periods: minute}); len(got) != 1 {
		t.Errorf("a row written at the report's time was not read: %v", got)
	}
	got = read(Query{Org: "o", AsOf: at + 100, Scopes: []metering.Scope{metering.ScopeOrganization}, Periods: periods[:1]})
	if got["organization//day/"] != "5 <nil> "+fmt.Sprint(at+100) || len(got) != 2 {
		t.Errorf("as of later: %v, want the later version", got)
	}
	got = read(Query{Org: "o", AsOf: at, Scopes: []metering.Scope{metering.ScopeSpace}, Periods: periods})
	if got["space//day/"] != "4 <nil> "+fmt.Sprint(at-50) {
		t.Errorf("two versions processed in the same millisecond: %v, want the later record's 4", got)
	}
	got = read(Query{Org: "o", AsOf: at, Scopes: []metering.Scope{metering.ScopeInstance}, Periods: periods,
		Instance: "i1", Consumer: "app:1", PlanID: "p"})
	if len(got) != 1 || got["instance/p/m/r/x/day/i1"] == "" {
		t.Errorf("plan id p: %v, want only plan p's cell (not pp's)", got)
	}
}

// TestClickHouseStoreAcrossDays reads a cell whose values were written over several days:
// the days before the report's day through usage_cells_daily, the report's day from
// usage_cells, each as of the report's time.
func TestClickHouseStoreAcrossDays(t *testing.T) { atInstants(t, testClickHouseStoreAcrossDays) }

func testClickHouseStoreAcrossDays(t *testing.T, at int64) {
	cfg := testenv.Get(t).Config(t)
	conn := testenv.ClickHouse(t, cfg)
	ctx := context.Background()
	const dayMs = 86_400_000
	month, _ := metering.Month.Period(at)
	write := func(value, processed, visible int64, offset int64) {
		t.Helper()
		c := Cell{Scope: metering.ScopeOrganization, Resource: "r", Metric: "m", Level: metering.Month, From: month,
			Quantity: decimal.NewFromInt(value), Processed: processed}
		cells := clickhouse.NewCells(conn)
		cells.Clock = clock.NewManual(time.UnixMilli(visible))
		err := cells.Insert(ctx, []clickhouse.CellRow{ratedRow(t, c, "o", offset)})
		if err != nil {
			t.Fatal(err)
		}
	}
	write(1, at-2*dayMs-100, at-2*dayMs, 1)
	write(5, at-2*dayMs+100, at-2*dayMs+200, 2) // two writes of the day before yesterday: the later counts
	write(2, at-dayMs-100, at-dayMs, 3)
	write(3, at-100, at-50, 4)
	write(4, at-10, at+10, 5) // written after the report's time
	st := NewClickHouseStore(conn)
	f := func(asOf int64, want string) {
		t.Helper()
		cells, err := st.Cells(ctx, Query{Org: "o", AsOf: asOf, Scopes: []metering.Scope{metering.ScopeOrganization},
			Periods: []Period{{metering.Month, month}}})
		if err != nil {
			t.Fatal(err)
		}
		got := "none"
		if len(cells) == 1 {
			got = fmt.Sprint(cells[0].Quantity)
		} else if len(cells) > 1 {
			got = fmt.Sprint(len(cells), " cells")
		}
		if got != want {
			t.Errorf("as of %d (day %+d, %d ms into it): %s, want %s", asOf, (asOf-at)/dayMs, asOf%dayMs, got, want)
		}
	}
	f(at-2*dayMs-1, "none")
	f(at-2*dayMs+150, "1")
	f(at-dayMs-1, "5")
	f(at-dayMs+3600_000, "2")
	f(at, "3")
	f(at+20, "4")
	f(at+5*dayMs, "4")
}
