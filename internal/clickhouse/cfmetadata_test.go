package clickhouse_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/report/pcf"
	"github.com/meterline/meterline/internal/testenv"
)

// TestCFMetadataOverClickHouse writes two rounds of metadata on the real ClickHouse (the
// second renames an app, scales it, and no longer lists a deleted service instance) and a
// round of another organization: the read gives each entity of the organization once, as
// the newest round said, the deleted instance as it last was, and nothing of the other.
func TestCFMetadataOverClickHouse(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	conn := testenv.ClickHouse(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	limit := int64(4096)
	org := pcf.Meta{Org: "o1", Kind: pcf.KindOrganization, GUID: "o1", Name: "Finance", Quota: "q", QuotaName: "default", QuotaMemoryMB: &limit}
	app := pcf.Meta{Org: "o1", Kind: pcf.KindApp, GUID: "a1", Space: "s1", Name: "old", State: "STARTED", Buildpack: "go_buildpack", Instances: 1, MemoryMB: 256, DiskMB: 1024}
	svc := pcf.Meta{Org: "o1", Kind: pcf.KindService, GUID: "si", Space: "s1", Name: "db", Plan: "p", PlanName: "small", Offering: "postgres"}
	table := clickhouse.NewCFMetadata(conn)
	t0 := time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)
	if err := table.Insert(ctx, "f", []pcf.Meta{org, app, svc}, t0); err != nil {
		t.Fatal(err)
	}
	renamed := app
	renamed.Name, renamed.Instances = "new", 3
	if err := table.Insert(ctx, "f", []pcf.Meta{org, renamed}, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := table.Insert(ctx, "f", []pcf.Meta{{Org: "o2", Kind: pcf.KindOrganization, GUID: "o2", Name: "Other"}}, t0); err != nil {
		t.Fatal(err)
	}
	got, err := table.Metadata(ctx, "o1")
	if err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal([]pcf.Meta{renamed, org, svc})
	if string(g) != string(w) {
		t.Errorf("metadata of o1\n got %s\nwant %s", g, w)
	}
	if none, err := table.Metadata(ctx, "o3"); err != nil || len(none) != 0 {
		t.Errorf("metadata of an unknown organization: %v, %v", none, err)
	}
}
