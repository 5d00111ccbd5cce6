package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/fault"
	vca "github.com/meterline/meterline/internal/report/vcloudair"
)

// VCloudAirBilled reads and writes vcloudair_billed, and reads vCloud Air's metered usage
// from usage_events for the reconciliation view.
type VCloudAirBilled struct {
	conn Conn
}

// NewVCloudAirBilled returns the vcloudair_billed table over conn.
func NewVCloudAirBilled(conn Conn) *VCloudAirBilled { return &VCloudAirBilled{conn: conn} }

var _ vca.Store = (*VCloudAirBilled)(nil)

const insertVCABilled = `INSERT INTO vcloudair_billed (account, service_group, year, month, period_start_ms, period_end_ms,
service_instance, l2, entity, entity_type, billable, quantity, unit, cost, currency, read_ms)`

// Insert writes a billing month's rows; writing the same rows again adds copies that merges
// (and FINAL) remove.
func (b *VCloudAirBilled) Insert(ctx context.Context, rows []vca.Billed, read time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	batch, err := b.conn.PrepareBatch(ctx, insertVCABilled)
	if err != nil {
		return fmt.Errorf("insert vcloudair_billed: %w", err)
	}
	defer batch.Abort() //nolint:errcheck // a no-op once sent
	for _, r := range rows {
		if err := batch.Append(r.Account, r.Group, uint16(r.Year), uint8(r.Month), r.FromMs, r.ToMs, r.ServiceInstance, r.L2,
			r.Entity, r.EntityType, r.Billable, r.Quantity, r.Unit, r.Cost, r.Currency, read.UnixMilli()); err != nil {
			return fmt.Errorf("insert vcloudair_billed: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert vcloudair_billed: %w", err)
	}
	return nil
}

// Billed implements vca.Store.
func (b *VCloudAirBilled) Billed(ctx context.Context, group string, year, month int) ([]vca.Billed, bool, error) {
	var n uint64
	if err := b.conn.QueryRow(ctx, `SELECT count() FROM vcloudair_billed WHERE service_group = ?`, group).Scan(&n); err != nil {
		return nil, false, fault.Unavailable(err, "vcloudair_billed: read")
	}
	if n == 0 {
		return nil, false, nil
	}
	rows, err := b.conn.Query(ctx, `SELECT account, period_start_ms, period_end_ms, service_instance, l2, entity, entity_type,
  billable, toString(quantity), unit, toString(cost), currency
FROM vcloudair_billed FINAL
WHERE service_group = ? AND year = ? AND month = ?
ORDER BY service_instance, l2, entity, billable, account`, group, uint16(year), uint8(month))
	if err != nil {
		return nil, true, fault.Unavailable(err, "vcloudair_billed: read")
	}
	defer rows.Close()
	var out []vca.Billed
	for rows.Next() {
		r := vca.Billed{Group: group, Year: year, Month: month}
		var q, c string
		if err := rows.Scan(&r.Account, &r.FromMs, &r.ToMs, &r.ServiceInstance, &r.L2, &r.Entity, &r.EntityType,
			&r.Billable, &q, &r.Unit, &c, &r.Currency); err != nil {
			return nil, true, fmt.Errorf("read vcloudair_billed: %w", err)
		}
		if r.Quantity, err = decimal.NewFromString(q); err != nil {
			return nil, true, fmt.Errorf("read vcloudair_billed: quantity %q: %w", q, err)
		}
		if r.Cost, err = decimal.NewFromString(c); err != nil {
			return nil, true, fmt.Errorf("read vcloudair_billed: cost %q: %w", c, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, true, fault.Unavailable(err, "vcloudair_billed: read")
	}
	return out, true, nil
}

// Metered implements vca.Store: the counted documents (FINAL: a document stored twice once;
// not those in usage_rejections) of the organizations whose hour lies in [fromMs, toMs).
func (b *VCloudAirBilled) Metered(ctx context.Context, orgs []string, fromMs, toMs int64) (map[vca.Key]decimal.Decimal, error) {
	out := map[vca.Key]decimal.Decimal{}
	if len(orgs) == 0 {
		return out, nil
	}
	rows, err := b.conn.Query(ctx, `SELECT organization_id, space_id, resource_instance_id, measured_usage.measure, toString(sum(measured_usage.quantity)),
  sum(toFloat64(measured_usage.quantity))
FROM usage_events FINAL
ARRAY JOIN measured_usage
WHERE resource_id = ? AND has(?, organization_id) AND start_ms >= ? AND end_ms < ?
  AND id NOT IN (SELECT id FROM usage_rejections WHERE resource_id = ? AND has(?, organization_id))
GROUP BY organization_id, space_id, resource_instance_id, measured_usage.measure`,
		vca.Resource, orgs, fromMs, toMs, vca.Resource, orgs)
	if err != nil {
		return nil, fault.Unavailable(err, "usage_events: read vcloudair usage")
	}
	defer rows.Close()
	for rows.Next() {
		var k vca.Key
		var (
			q      string
			approx float64
		)
		if err := rows.Scan(&k.ServiceInstance, &k.L2, &k.Entity, &k.Billable, &q, &approx); err != nil {
			return nil, fmt.Errorf("read vcloudair usage: %w", err)
		}
		d, err := decimalSum(q, approx)
		if err != nil {
			return nil, fmt.Errorf("read vcloudair usage of %s %s %s: %w", k.ServiceInstance, k.Entity, k.Billable, err)
		}
		out[k] = d
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Unavailable(err, "usage_events: read vcloudair usage")
	}
	return out, nil
}
