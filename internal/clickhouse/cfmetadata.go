package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/report/pcf"
)

// CFMetadata reads and writes cf_metadata, the Cloud Foundry metadata of the PCF usage report.
type CFMetadata struct {
	conn Conn
}

// NewCFMetadata returns the cf_metadata table over conn.
func NewCFMetadata(conn Conn) *CFMetadata { return &CFMetadata{conn: conn} }

var _ pcf.Store = (*CFMetadata)(nil)

// cfAttrs are the fields of a pcf.Meta stored as the JSON of attributes.
type cfAttrs struct {
	State                 string `json:"state,omitempty"`
	Buildpack             string `json:"buildpack,omitempty"`
	Instances             int64  `json:"instances,omitempty"`
	MemoryMB              int64  `json:"memory_mb,omitempty"`
	DiskMB                int64  `json:"disk_mb,omitempty"`
	Plan                  string `json:"plan,omitempty"`
	PlanName              string `json:"plan_name,omitempty"`
	Offering              string `json:"offering,omitempty"`
	Quota                 string `json:"quota,omitempty"`
	QuotaName             string `json:"quota_name,omitempty"`
	QuotaMemoryMB         *int64 `json:"quota_memory_mb,omitempty"`
	QuotaInstanceMemoryMB *int64 `json:"quota_instance_memory_mb,omitempty"`
	QuotaAppInstances     *int64 `json:"quota_app_instances,omitempty"`
	QuotaServiceInstances *int64 `json:"quota_service_instances,omitempty"`
	QuotaRoutes           *int64 `json:"quota_routes,omitempty"`
}

const insertCFMetadata = `INSERT INTO cf_metadata (foundation, organization_id, kind, guid, space_id, name, attributes, version_ms)`

// Insert writes a round's rows of foundation, read at read (their version): one batch.
func (m *CFMetadata) Insert(ctx context.Context, foundation string, rows []pcf.Meta, read time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	batch, err := m.conn.PrepareBatch(ctx, insertCFMetadata)
	if err != nil {
		return fmt.Errorf("insert cf_metadata: %w", err)
	}
	defer batch.Abort() //nolint:errcheck // a no-op once sent
	for _, r := range rows {
		attrs, err := json.Marshal(cfAttrs{State: r.State, Buildpack: r.Buildpack, Instances: r.Instances, MemoryMB: r.MemoryMB, DiskMB: r.DiskMB,
			Plan: r.Plan, PlanName: r.PlanName, Offering: r.Offering, Quota: r.Quota, QuotaName: r.QuotaName, QuotaMemoryMB: r.QuotaMemoryMB,
			QuotaInstanceMemoryMB: r.QuotaInstanceMemoryMB, QuotaAppInstances: r.QuotaAppInstances,
			QuotaServiceInstances: r.QuotaServiceInstances, QuotaRoutes: r.QuotaRoutes})
		if err != nil {
			return err
		}
		if err := batch.Append(foundation, r.Org, r.Kind, r.GUID, r.Space, r.Name, string(attrs), read.UnixMilli()); err != nil {
			return fmt.Errorf("insert cf_metadata: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert cf_metadata: %w", err)
	}
	return nil
}

// Metadata implements pcf.Store: the newest row of each entity of org and of every service
// plan (FINAL), of every foundation (guids are unique across them), in key order.
func (m *CFMetadata) Metadata(ctx context.Context, org string) ([]pcf.Meta, error) {
	rows, err := m.conn.Query(ctx, `SELECT organization_id, kind, guid, space_id, name, attributes
FROM cf_metadata FINAL
WHERE organization_id = ? OR (organization_id = '' AND kind = ?)
ORDER BY organization_id, kind, guid`, org, pcf.KindPlan)
	if err != nil {
		return nil, fault.Unavailable(err, "cf_metadata: read %s", org)
	}
	defer rows.Close()
	var out []pcf.Meta
	for rows.Next() {
		var r pcf.Meta
		var raw string
		if err := rows.Scan(&r.Org, &r.Kind, &r.GUID, &r.Space, &r.Name, &raw); err != nil {
			return nil, fault.Unavailable(err, "cf_metadata: read %s", org)
		}
		var a cfAttrs
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			return nil, fmt.Errorf("cf_metadata: attributes of %s %s: %w", r.Kind, r.GUID, err)
		}
		r.State, r.Buildpack, r.Instances, r.MemoryMB, r.DiskMB = a.State, a.Buildpack, a.Instances, a.MemoryMB, a.DiskMB
		r.Plan, r.PlanName, r.Offering, r.Quota, r.QuotaName = a.Plan, a.PlanName, a.Offering, a.Quota, a.QuotaName
		r.QuotaMemoryMB, r.QuotaInstanceMemoryMB, r.QuotaAppInstances, r.QuotaServiceInstances, r.QuotaRoutes =
			a.QuotaMemoryMB, a.QuotaInstanceMemoryMB, a.QuotaAppInstances, a.QuotaServiceInstances, a.QuotaRoutes
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Unavailable(err, "cf_metadata: read %s", org)
	}
	return out, nil
}
