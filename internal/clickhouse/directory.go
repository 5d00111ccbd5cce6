package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

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

// Organizations returns the organizations with counted usage selected by q, by id.
func (d *Directory) Organizations(ctx context.Context, q directory.OrganizationQuery) ([]directory.Organization, error) {
	sql := `SELECT organization_id, min(period_start_ms), max(period_start_ms) FROM usage_cells_daily
WHERE level = 'month' AND scope = 'organization' AND organization_id > ?`
	args := []any{q.After}
	if q.Only != nil {
		if len(q.Only) == 0 {
			return nil, nil
		}
		sql += " AND organization_id IN (" + placeholders(len(q.Only)) + ")"
		for _, o := range q.Only {
			args = append(args, o)
		}
	}
	sql += fmt.Sprintf(" GROUP BY organization_id ORDER BY organization_id LIMIT %d", q.Limit)
	rows, err := d.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fault.Unavailable(err, "usage_cells_daily: list organizations")
	}
	defer rows.Close()
	var out []directory.Organization
	for rows.Next() {
		var (
			o    directory.Organization
			last int64
		)
		if err := rows.Scan(&o.OrganizationID, &o.From, &last); err != nil {
			return nil, fault.Unavailable(err, "usage_cells_daily: list organizations")
		}
		o.To = time.UnixMilli(last).UTC().AddDate(0, 1, 0).UnixMilli()
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Unavailable(err, "usage_cells_daily: list organizations")
	}
	return out, nil
}

// Rejections returns the rejections selected by q, latest processed first (FINAL: a row a
// replay wrote twice is one).
func (d *Directory) Rejections(ctx context.Context, q directory.RejectionQuery) ([]directory.Rejection, error) {
	sql := `SELECT id, resource_id, plan_id, end_ms, code, reason, processed_ms FROM usage_rejections FINAL
WHERE organization_id = ?`
	args := []any{q.Organization}
	if q.Resources != nil {
		if len(q.Resources) == 0 {
			return nil, nil
		}
		sql += " AND resource_id IN (" + placeholders(len(q.Resources)) + ")"
		for _, r := range q.Resources {
			args = append(args, r)
		}
	}
	sql += fmt.Sprintf(" ORDER BY processed_ms DESC, id LIMIT %d", q.Limit)
	rows, err := d.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fault.Unavailable(err, "usage_rejections: list rejections of %s", q.Organization)
	}
	defer rows.Close()
	var out []directory.Rejection
	for rows.Next() {
		var r directory.Rejection
		if err := rows.Scan(&r.ID, &r.ResourceID, &r.PlanID, &r.End, &r.Code, &r.Reason, &r.Processed); err != nil {
			return nil, fault.Unavailable(err, "usage_rejections: list rejections of %s", q.Organization)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Unavailable(err, "usage_rejections: list rejections of %s", q.Organization)
	}
	return out, nil
}

// Instances returns the instances with usage selected by q, from their monthly instance cells
// of each plan.
func (d *Directory) Instances(ctx context.Context, q directory.InstanceQuery) ([]directory.Instance, error) {
	sql := `SELECT space_id, consumer_id, resource_instance_id, resource_id, plan, min(period_start_ms), max(period_start_ms)
FROM usage_cells_daily WHERE organization_id = ? AND level = 'month' AND scope = 'instance' AND plan != ''`
	args := []any{q.Organization}
	if q.Space != "" {
		sql += " AND space_id = ?"
		args = append(args, q.Space)
	}
	if q.Consumer != "" {
		sql += " AND consumer_id = ?"
		args = append(args, q.Consumer)
	}
	if q.Resources != nil {
		if len(q.Resources) == 0 {
			return nil, nil
		}
		sql += " AND resource_id IN (" + placeholders(len(q.Resources)) + ")"
		for _, r := range q.Resources {
			args = append(args, r)
		}
	}
	sql += fmt.Sprintf(` GROUP BY space_id, consumer_id, resource_instance_id, resource_id, plan
ORDER BY space_id, consumer_id, resource_instance_id, resource_id, plan LIMIT %d`, q.Limit)
	rows, err := d.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fault.Unavailable(err, "usage_cells_daily: list instances of %s", q.Organization)
	}
	defer rows.Close()
	var out []directory.Instance
	for rows.Next() {
		var (
			in   directory.Instance
			plan string
			last int64
		)
		if err := rows.Scan(&in.SpaceID, &in.ConsumerID, &in.ResourceInstanceID, &in.ResourceID, &plan, &in.From, &last); err != nil {
			return nil, fault.Unavailable(err, "usage_cells_daily: list instances of %s", q.Organization)
		}
		// A plan key is "<plan_id>/<metering plan>/<rating plan>/<pricing plan>" (docs/tables.md).
		ids := strings.SplitN(plan, "/", 4)
		for len(ids) < 4 {
			ids = append(ids, "")
		}
		in.PlanID, in.MeteringPlanID, in.RatingPlanID, in.PricingPlanID = ids[0], ids[1], ids[2], ids[3]
		in.To = time.UnixMilli(last).UTC().AddDate(0, 1, 0).UnixMilli()
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Unavailable(err, "usage_cells_daily: list instances of %s", q.Organization)
	}
	return out, nil
}
