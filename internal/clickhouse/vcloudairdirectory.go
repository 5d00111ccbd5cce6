package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/clickhouse/vcarows"
	"github.com/meterline/meterline/internal/fault"
	vca "github.com/meterline/meterline/internal/report/vcloudair"
)

// VCloudAirDirectory reads and writes what the vCloud Air views know of an account beside the
// usage: its service groups and service instances (vcloudair_service_groups,
// vcloudair_service_instances) and the cost items of its billed months
// (vcloudair_billed_costs), as the vCloud Air poller's billing loop read them.
type VCloudAirDirectory struct {
	conn Conn
}

// NewVCloudAirDirectory returns the vCloud Air directory tables over conn.
func NewVCloudAirDirectory(conn Conn) *VCloudAirDirectory { return &VCloudAirDirectory{conn: conn} }

var _ vca.Directory = (*VCloudAirDirectory)(nil)

// InsertDirectory writes the service groups and instances read at read; the latest row of
// each wins.
func (d *VCloudAirDirectory) InsertDirectory(ctx context.Context, groups []vcarows.Group, insts []vcarows.Instance, read time.Time) error {
	if len(groups) > 0 {
		batch, err := d.conn.PrepareBatch(ctx, `INSERT INTO vcloudair_service_groups (account, id, name, currency, anniversary, read_ms)`)
		if err != nil {
			return fmt.Errorf("insert vcloudair_service_groups: %w", err)
		}
		defer batch.Abort() //nolint:errcheck // a no-op once sent
		for _, g := range groups {
			if err := batch.Append(g.Account, g.ID, g.Name, g.Currency, uint8(g.Anniversary), read.UnixMilli()); err != nil {
				return fmt.Errorf("insert vcloudair_service_groups: %w", err)
			}
		}
		if err := batch.Send(); err != nil {
			return fmt.Errorf("insert vcloudair_service_groups: %w", err)
		}
	}
	if len(insts) > 0 {
		batch, err := d.conn.PrepareBatch(ctx, `INSERT INTO vcloudair_service_instances (account, id, name, service_group, read_ms)`)
		if err != nil {
			return fmt.Errorf("insert vcloudair_service_instances: %w", err)
		}
		defer batch.Abort() //nolint:errcheck // a no-op once sent
		for _, in := range insts {
			if err := batch.Append(in.Account, in.ID, in.Name, in.Group, read.UnixMilli()); err != nil {
				return fmt.Errorf("insert vcloudair_service_instances: %w", err)
			}
		}
		if err := batch.Send(); err != nil {
			return fmt.Errorf("insert vcloudair_service_instances: %w", err)
		}
	}
	return nil
}

// InsertCosts writes a billing month's cost items; the same items again are merged into one.
func (d *VCloudAirDirectory) InsertCosts(ctx context.Context, costs []vcarows.Cost, read time.Time) error {
	if len(costs) == 0 {
		return nil
	}
	batch, err := d.conn.PrepareBatch(ctx, `INSERT INTO vcloudair_billed_costs (account, service_group, year, month, period_start_ms,
period_end_ms, idx, type, amount, currency, properties, read_ms)`)
	if err != nil {
		return fmt.Errorf("insert vcloudair_billed_costs: %w", err)
	}
	defer batch.Abort() //nolint:errcheck // a no-op once sent
	for _, c := range costs {
		props, err := json.Marshal(vca.NonNilProps(c.Properties))
		if err != nil {
			return err
		}
		if err := batch.Append(c.Account, c.Group, uint16(c.Year), uint8(c.Month), c.FromMs, c.ToMs, uint16(c.Index), c.Type,
			c.Amount, c.Currency, string(props), read.UnixMilli()); err != nil {
			return fmt.Errorf("insert vcloudair_billed_costs: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert vcloudair_billed_costs: %w", err)
	}
	return nil
}

// Groups implements vca.Directory: every stored service group, by id.
func (d *VCloudAirDirectory) Groups(ctx context.Context) ([]vcarows.Group, error) {
	rows, err := d.conn.Query(ctx, `SELECT account, id, name, currency, anniversary FROM vcloudair_service_groups FINAL ORDER BY id, account`)
	if err != nil {
		return nil, fault.Unavailable(err, "vcloudair_service_groups: read")
	}
	defer rows.Close()
	var out []vcarows.Group
	for rows.Next() {
		var g vcarows.Group
		var ann uint8
		if err := rows.Scan(&g.Account, &g.ID, &g.Name, &g.Currency, &ann); err != nil {
			return nil, fmt.Errorf("read vcloudair_service_groups: %w", err)
		}
		g.Anniversary = int(ann)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Unavailable(err, "vcloudair_service_groups: read")
	}
	return out, nil
}

// Instances implements vca.Directory: every stored service instance, by id.
func (d *VCloudAirDirectory) Instances(ctx context.Context) ([]vcarows.Instance, error) {
	rows, err := d.conn.Query(ctx, `SELECT account, id, name, service_group FROM vcloudair_service_instances FINAL ORDER BY id, account`)
	if err != nil {
		return nil, fault.Unavailable(err, "vcloudair_service_instances: read")
	}
	defer rows.Close()
	var out []vcarows.Instance
	for rows.Next() {
		var in vcarows.Instance
		if err := rows.Scan(&in.Account, &in.ID, &in.Name, &in.Group); err != nil {
			return nil, fmt.Errorf("read vcloudair_service_instances: %w", err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Unavailable(err, "vcloudair_service_instances: read")
	}
	return out, nil
}

// BilledCosts implements vca.Directory: the cost items of group's billing month, in the
// order vCloud Air listed them, and whether the month has any stored (false: not read yet).
func (d *VCloudAirDirectory) BilledCosts(ctx context.Context, group string, year, month int) ([]vcarows.Cost, bool, error) {
	rows, err := d.conn.Query(ctx, `SELECT account, period_start_ms, period_end_ms, idx, type, toString(amount), currency, properties
FROM vcloudair_billed_costs FINAL
WHERE service_group = ? AND year = ? AND month = ?
ORDER BY idx, account`, group, uint16(year), uint8(month))
	if err != nil {
		return nil, false, fault.Unavailable(err, "vcloudair_billed_costs: read")
	}
	defer rows.Close()
	var out []vcarows.Cost
	for rows.Next() {
		c := vcarows.Cost{Group: group, Year: year, Month: month}
		var idx uint16
		var amount, props string
		if err := rows.Scan(&c.Account, &c.FromMs, &c.ToMs, &idx, &c.Type, &amount, &c.Currency, &props); err != nil {
			return nil, false, fmt.Errorf("read vcloudair_billed_costs: %w", err)
		}
		c.Index = int(idx)
		if c.Amount, err = decimal.NewFromString(amount); err != nil {
			return nil, false, fmt.Errorf("read vcloudair_billed_costs: amount %q: %w", amount, err)
		}
		if err := json.Unmarshal([]byte(props), &c.Properties); err != nil {
			return nil, false, fmt.Errorf("read vcloudair_billed_costs: properties %q: %w", props, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fault.Unavailable(err, "vcloudair_billed_costs: read")
	}
	return out, len(out) > 0, nil
}

// BilledMonths implements vca.Directory: the (year, month) of group that vCloud Air has billed
// (cost items or usage stored), the latest first.
func (d *VCloudAirDirectory) BilledMonths(ctx context.Context, group string) ([][2]int, error) {
	rows, err := d.conn.Query(ctx, `SELECT year, month FROM (
  SELECT year, month FROM vcloudair_billed_costs WHERE service_group = ?
  UNION ALL
  SELECT year, month FROM vcloudair_billed WHERE service_group = ?
) GROUP BY year, month ORDER BY year DESC, month DESC`, group, group)
	if err != nil {
		return nil, fault.Unavailable(err, "vcloudair billed months: read")
	}
	defer rows.Close()
	var out [][2]int
	for rows.Next() {
		var y uint16
		var m uint8
		if err := rows.Scan(&y, &m); err != nil {
			return nil, fmt.Errorf("read vcloudair billed months: %w", err)
		}
		out = append(out, [2]int{int(y), int(m)})
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Unavailable(err, "vcloudair billed months: read")
	}
	return out, nil
}
