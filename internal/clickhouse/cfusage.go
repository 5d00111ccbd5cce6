package clickhouse

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/report/cfrecon"
)

// CFUsageService reads and writes cf_usage_service, and reads the cf poller's metered
// documents from usage_events for the reconciliation view.
type CFUsageService struct {
	conn Conn
}

// NewCFUsageService returns the cf_usage_service table over conn.
func NewCFUsageService(conn Conn) *CFUsageService { return &CFUsageService{conn: conn} }

var _ cfrecon.Store = (*CFUsageService)(nil)

const insertCFUsage = `INSERT INTO cf_usage_service (foundation, organization, day, kind, entry, space, space_name, app, app_name,
process, instance_count, memory_mb, service_instance, service_instance_name, service_instance_type, plan, plan_name, service,
service_name, deleted, duration_seconds, read_ms)`

// Insert writes an organization day's rows (with its KindDay row) in one batch; writing the
// same rows again adds copies that merges (and FINAL) remove.
func (c *CFUsageService) Insert(ctx context.Context, rows []cfrecon.Row, read time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	batch, err := c.conn.PrepareBatch(ctx, insertCFUsage)
	if err != nil {
		return fmt.Errorf("insert cf_usage_service: %w", err)
	}
	defer batch.Abort() //nolint:errcheck // a no-op once sent
	for _, r := range rows {
		deleted := uint8(0)
		if r.Deleted {
			deleted = 1
		}
		if err := batch.Append(r.Foundation, r.Organization, r.Day.UTC(), r.Kind, uint32(r.Entry), r.Space, r.SpaceName, r.App, r.AppName,
			r.Process, r.Instances, r.Memory, r.ServiceInstance, r.InstanceName, r.InstanceType, r.Plan, r.PlanName, r.Service,
			r.ServiceName, deleted, r.Seconds, read.UnixMilli()); err != nil {
			return fmt.Errorf("insert cf_usage_service: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert cf_usage_service: %w", err)
	}
	return nil
}

// Stored returns the organization days among days that are stored (their KindDay row).
func (c *CFUsageService) Stored(ctx context.Context, days []time.Time) (map[[2]string]bool, error) {
	out := map[[2]string]bool{}
	if len(days) == 0 {
		return out, nil
	}
	ds := make([]string, len(days))
	for i, d := range days {
		ds[i] = d.UTC().Format(time.DateOnly)
	}
	rows, err := c.conn.Query(ctx, `SELECT DISTINCT organization, toString(day) FROM cf_usage_service
WHERE kind = 'day' AND has(?, toString(day))`, ds)
	if err != nil {
		return nil, fault.Unavailable(err, "cf_usage_service: read")
	}
	defer rows.Close()
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			return nil, fmt.Errorf("read cf_usage_service: %w", err)
		}
		out[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Unavailable(err, "cf_usage_service: read")
	}
	return out, nil
}

// UsageService implements cfrecon.Store.
func (c *CFUsageService) UsageService(ctx context.Context, org string, day time.Time) ([]cfrecon.Row, bool, error) {
	var n uint64
	if err := c.conn.QueryRow(ctx, `SELECT count() FROM cf_usage_service WHERE organization = ?`, org).Scan(&n); err != nil {
		return nil, false, fault.Unavailable(err, "cf_usage_service: read")
	}
	if n == 0 {
		return nil, false, nil
	}
	rows, err := c.conn.Query(ctx, `SELECT foundation, kind, entry, space, space_name, app, app_name, process, instance_count, memory_mb,
  service_instance, service_instance_name, service_instance_type, plan, plan_name, service, service_name, deleted, toString(duration_seconds)
FROM cf_usage_service FINAL
WHERE organization = ? AND day = toDate(?)
ORDER BY kind, entry, foundation`, org, day.UTC().Format(time.DateOnly))
	if err != nil {
		return nil, true, fault.Unavailable(err, "cf_usage_service: read")
	}
	defer rows.Close()
	var out []cfrecon.Row
	for rows.Next() {
		r := cfrecon.Row{Organization: org, Day: day}
		var entry uint32
		var deleted uint8
		var sec string
		if err := rows.Scan(&r.Foundation, &r.Kind, &entry, &r.Space, &r.SpaceName, &r.App, &r.AppName, &r.Process, &r.Instances, &r.Memory,
			&r.ServiceInstance, &r.InstanceName, &r.InstanceType, &r.Plan, &r.PlanName, &r.Service, &r.ServiceName, &deleted, &sec); err != nil {
			return nil, true, fmt.Errorf("read cf_usage_service: %w", err)
		}
		r.Entry, r.Deleted = int(entry), deleted != 0
		if r.Seconds, err = decimal.NewFromString(sec); err != nil {
			return nil, true, fmt.Errorf("read cf_usage_service: duration %q: %w", sec, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, true, fault.Unavailable(err, "cf_usage_service: read")
	}
	return out, true, nil
}

// The footprint a cf document sets: memory per instance (bytes) and instances (running
// instances of a process, or 1/0 of a service instance; a document has one of the two).
const (
	cfMemory    = `measured_usage.quantity[indexOf(measured_usage.measure, 'current_instance_memory')]`
	cfInstances = `(measured_usage.quantity[indexOf(measured_usage.measure, 'current_running_instances')] + measured_usage.quantity[indexOf(measured_usage.measure, 'current_instances')])`
	cfCounted   = `organization_id = ? AND has(?, resource_id)
  AND id NOT IN (SELECT id FROM usage_rejections WHERE organization_id = ? AND has(?, resource_id))`
	cfKey = `(start_ms, kafka_partition, kafka_offset)`
)

// Metered implements cfrecon.Store: the counted documents (FINAL: a document stored twice
// once; not those in usage_rejections) of the organization's apps, tasks and service instances in
// [fromMs, toMs), and each instance's latest before fromMs (what it ran at fromMs).
func (c *CFUsageService) Metered(ctx context.Context, org string, fromMs, toMs int64) ([]cfrecon.Step, error) {
	res := []string{cfrecon.ResourceApp, cfrecon.ResourceTask, cfrecon.ResourceService}
	inside := `SELECT resource_id, resource_instance_id, space_id, consumer_id, start_ms, kafka_partition, kafka_offset,
  toString(` + cfMemory + `), toString(` + cfInstances + `)
FROM usage_events FINAL
WHERE ` + cfCounted + ` AND start_ms >= ? AND start_ms < ?`
	before := `SELECT resource_id, resource_instance_id, argMax(space_id, ` + cfKey + `), argMax(consumer_id, ` + cfKey + `), max(start_ms),
  argMax(kafka_partition, ` + cfKey + `), argMax(kafka_offset, ` + cfKey + `),
  toString(argMax(` + cfMemory + `, ` + cfKey + `)), toString(argMax(` + cfInstances + `, ` + cfKey + `))
FROM usage_events FINAL
WHERE ` + cfCounted + ` AND start_ms < ?
GROUP BY resource_id, resource_instance_id`
	type keyed struct {
		cfrecon.Step
		partition int32
		offset    int64
	}
	var all []keyed
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{inside, []any{org, res, org, res, fromMs, toMs}},
		{before, []any{org, res, org, res, fromMs}},
	} {
		rows, err := c.conn.Query(ctx, q.sql, q.args...)
		if err != nil {
			return nil, fault.Unavailable(err, "usage_events: read cf usage")
		}
		for rows.Next() {
			var k keyed
			var mem, inst string
			if err := rows.Scan(&k.Resource, &k.Instance, &k.Space, &k.Consumer, &k.AtMs, &k.partition, &k.offset, &mem, &inst); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read cf usage: %w", err)
			}
			var e1, e2 error
			k.Memory, e1 = decimal.NewFromString(mem)
			k.Instances, e2 = decimal.NewFromString(inst)
			if e1 != nil || e2 != nil {
				rows.Close()
				return nil, fmt.Errorf("read cf usage: memory %q, instances %q are not decimals", mem, inst)
			}
			all = append(all, k)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fault.Unavailable(err, "usage_events: read cf usage")
		}
	}
	slices.SortFunc(all, func(a, b keyed) int {
		return cmp.Or(strings.Compare(a.Resource, b.Resource), strings.Compare(a.Instance, b.Instance), cmp.Compare(a.AtMs, b.AtMs),
			cmp.Compare(a.partition, b.partition), cmp.Compare(a.offset, b.offset))
	})
	out := make([]cfrecon.Step, len(all))
	for i, k := range all {
		out[i] = k.Step
	}
	return out, nil
}
