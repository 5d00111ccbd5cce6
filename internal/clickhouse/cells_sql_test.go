package clickhouse

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/report"
)

// cellsSQLTemplate is the read of usage_cells as of a time, with the filter (%[1]s) put on
// both the daily table's and the day's rows.
const cellsSQLTemplate = `SELECT scope, space_id, consumer_id, resource_instance_id, resource_id, plan, metric, level, period_start_ms, tupleElement(latest, 1), tupleElement(latest, 2), tupleElement(latest, 3),
  tupleElement(latest, 4), tupleElement(latest, 5)
FROM (SELECT scope, space_id, consumer_id, resource_instance_id, resource_id, plan, metric, level, period_start_ms, argMax(v, (tupleElement(v, 5), tupleElement(v, 6))) AS latest
FROM (
  SELECT scope, space_id, consumer_id, resource_instance_id, resource_id, plan, metric, level, period_start_ms, argMaxMerge(latest) AS v FROM usage_cells_daily
  WHERE organization_id = ? AND visible_day < ?%[1]s
  GROUP BY scope, space_id, consumer_id, resource_instance_id, resource_id, plan, metric, level, period_start_ms
  UNION ALL
  SELECT scope, space_id, consumer_id, resource_instance_id, resource_id, plan, metric, level, period_start_ms, tuple(ifNull(toString(quantity), ''), quantity_json, ifNull(toString(cost), ''), cost_json,
    processed_ms, kafka_offset) AS v
  FROM usage_cells
  WHERE organization_id = ? AND visible >= toDateTime(?, 'UTC') AND visible_ms >= ? AND visible_ms <= ?
    AND processed_ms <= ?%[1]s
)
GROUP BY scope, space_id, consumer_id, resource_instance_id, resource_id, plan, metric, level, period_start_ms)`

// TestCellsSQL checks the exact SQL and arguments of reads as of a time, without a server.
// 2026-06-15T12:00:00Z is 1781524800000; its day starts at 1781481600000 (1781481600 s).
func TestCellsSQL(t *testing.T) {
	const (
		at    = int64(1781524800000)
		day   = int64(1781481600000)
		month = int64(1780272000000)
	)
	base := []any{"o", day, "o", day / 1000, day, at, at}
	// with puts the filter's arguments after each half's own.
	with := func(fargs ...any) []any {
		return slices.Concat(base[:2], fargs, base[2:], fargs)
	}
	for _, c := range []struct {
		name       string
		q          report.Query
		wantFilter string
		wantArgs   []any
	}{
		{"organization and time only", report.Query{Org: "o", AsOf: at}, "", base},
		{"at the first millisecond of a day", report.Query{Org: "o", AsOf: day}, "", []any{"o", day, "o", day / 1000, day, day, day}},
		{
			"scopes and periods, inline for the primary key",
			report.Query{Org: "o", AsOf: at, Scopes: []metering.Scope{metering.ScopeOrganization, metering.ScopeSpace},
				Periods: []report.Period{{Level: metering.Day, From: day}, {Level: metering.Month, From: month}}},
			" AND scope IN ('organization', 'space') AND (level, period_start_ms) IN (('day', 1781481600000), ('month', 1780272000000))",
			base,
		},
		{
			"an instance of a consumer under one plan key",
			report.Query{Org: "o", AsOf: at, Scopes: []metering.Scope{metering.ScopeInstance}, Instance: "i'1", Consumer: "app:1", Plan: "basic/m/r/p"},
			" AND scope IN ('instance') AND resource_instance_id = ? AND consumer_id = ? AND plan = ?",
			with("i'1", "app:1", "basic/m/r/p"),
		},
		{
			"every plan key of a plan id, as a range of keys",
			report.Query{Org: "o", AsOf: at, Instance: "i1", Consumer: "app:1", PlanID: "gold/annual"},
			" AND resource_instance_id = ? AND consumer_id = ? AND plan >= ? AND plan < ?",
			with("i1", "app:1", "gold/annual/", "gold/annual0"),
		},
		{
			"a plan key wins over a plan id",
			report.Query{Org: "o", AsOf: at, Plan: "basic/m/r/p", PlanID: "basic"},
			" AND plan = ?",
			with("basic/m/r/p"),
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			gotSQL, gotArgs := cellsSQL(c.q)
			if want := fmt.Sprintf(cellsSQLTemplate, c.wantFilter); gotSQL != want {
				t.Errorf("SQL\n got %s\nwant %s", gotSQL, want)
			}
			if fmt.Sprintf("%#v", gotArgs) != fmt.Sprintf("%#v", c.wantArgs) {
				t.Errorf("args\n got %#v\nwant %#v", gotArgs, c.wantArgs)
			}
			if n := strings.Count(gotSQL, "?"); n != len(gotArgs) {
				t.Errorf("%d placeholders, %d arguments", n, len(gotArgs))
			}
		})
	}
}
