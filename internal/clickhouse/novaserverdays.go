package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/report/nova"
)

// NovaServers is the Nova view's store: it reads nova_servers_v2 and nova_server_days_v2
// (migration 0011, one summary row per tenant and server, and per tenant, server and day, that
// ClickHouse keeps from every block of usage_events) instead of every document, and pages in
// SQL. Every quantity and sum is read as its two parts (decimalparts.go), so none is wrapped
// or cut. A day counts by its sums when every document of it lies inside the period, none is
// stored twice (its docs equal its distinct ids) and none was rejected; any other day of a
// server with usage in the period is read from its documents in usage_events FINAL, as
// NovaServerEvents reads them all, so the answer is NovaServerEvents'
// (TestNovaServerDaysAsEvents).
type NovaServers struct {
	conn Conn
}

// NewNovaServers returns the Nova view's store over conn.
func NewNovaServers(conn Conn) *NovaServers { return &NovaServers{conn: conn} }

var _ nova.Store = (*NovaServers)(nil)

// novaFilter is the tenant and instance filter of q over a table with organization_id and
// resource_instance_id.
func novaFilter(q nova.Query, where string, args []any) (string, []any) {
	if q.Tenant != "" {
		where += " AND organization_id = ?"
		args = append(args, q.Tenant)
	}
	if q.Instance != "" {
		where += " AND resource_instance_id = ?"
		args = append(args, q.Instance)
	}
	return where, args
}

// novaOrderSQL reads from nova_servers_v2 (a row per server) the servers whose documents' runs
// may overlap the period, in the view's order after q.After, at most q.Limit: first start,
// latest document, and the largest overhang of a document (how far its run lies after its
// end, which orders the days).
func novaOrderSQL(q nova.Query) (string, []any) {
	where, args := novaFilter(q, "1", nil)
	having := ""
	if a := q.After; a != nil {
		having = fmt.Sprintf(` AND (first_start > %d OR (first_start = %d AND (resource_instance_id > ? OR
  (resource_instance_id = ? AND organization_id > ?))))`, a.FirstStartMs, a.FirstStartMs)
		args = append(args, a.Instance, a.Instance, a.Tenant)
	}
	limit := ""
	if q.Limit > 0 {
		limit = fmt.Sprintf("\nLIMIT %d", q.Limit)
	}
	return fmt.Sprintf(`SELECT organization_id, resource_instance_id, minMerge(min_start) AS first_start,
  argMaxMerge(latest_plan), argMaxMerge(latest_start), argMaxMerge(latest_end),
  %s,
  maxMerge(max_overhang), maxMerge(max_run_end) AS run_end
FROM nova_servers_v2
WHERE %s
GROUP BY organization_id, resource_instance_id
HAVING first_start <= %d AND run_end >= %d%s
ORDER BY first_start, resource_instance_id, organization_id%s`,
		latestParts(func(m string) string { return "argMaxMerge(latest_" + m + ")" }), where, q.To, q.From, having, limit), args
}

// novaDaysSQL reads from nova_server_days_v2 one row per server of instances (of q's tenant)
// with a day from fromDay (epoch seconds) on that may hold usage in the period: the sums of
// its clean days (as parts, with how many documents they hold) and the days to read from the
// documents.
func novaDaysSQL(q nova.Query, instances []string, fromDay int64) (string, []any) {
	q.Instance = ""
	dayWhere, dayArgs := novaFilter(q, fmt.Sprintf("day >= toDate(toDateTime(%d, 'UTC')) AND resource_instance_id IN (SELECT arrayJoin(?))", fromDay), []any{instances})
	rejWhere, rejArgs := "resource_id = ?", []any{nova.Resource}
	if q.Tenant != "" {
		rejWhere += " AND organization_id = ?"
		rejArgs = append(rejArgs, q.Tenant)
	}
	evWhere, evArgs := novaFilter(q, "resource_id = ? AND resource_instance_id IN (SELECT arrayJoin(?))", []any{nova.Resource, instances})
	var sums, merges []string
	for _, m := range novaMeasureColumns {
		for _, part := range []string{m + "_hi", m + "_lo"} {
			sums = append(sums, "toString(sumIf(d_"+part+", clean))")
			merges = append(merges, "sumMerge("+part+") AS d_"+part)
		}
	}
	sql := fmt.Sprintf(`SELECT organization_id, resource_instance_id,
  %[6]s,
  groupArrayIf(toString(day), overlap AND NOT clean), countIf(overlap) AS in_period, sumIf(d_docs, clean)
FROM (
  SELECT *, d_start <= %[2]d AND d_run_end >= %[1]d AS overlap,
    overlap AND d_start >= %[1]d AND d_run_end <= %[2]d AND d_docs = d_ids
      AND (organization_id, resource_instance_id, day) NOT IN (
        SELECT organization_id, resource_instance_id, toDate(event_time) FROM usage_events
        WHERE %[3]s AND event_time IN (SELECT event_time FROM usage_rejections WHERE %[4]s)
          AND id IN (SELECT id FROM usage_rejections WHERE %[4]s)) AS clean
  FROM (
    SELECT organization_id, resource_instance_id, day, minMerge(min_start) AS d_start, maxMerge(max_run_end) AS d_run_end,
      %[7]s,
      countMerge(docs) AS d_docs, uniqExactMerge(ids) AS d_ids
    FROM nova_server_days_v2
    WHERE %[5]s
    GROUP BY organization_id, resource_instance_id, day
  )
)
GROUP BY organization_id, resource_instance_id
HAVING in_period > 0`, q.From, q.To, evWhere, rejWhere, dayWhere, strings.Join(sums, ", "), strings.Join(merges, ", "))
	// The arguments in the text's order: the rejected days' (events, then the two rejection
	// subqueries), the summary's.
	args := append(append(append(evArgs, rejArgs...), rejArgs...), dayArgs...)
	return sql, args
}

// novaServerDay keys a day of a server ("2006-01-02").
type novaServerDay struct{ tenant, instance, day string }

// Servers implements nova.Store.
func (s *NovaServers) Servers(ctx context.Context, q nova.Query) ([]nova.ServerRow, error) {
	out, overhang, err := s.order(ctx, q)
	if err != nil || len(out) == 0 {
		return nil, err
	}
	var instances []string
	at := map[[2]string]int{} // each server's place in out
	for i, r := range out {
		if _, ok := at[[2]string{r.Tenant, r.Instance}]; !ok {
			instances = append(instances, r.Instance)
		}
		at[[2]string{r.Tenant, r.Instance}] = i
	}
	// A document in the period ends at most overhang before it (its start or run's end is in
	// it), and its day is its end's. A run past 10^15 s overhangs by 10^18 ms (runEndMs): then
	// from the epoch's first day, not a negative time, which toDateTime would wrap.
	fromDay := max(q.From-max(overhang, 0), 0) / 1000
	dirty := map[novaServerDay]int{} // the row of each day to read from the documents
	for _, chunk := range novaChunks(instances) {
		if err := s.days(ctx, q, chunk, fromDay, at, out, dirty); err != nil {
			return nil, err
		}
	}
	if len(dirty) > 0 {
		if err := s.addDocuments(ctx, q, out, dirty); err != nil {
			return nil, err
		}
	}
	// A server whose runs only seemed to reach the period (nova_servers_v2 knows its first start
	// and last run end, not the gaps between) has no usage in it: the view leaves it out, and
	// still pages past it.
	return out, nil
}

// days adds the summed days of instances to their rows in out, and notes the days to read
// from the documents in dirty.
func (s *NovaServers) days(ctx context.Context, q nova.Query, instances []string, fromDay int64, at map[[2]string]int,
	out []nova.ServerRow, dirty map[novaServerDay]int) error {
	sql, args := novaDaysSQL(q, instances, fromDay)
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return fault.Unavailable(err, "nova_server_days_v2: read nova servers")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			tenant, instance string
			parts            [8]string
			days             []string
			inPeriod, summed uint64
		)
		dest := appendParts([]any{&tenant, &instance}, &parts)
		if err := rows.Scan(append(dest, &days, &inPeriod, &summed)...); err != nil {
			return fmt.Errorf("read nova servers: %w", err)
		}
		i, ok := at[[2]string{tenant, instance}]
		if !ok { // another tenant's server of the same id, not on this page
			continue
		}
		if out[i].Inside, err = sums(parts, summed); err != nil {
			return err
		}
		for _, d := range days {
			dirty[novaServerDay{tenant, instance, d}] = i
		}
	}
	if err := rows.Err(); err != nil {
		return fault.Unavailable(err, "nova_server_days_v2: read nova servers")
	}
	return nil
}

// novaChunkBytes bounds the instance ids of one query (each id is up to 256 characters, and a
// query's text, where the driver writes them twice, must stay under the server's
// max_query_size of 256 KiB).
const novaChunkBytes = 32 << 10

// novaChunks splits instances into runs of at most novaChunkBytes bytes of ids.
func novaChunks(instances []string) [][]string {
	var out [][]string
	from, n := 0, 0
	for i, id := range instances {
		if n+len(id) > novaChunkBytes && i > from {
			out = append(out, instances[from:i])
			from, n = i, 0
		}
		n += len(id)
	}
	return append(out, instances[from:])
}

// order reads the page's servers in the view's order, with their first starts and latest
// documents, and the largest overhang of their documents.
func (s *NovaServers) order(ctx context.Context, q nova.Query) ([]nova.ServerRow, int64, error) {
	sql, args := novaOrderSQL(q)
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, fault.Unavailable(err, "nova_servers_v2: order nova servers")
	}
	defer rows.Close()
	var (
		out      []nova.ServerRow
		overhang int64
	)
	for rows.Next() {
		var (
			r            nova.ServerRow
			latest       [8]string
			over, runEnd int64
		)
		dest := []any{&r.Tenant, &r.Instance, &r.FirstStartMs, &r.Latest.Flavor, &r.Latest.StartMs, &r.Latest.EndMs}
		dest = appendParts(dest, &latest)
		if err := rows.Scan(append(dest, &over, &runEnd)...); err != nil {
			return nil, 0, fmt.Errorf("order nova servers: %w", err)
		}
		if r.Latest.Measures, err = measures(latest); err != nil {
			return nil, 0, err
		}
		overhang = max(overhang, over)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fault.Unavailable(err, "nova_servers_v2: order nova servers")
	}
	return out, overhang, nil
}

// addDocuments reads the dirty days' documents from usage_events, classified for the period
// as NovaServerEvents classifies them, and adds them to their servers' rows.
func (s *NovaServers) addDocuments(ctx context.Context, q nova.Query, out []nova.ServerRow, dirty map[novaServerDay]int) error {
	var instances, days []string
	seenI, seenD := map[string]bool{}, map[string]bool{}
	var first, last time.Time
	for k := range dirty {
		if !seenI[k.instance] {
			seenI[k.instance] = true
			instances = append(instances, k.instance)
		}
		if !seenD[k.day] {
			d, err := time.Parse(time.DateOnly, k.day)
			if err != nil {
				return fmt.Errorf("read nova servers: day %q: %w", k.day, err)
			}
			seenD[k.day] = true
			days = append(days, k.day)
			if first.IsZero() || d.Before(first) {
				first = d
			}
			if d.After(last) {
				last = d
			}
		}
	}
	// The event_time range lets ClickHouse read the days' parts of the tenant only.
	extra := fmt.Sprintf(" AND event_time >= toDateTime(%d) AND event_time < toDateTime(%d)"+
		" AND resource_instance_id IN (SELECT arrayJoin(?)) AND has(?, toString(toDate(event_time)))",
		first.Unix(), last.AddDate(0, 0, 1).Unix())
	q.Instance = ""
	for _, chunk := range novaChunks(instances) {
		if err := s.documents(ctx, q, extra, chunk, days, out, dirty); err != nil {
			return err
		}
	}
	return nil
}

// documents reads the documents of instances' days, and adds those of dirty days to their rows.
func (s *NovaServers) documents(ctx context.Context, q nova.Query, extra string, instances, days []string,
	out []nova.ServerRow, dirty map[novaServerDay]int) error {
	from, args := novaDocsSQL(q, extra, []any{instances, days})
	rows, err := s.conn.Query(ctx, `SELECT organization_id, resource_instance_id, toString(day), `+novaPeriodColumns+`
FROM `+from+`
GROUP BY organization_id, resource_instance_id, day
HAVING in_period > 0`, args...)
	if err != nil {
		return fault.Unavailable(err, "usage_events: read nova servers' days")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k novaServerDay
			p novaPeriod
		)
		if err := rows.Scan(append([]any{&k.tenant, &k.instance, &k.day}, p.dest()...)...); err != nil {
			return fmt.Errorf("read nova servers' days: %w", err)
		}
		if i, ok := dirty[k]; ok {
			if err := p.addTo(&out[i]); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fault.Unavailable(err, "usage_events: read nova servers' days")
	}
	return nil
}
