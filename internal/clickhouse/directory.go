package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/report/directory"
)

// Directory reads the lists of internal/report/directory: the organizations with usage (from
// the monthly organization cells of usage_cells_daily) and their rejections (usage_rejections).
type Directory struct {
	conn Conn
}

var _ directory.Store = (*Directory)(nil)

// NewDirectory returns the directory over conn.
func NewDirectory(conn Conn) *Directory { return &Directory{conn: conn} }

// placeholders returns "?, ?, ..." for n arguments.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// whereEq adds " AND column = ?" to sql and value to args when value is not empty; empty
// selects every value of column.
func whereEq(sql string, args []any, column, value string) (string, []any) {
	if value == "" {
		return sql, args
	}
	return sql + " AND " + column + " = ?", append(args, value)
}

// whereIn adds " AND column IN (?, ...)" over values to sql and values to args when values is
// not nil; nil selects every value of column. A non-nil empty values selects nothing: none is
// then true, and the caller answers no rows without asking (ClickHouse refuses "IN ()").
func whereIn(sql string, args []any, column string, values []string) (_ string, _ []any, none bool) {
	if values == nil {
		return sql, args, false
	}
	if len(values) == 0 {
		return sql, args, true
	}
	for _, v := range values {
		args = append(args, v)
	}
	return sql + " AND " + column + " IN (" + placeholders(len(values)) + ")", args, false
}

// list runs sql with args and scans each row with scan, in the order ClickHouse returns them.
// A query, a row or a read that fails is fault.Unavailable saying what, and no rows.
func list[T any](ctx context.Context, conn Conn, what, sql string, args []any, scan func(driver.Rows) (T, error)) ([]T, error) {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fault.Unavailable(err, "%s", what)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fault.Unavailable(err, "%s", what)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Unavailable(err, "%s", what)
	}
	return out, nil
}

// monthEnd is the end, in epoch ms, of the UTC month that starts at start (epoch ms).
func monthEnd(start int64) int64 {
	return time.UnixMilli(start).UTC().AddDate(0, 1, 0).UnixMilli()
}

// Organizations returns the organizations with counted usage selected by q, by id.
func (d *Directory) Organizations(ctx context.Context, q directory.OrganizationQuery) ([]directory.Organization, error) {
	sql, args, none := whereIn(`SELECT organization_id, min(period_start_ms), max(period_start_ms) FROM usage_cells_daily
WHERE level = 'month' AND scope = 'organization' AND organization_id > ?`, []any{q.After}, "organization_id", q.Only)
	if none {
		return nil, nil
	}
	sql += fmt.Sprintf(" GROUP BY organization_id ORDER BY organization_id LIMIT %d", q.Limit)
	return list(ctx, d.conn, "usage_cells_daily: list organizations", sql, args, func(rows driver.Rows) (directory.Organization, error) {
		var (
			o    directory.Organization
			last int64
		)
		if err := rows.Scan(&o.OrganizationID, &o.From, &last); err != nil {
			return o, err
		}
		o.To = monthEnd(last)
		return o, nil
	})
}

// Rejections returns the rejections selected by q, latest processed first (FINAL: a row a
// replay wrote twice is one).
func (d *Directory) Rejections(ctx context.Context, q directory.RejectionQuery) ([]directory.Rejection, error) {
	sql, args, none := whereIn(`SELECT id, resource_id, plan_id, end_ms, code, reason, processed_ms FROM usage_rejections FINAL
WHERE organization_id = ?`, []any{q.Organization}, "resource_id", q.Resources)
	if none {
		return nil, nil
	}
	sql += fmt.Sprintf(" ORDER BY processed_ms DESC, id LIMIT %d", q.Limit)
	what := fmt.Sprintf("usage_rejections: list rejections of %s", q.Organization)
	return list(ctx, d.conn, what, sql, args, func(rows driver.Rows) (directory.Rejection, error) {
		var r directory.Rejection
		err := rows.Scan(&r.ID, &r.ResourceID, &r.PlanID, &r.End, &r.Code, &r.Reason, &r.Processed)
		return r, err
	})
}

// Instances returns the instances with usage selected by q, from their monthly instance cells
// of each plan.
func (d *Directory) Instances(ctx context.Context, q directory.InstanceQuery) ([]directory.Instance, error) {
	sql := `SELECT space_id, consumer_id, resource_instance_id, resource_id, plan, min(period_start_ms), max(period_start_ms)
FROM usage_cells_daily WHERE organization_id = ? AND level = 'month' AND scope = 'instance' AND plan != ''`
	args := []any{q.Organization}
	sql, args = whereEq(sql, args, "space_id", q.Space)
	sql, args = whereEq(sql, args, "consumer_id", q.Consumer)
	sql, args, none := whereIn(sql, args, "resource_id", q.Resources)
	if none {
		return nil, nil
	}
	sql += fmt.Sprintf(` GROUP BY space_id, consumer_id, resource_instance_id, resource_id, plan
ORDER BY space_id, consumer_id, resource_instance_id, resource_id, plan LIMIT %d`, q.Limit)
	what := fmt.Sprintf("usage_cells_daily: list instances of %s", q.Organization)
	return list(ctx, d.conn, what, sql, args, func(rows driver.Rows) (directory.Instance, error) {
		var (
			in   directory.Instance
			plan string
			last int64
		)
		if err := rows.Scan(&in.SpaceID, &in.ConsumerID, &in.ResourceInstanceID, &in.ResourceID, &plan, &in.From, &last); err != nil {
			return in, err
		}
		// A plan key is "<plan_id>/<metering plan>/<rating plan>/<pricing plan>" (docs/tables.md).
		ids := strings.SplitN(plan, "/", 4)
		for len(ids) < 4 {
			ids = append(ids, "")
		}
		in.PlanID, in.MeteringPlanID, in.RatingPlanID, in.PricingPlanID = ids[0], ids[1], ids[2], ids[3]
		in.To = monthEnd(last)
		return in, nil
	})
}
