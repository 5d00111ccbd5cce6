// Test support: the Nova view's reference store, which reads every document of a tenant
// (internal/report/nova's first store). The summaries of nova_server_days_v2 are tested against
// it; `make lint`'s dead-code check passes over this file, since only tests reach it.

package clickhouse

import (
	"context"
	"fmt"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/report/nova"
)

// NovaServerEvents reads the servers of the Nova view from every document in usage_events:
// per server, its first start and its latest document over all time, and the usage of its
// counted documents in a period (those the processor rejected, in usage_rejections, are not
// counted). It is the reference NovaServers (nova_server_days) is tested against; it reads
// the tenant's whole history and pages in Go.
type NovaServerEvents struct {
	conn Conn
}

// NewNovaServerEvents returns the Nova view's reference store over conn.
func NewNovaServerEvents(conn Conn) *NovaServerEvents { return &NovaServerEvents{conn: conn} }

var _ nova.Store = (*NovaServerEvents)(nil)

// novaServersSQL reads one row per server in one pass over the tenant's documents (every
// tenant's without one).
func novaServersSQL(q nova.Query) (string, []any) {
	from, args := novaDocsSQL(q, "", nil)
	return `SELECT organization_id, resource_instance_id, min(start_ms),
  argMax(plan_id, (end_ms, start_ms, id)), argMax(start_ms, (end_ms, start_ms, id)), argMax(end_ms, (end_ms, start_ms, id)),
  ` + latestParts(func(m string) string { return "argMax(" + m + ", (end_ms, start_ms, id))" }) + `,
  ` + novaPeriodColumns + `
FROM ` + from + `
GROUP BY organization_id, resource_instance_id
HAVING in_period > 0`, args
}

// Servers implements nova.Store.
func (s *NovaServerEvents) Servers(ctx context.Context, q nova.Query) ([]nova.ServerRow, error) {
	sql, args := novaServersSQL(q)
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fault.Unavailable(err, "usage_events: read nova servers")
	}
	defer rows.Close()
	var out []nova.ServerRow
	for rows.Next() {
		var (
			r      nova.ServerRow
			latest [8]string
			p      novaPeriod
		)
		dest := []any{&r.Tenant, &r.Instance, &r.FirstStartMs, &r.Latest.Flavor, &r.Latest.StartMs, &r.Latest.EndMs}
		dest = appendParts(dest, &latest)
		if err := rows.Scan(append(dest, p.dest()...)...); err != nil {
			return nil, fmt.Errorf("read nova servers: %w", err)
		}
		if r.Latest.Measures, err = measures(latest); err != nil {
			return nil, err
		}
		if err := p.addTo(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Unavailable(err, "usage_events: read nova servers")
	}
	return out, nil
}
