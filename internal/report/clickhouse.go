package report

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/metering"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// ClickHouseStore is the Store of the ClickHouse table usage_cells.
type ClickHouseStore struct {
	conn clickhouse.Conn
}

var _ Store = (*ClickHouseStore)(nil)

// NewClickHouseStore returns the Store over conn.
func NewClickHouseStore(conn clickhouse.Conn) *ClickHouseStore { return &ClickHouseStore{conn: conn} }

// Cells returns the cells q selects, each with its value as of q.AsOf: among the rows
// processed and written (visible_ms) by then, the one with the greatest processed_ms; of two
// with the same processed_ms (two transactions in one millisecond) the later in the rated
// topic, where every version of a cell is in the same partition. Rows written after q.AsOf are
// not read even when processed before, so the answer for a past time never changes.
//
// The rows written on the days before q.AsOf's day are read as their daily latest values
// (usage_cells_daily), the rows of that day from usage_cells (whose partitions by write day
// let the read skip the others), so a read costs at most a day of a cell's versions. A row
// written before q.AsOf's day was processed before it too (processing comes before writing),
// so only that day's rows need the processed_ms filter. Decimals are read as text so that a
// NULL (a map value) takes no part in argMax's choice.
func (r *ClickHouseStore) Cells(ctx context.Context, q Query) ([]Cell, error) {
	const keys = "scope, space_id, consumer_id, resource_instance_id, resource_id, plan, metric, level, period_start_ms"
	day := q.AsOf - q.AsOf%86_400_000
	filter, fargs := cellFilter(q)
	var sb strings.Builder
	sb.WriteString(`SELECT ` + keys + `, tupleElement(latest, 1), tupleElement(latest, 2), tupleElement(latest, 3),
  tupleElement(latest, 4), tupleElement(latest, 5)
FROM (SELECT ` + keys + `, argMax(v, (tupleElement(v, 5), tupleElement(v, 6))) AS latest
FROM (
  SELECT ` + keys + `, argMaxMerge(latest) AS v FROM usage_cells_daily
  WHERE organization_id = ? AND visible_day < ?` + filter + `
  GROUP BY ` + keys + `
  UNION ALL
  SELECT ` + keys + `, tuple(ifNull(toString(quantity), ''), quantity_json, ifNull(toString(cost), ''), cost_json,
    processed_ms, kafka_offset) AS v
  FROM usage_cells
  WHERE organization_id = ? AND visible >= toDateTime(?, 'UTC') AND visible_ms >= ? AND visible_ms <= ?
    AND processed_ms <= ?` + filter + `
)
GROUP BY ` + keys + `)`)
	args := append([]any{q.Org, day}, fargs...)
	args = append(append(args, q.Org, day/1000, day, q.AsOf, q.AsOf), fargs...)
	rows, err := r.conn.Query(ctx, sb.String(), args...)
	if err != nil {
		return nil, fault.Unavailable(err, "usage_cells: read cells of %s", q.Org)
	}
	defer rows.Close()
	var out []Cell
	for rows.Next() {
		var (
			c                 Cell
			scope, level      string
			qty, qj, cost, cj string
		)
		if err := rows.Scan(&scope, &c.Space, &c.Consumer, &c.Instance, &c.Resource, &c.Plan, &c.Metric, &level,
			&c.From, &qty, &qj, &cost, &cj, &c.Processed); err != nil {
			return nil, fault.Unavailable(err, "usage_cells: read cells of %s", q.Org)
		}
		var ok bool
		if c.Scope, ok = metering.ParseScope(scope); !ok {
			return nil, fmt.Errorf("usage_cells: unknown scope %q", scope)
		}
		if c.Level, ok = metering.ParseLevel(level); !ok {
			return nil, fmt.Errorf("usage_cells: unknown level %q", level)
		}
		if c.Quantity, err = cellValue(qty, qj); err != nil {
			return nil, fmt.Errorf("usage_cells: quantity of a cell of %s: %w", q.Org, err)
		}
		if c.Cost, err = cellValue(cost, cj); err != nil {
			return nil, fmt.Errorf("usage_cells: cost of a cell of %s: %w", q.Org, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Unavailable(err, "usage_cells: read cells of %s", q.Org)
	}
	return out, nil
}

// cellFilter is the condition q puts on the cells besides the organization and the time,
// with its arguments. Scopes, levels and period starts are ours, not the caller's text:
// written inline, they let the primary key (organization_id, level, period_start_ms, scope,
// ...) narrow the read.
func cellFilter(q Query) (string, []any) {
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

// cellValue reads a value from its Decimal column's text and its JSON column.
func cellValue(dec, js string) (any, error) {
	switch {
	case dec != "":
		return decimal.NewFromString(dec)
	case js != "":
		var m meterlinev1.MapValue
		if err := protojson.Unmarshal([]byte(js), &m); err != nil {
			return nil, err
		}
		return metering.ValueFromProto(&meterlinev1.Value{Kind: &meterlinev1.Value_Map{Map: &m}})
	default:
		return nil, nil
	}
}
