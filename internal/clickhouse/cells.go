package clickhouse

import (
	"context"
	"fmt"

	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/meterline/meterline/internal/platform/clock"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// CellRow is one committed value of a window cell with where it was read from Kafka.
type CellRow struct {
	Cell      *meterlinev1.RatedUsage
	Partition int32
	Offset    int64
}

// Cells writes the table usage_cells.
type Cells struct {
	conn Conn
	// Clock gives the write time, visible_ms; nil is the wall clock. Tests pin it to write
	// rows of a fixed time.
	Clock clock.Clock
}

// NewCells returns the usage_cells table over conn, written at the wall clock's time.
func NewCells(conn Conn) *Cells { return &Cells{conn: conn} }

const insertCells = `INSERT INTO usage_cells (account_id, organization_id, space_id, consumer_id,
resource_instance_id, resource_id, plan, metric, scope, level, period_start_ms, period_end_ms,
quantity, quantity_json, cost, cost_json, currency, processed_ms, visible_ms, kafka_partition, kafka_offset)`

// cellID is what identifies a cell (its versions differ in value and processed time).
type cellID struct {
	org, space, consumer, instance, resource, plan, metric, scope, level string
	from                                                                 int64
}

// Insert writes rows, all with the same visible_ms: the time of the write. Of several values of
// one cell in rows only the last (the greatest offset; a cell's values share a partition) is
// written: an earlier one was never visible, so no report can miss it, and the table grows
// by at most one row per cell per write. Writing rows again (a replay) adds copies with a later
// visible_ms, which reads by argMax take for the same values.
func (c *Cells) Insert(ctx context.Context, rows []CellRow) error {
	if len(rows) == 0 {
		return nil
	}
	last := make(map[cellID]int, len(rows))
	for i, r := range rows {
		u := r.Cell
		id := cellID{u.GetOrganizationId(), u.GetSpaceId(), u.GetConsumerId(), u.GetResourceInstanceId(), u.GetResourceId(),
			u.GetPlan(), u.GetMetric(), u.GetScope(), u.GetLevel(), u.GetPeriodStartMs()}
		if j, ok := last[id]; !ok || rows[j].Offset < r.Offset {
			last[id] = i
		}
	}
	visible := clock.Or(c.Clock).Now().UnixMilli()
	batch, err := c.conn.PrepareBatch(ctx, insertCells)
	if err != nil {
		return fmt.Errorf("insert usage_cells: %w", err)
	}
	defer batch.Abort() //nolint:errcheck // a no-op once sent
	for _, i := range last {
		r := rows[i]
		u := r.Cell
		q, qj, err := valueColumns(u.GetQuantity())
		if err != nil {
			return fmt.Errorf("insert usage_cells: quantity: %w", err)
		}
		cost, cj, err := valueColumns(u.GetCost())
		if err != nil {
			return fmt.Errorf("insert usage_cells: cost: %w", err)
		}
		if err := batch.Append(u.GetAccountId(), u.GetOrganizationId(), u.GetSpaceId(), u.GetConsumerId(),
			u.GetResourceInstanceId(), u.GetResourceId(), u.GetPlan(), u.GetMetric(), u.GetScope(), u.GetLevel(),
			u.GetPeriodStartMs(), u.GetPeriodEndMs(), q, qj, cost, cj, u.GetCurrency(), u.GetProcessedMs(), visible,
			r.Partition, r.Offset); err != nil {
			return fmt.Errorf("insert usage_cells: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert usage_cells: %w", err)
	}
	return nil
}

// valueColumns splits a value into its Decimal column (nil unless a decimal) and its JSON
// column ("" unless a map).
func valueColumns(v *meterlinev1.Value) (*decimal.Decimal, string, error) {
	switch k := v.GetKind().(type) {
	case *meterlinev1.Value_Decimal:
		d, err := decimal.NewFromString(k.Decimal)
		if err != nil {
			return nil, "", err
		}
		return &d, "", nil
	case *meterlinev1.Value_Map:
		b, err := protojson.Marshal(k.Map)
		return nil, string(b), err
	default:
		return nil, "", nil
	}
}
