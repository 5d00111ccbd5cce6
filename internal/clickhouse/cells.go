package clickhouse

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// CellRow is one committed value of a window cell with where it was read from Kafka.
type CellRow struct {
	Cell      *meterlinev1.RatedUsage
	Partition int32
	Offset    int64
}

// Cells is the table usage_cells: the cell sink writes it (Insert), the reports read it as of
// a time (Read, report's Store).
type Cells struct {
	conn Conn
	// Clock gives the write time, visible_ms; nil is the wall clock. Tests pin it to write
	// rows of a fixed time.
	Clock clock.Clock
}

// NewCells returns the usage_cells table over conn, written at the wall clock's time.
func NewCells(conn Conn) *Cells { return &Cells{conn: conn} }

var _ report.Store = (*Cells)(nil)

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

// cellKeys are the columns that name a cell.
const cellKeys = "scope, space_id, consumer_id, resource_instance_id, resource_id, plan, metric, level, period_start_ms"

// Read returns the cells q selects, each with its value as of q.AsOf: among the rows
// processed and written (visible_ms) by then, the one with the greatest processed_ms; of two
// with the same processed_ms (two transactions in one millisecond) the later in the rated
// topic, where every version of a cell is in the same partition. Rows written after q.AsOf are
// not read even when processed before, so the answer for a past time never changes.
func (c *Cells) Read(ctx context.Context, q report.Query) ([]report.Cell, error) {
	query, args := cellsSQL(q)
	rows, err := c.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, fault.Unavailable(err, "usage_cells: read cells of %s", q.Org)
	}
	defer rows.Close()
	var out []report.Cell
	for rows.Next() {
		var (
			rc                report.Cell
			scope, level      string
			qty, qj, cost, cj string
		)
		if err := rows.Scan(&scope, &rc.Space, &rc.Consumer, &rc.Instance, &rc.Resource, &rc.Plan, &rc.Metric, &level,
			&rc.From, &qty, &qj, &cost, &cj, &rc.Processed); err != nil {
			return nil, fault.Unavailable(err, "usage_cells: read cells of %s", q.Org)
		}
		var ok bool
		if rc.Scope, ok = metering.ParseScope(scope); !ok {
			return nil, fmt.Errorf("usage_cells: unknown scope %q", scope)
		}
		if rc.Level, ok = metering.ParseLevel(level); !ok {
			return nil, fmt.Errorf("usage_cells: unknown level %q", level)
		}
		if rc.Quantity, err = cellValue(qty, qj); err != nil {
			return nil, fmt.Errorf("usage_cells: quantity of a cell of %s: %w", q.Org, err)
		}
		if rc.Cost, err = cellValue(cost, cj); err != nil {
			return nil, fmt.Errorf("usage_cells: cost of a cell of %s: %w", q.Org, err)
		}
		out = append(out, rc)
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Unavailable(err, "usage_cells: read cells of %s", q.Org)
	}
	return out, nil
}

// cellsSQL is the query Read runs for q, with its arguments.
//
// The rows written on the days before q.AsOf's day are read as their daily latest values
// (usage_cells_daily), the rows of that day from usage_cells (whose partitions by write day
// let the read skip the others), so a read costs at most a day of a cell's versions. A row
// written before q.AsOf's day was processed before it too (processing comes before writing),
// so only that day's rows need the processed_ms filter. Decimals are read as text so that a
// NULL (a map value) takes no part in argMax's choice. It uses nothing newer than ClickHouse
// 18.16 has (tuples, argMax, the -Merge combinator; no window functions, DateTime64 or Map).
func cellsSQL(q report.Query) (string, []any) {
	day := q.AsOf - q.AsOf%86_400_000
	filter, fargs := cellFilter(q)
	query := `SELECT ` + cellKeys + `, tupleElement(latest, 1), tupleElement(latest, 2), tupleElement(latest, 3),
  tupleElement(latest, 4), tupleElement(latest, 5)
FROM (SELECT ` + cellKeys + `, argMax(v, (tupleElement(v, 5), tupleElement(v, 6))) AS latest
FROM (
  SELECT ` + cellKeys + `, argMaxMerge(latest) AS v FROM usage_cells_daily
  WHERE organization_id = ? AND visible_day < ?` + filter + `
  GROUP BY ` + cellKeys + `
  UNION ALL
  SELECT ` + cellKeys + `, tuple(ifNull(toString(quantity), ''), quantity_json, ifNull(toString(cost), ''), cost_json,
    processed_ms, kafka_offset) AS v
  FROM usage_cells
  WHERE organization_id = ? AND visible >= toDateTime(?, 'UTC') AND visible_ms >= ? AND visible_ms <= ?
    AND processed_ms <= ?` + filter + `
)
GROUP BY ` + cellKeys + `)`
	args := append([]any{q.Org, day}, fargs...)
	args = append(append(args, q.Org, day/1000, day, q.AsOf, q.AsOf), fargs...)
	return query, args
}

// cellFilter is the condition q puts on the cells besides the organization and the time,
// with its arguments. Scopes, levels and period starts are ours, not the caller's text:
// written inline, they let the primary key (organization_id, level, period_start_ms, scope,
// ...) narrow the read.
func cellFilter(q report.Query) (string, []any) {
	var (
		sb   strings.Builder
		args []any
	)
	if len(q.Scopes) > 0 {
		sb.WriteString(" AND scope IN (")
		for i, s := range q.Scopes {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("'" + s.String() + "'")
		}
		sb.WriteString(")")
	}
	if len(q.Periods) > 0 {
		sb.WriteString(" AND (level, period_start_ms) IN (")
		for i, p := range q.Periods {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("('" + p.Level.String() + "', " + strconv.FormatInt(p.From, 10) + ")")
		}
		sb.WriteString(")")
	}
	if q.Instance != "" {
		sb.WriteString(" AND resource_instance_id = ? AND consumer_id = ?")
		args = append(args, q.Instance, q.Consumer)
	}
	switch {
	case q.Plan != "":
		sb.WriteString(" AND plan = ?")
		args = append(args, q.Plan)
	case q.PlanID != "":
		// Plan keys are "<plan_id>/<metering>/<rating>/<pricing>"; '0' follows '/'.
		sb.WriteString(" AND plan >= ? AND plan < ?")
		args = append(args, q.PlanID+"/", q.PlanID+"0")
	}
	return sb.String(), args
}

// cellValue reads a value from its Decimal column's text and its JSON column; both empty is
// nothing.
func cellValue(dec, js string) (report.Value, error) {
	switch {
	case dec != "":
		d, err := decimal.NewFromString(dec)
		return report.DecimalValue(d), err
	case js != "":
		m, ok := decodeMapJSON(js)
		if !ok {
			m = &meterlinev1.MapValue{}
			if err := protojson.Unmarshal([]byte(js), m); err != nil {
				return report.Value{}, err
			}
		}
		v, err := metering.ValueFromProto(&meterlinev1.Value{Kind: &meterlinev1.Value_Map{Map: m}})
		if err != nil {
			return report.Value{}, err
		}
		return report.ValueOf(v)
	default:
		return report.Value{}, nil
	}
}
