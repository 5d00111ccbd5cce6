package clickhouse_test

import (
	"context"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/report/reporttest"
	"github.com/meterline/meterline/internal/testenv"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// cellRow is a version as the cell sink has it, read from the rated topic.
func cellRow(t testing.TB, v reporttest.Version) clickhouse.CellRow {
	t.Helper()
	c := v.Cell
	q, err := metering.ValueProto(c.Quantity.Any())
	if err != nil {
		t.Fatal(err)
	}
	cost, err := metering.ValueProto(c.Cost.Any())
	if err != nil {
		t.Fatal(err)
	}
	_, to := c.Level.Period(c.From)
	return clickhouse.CellRow{Offset: v.Offset, Cell: &meterlinev1.RatedUsage{OrganizationId: v.Org, SpaceId: c.Space,
		ConsumerId: c.Consumer, ResourceInstanceId: c.Instance, ResourceId: c.Resource, Plan: c.Plan, Metric: c.Metric,
		Scope: c.Scope.String(), Level: c.Level.String(), PeriodStartMs: c.From, PeriodEndMs: to, Quantity: q, Cost: cost,
		ProcessedMs: c.Processed}}
}

// TestCellsStore runs the report store suite on usage_cells of the real ClickHouse, each
// write an Insert at its versions' visible time.
func TestCellsStore(t *testing.T) {
	reporttest.Store(t, func(t *testing.T) (report.Store, func(vs ...reporttest.Version)) {
		conn := testenv.ClickHouse(t, testenv.Get(t).Config(t))
		cells := clickhouse.NewCells(conn)
		return cells, func(vs ...reporttest.Version) {
			t.Helper()
			var rows []clickhouse.CellRow
			for _, v := range vs {
				if v.Visible != vs[0].Visible {
					t.Fatalf("one write at two times: %d and %d", vs[0].Visible, v.Visible)
				}
				rows = append(rows, cellRow(t, v))
			}
			cells.Clock = clock.NewManual(time.UnixMilli(vs[0].Visible))
			if err := cells.Insert(context.Background(), rows); err != nil {
				t.Fatal(err)
			}
		}
	})
}
