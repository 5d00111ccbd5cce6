package cf

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/poller/cf/cfsim"
)

func i64(v int64) *int64 { return &v }

// TestMetadata reads the simulator's names, buildpacks, process sizes, plans and quotas, at
// every pinned instant (month and year boundaries included): a started app with its web
// process and current droplet, a stopped app's droplet gone, a service instance with its plan
// and offering, the plan itself (of no organization), the organization's quota and a space quota with an unlimited limit.
func TestMetadata(t *testing.T) {
	for _, t0 := range instants {
		org, space, space2 := "org-1", "space-1", "space-2"
		at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
		script := cfsim.Script{
			Actions: []cfsim.Action{
				{At: at(1), Kind: "start", Org: org, Space: space, App: "a1", MemoryMB: 512, Instances: 3},
				{At: at(1), Kind: "start", Org: org, Space: space2, App: "a2", MemoryMB: 256, Instances: 1},
				{At: at(2), Kind: "create_service", Org: org, Space: space, Instance: "s1", Plan: "small", Name: "db"},
				{At: at(3), Kind: "stop", App: "a2"},
			},
			Metadata: cfsim.MetaScript{
				OrgNames:    map[string]string{org: "Finance"},
				Buildpacks:  map[string]string{"a1": "java_buildpack"},
				OrgQuotas:   []cfsim.Quota{{GUID: "q1", Name: "default", MemoryMB: i64(10240), InstanceMemoryMB: i64(1024), Instances: i64(50), Services: i64(10), Routes: i64(100), Orgs: []string{org}}},
				SpaceQuotas: []cfsim.Quota{{GUID: "sq1", Name: "dev", MemoryMB: i64(2048), Org: org, Spaces: []string{space}}},
			},
		}
		f := newFoundation(t, t0, script, cfsim.Client)
		f.clk.Set(at(10))
		rows, read, err := f.p.Metadata(context.Background())
		if err != nil {
			t.Fatalf("%s: Metadata: %v", t0, err)
		}
		if !read.Equal(at(10).Truncate(time.Second)) {
			t.Errorf("%s: read at %s, want Cloud Controller's Date %s", t0, read, at(10))
		}
		got, _ := json.Marshal(rows)
		want, _ := json.Marshal([]Meta{
			{Kind: KindPlan, GUID: "small", Name: "plan-small", Plan: "small", PlanName: "plan-small", Offering: "postgres"},
			{Org: org, Kind: KindApp, GUID: "a1", Space: space, Name: "app-a1", State: "STARTED", Buildpack: "java_buildpack", Instances: 3, MemoryMB: 512, DiskMB: 1024},
			{Org: org, Kind: KindOrganization, GUID: org, Name: "Finance", Quota: "q1", QuotaName: "default", QuotaMemoryMB: i64(10240),
				QuotaInstanceMemoryMB: i64(1024), QuotaAppInstances: i64(50), QuotaServiceInstances: i64(10), QuotaRoutes: i64(100)},
			{Org: org, Kind: KindService, GUID: "s1", Space: space, Name: "db", Plan: "small", PlanName: "plan-small", Offering: "postgres"},
			{Org: org, Kind: KindSpace, GUID: space, Space: space, Name: "space-" + space, Quota: "sq1", QuotaName: "dev", QuotaMemoryMB: i64(2048)},
			{Org: org, Kind: KindSpace, GUID: space2, Space: space2, Name: "space-" + space2},
		})
		if string(got) != string(want) {
			t.Errorf("%s: metadata\n got %s\nwant %s", t0, got, want)
		}
	}
}

// TestMetadataLoopRound writes what one round read, and fails (writing nothing) when Cloud
// Controller fails.
func TestMetadataLoopRound(t *testing.T) {
	t0 := clock.Instants[0]
	f := newFoundation(t, t0, cfsim.Script{Actions: []cfsim.Action{{At: t0, Kind: "start", Org: "o", Space: "s", App: "a", MemoryMB: 64, Instances: 1}}}, cfsim.Client)
	var written []Meta
	l := &MetadataLoop{Provider: f.p, Clock: f.clk, Write: func(_ context.Context, rows []Meta, _ time.Time) error {
		written = append(written, rows...)
		return nil
	}}
	n, err := l.Round(context.Background())
	if err != nil || n != 3 || len(written) != 3 {
		t.Fatalf("Round = %d, %v; wrote %d rows, want 3 (organization, space, app)", n, err, len(written))
	}
	f.sim.Inject(cfsim.Faults{Errors: 100})
	written = nil
	if _, err := l.Round(context.Background()); err == nil || len(written) != 0 {
		t.Fatalf("Round with Cloud Controller failing = %v, wrote %d rows", err, len(written))
	}
}
