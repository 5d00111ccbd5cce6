package clickhouse

import (
	"context"
	"fmt"

	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/encoding/protojson"

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
}

// NewCells returns the usage_cells table over conn.
func NewCells(conn Conn) *Cells { return &Cells{conn: conn} }

const insertCells = `INSERT INTO usage_cells (account_id, organization_id, space_id, consumer_id,
resource_instance_id, resource_id, plan, metric, scope, level, period_start_ms, period_end_ms,
quantity, quantity_json, cost, cost_json, currency, processed_ms, kafka_partition, kafka_offset)`

// Insert writes rows. Writing a row again (a replay) adds an identical copy, which reads by
// argMax ignore and merges remove.
func (c *Cells) Insert(ctx context.Context, rows []CellRow) error {
	if len(rows) == 0 {
		return nil
	}
	batch, err := c.conn.PrepareBatch(ctx, insertCells)
	if err != nil {
		return fmt.Errorf("insert usage_cells: %w", err)
	}
	defer batch.Abort() //nolint:errcheck // a no-op once sent
	for _, r := range rows {
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
			u.GetPeriodStartMs(), u.GetPeriodEndMs(), q, qj, cost, cj, u.GetCurrency(), u.GetProcessedMs(),
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
