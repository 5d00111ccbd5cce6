package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/usage"
	"github.com/gophercloud/gophercloud/v2/pagination"
	"github.com/shopspring/decimal"
)

// viewHours is seconds/3600 as the nearest float64, as the Nova view presents exact hours.
func viewHours(secs decimal.Decimal) float64 {
	f, _ := new(big.Rat).Quo(secs.Rat(), big.NewRat(3600, 1)).Float64()
	return f
}

// novaViewServer is the ground truth of one server over a period.
type novaViewServer struct {
	tenant, flavor   string
	started          time.Time
	ended            *time.Time
	secs             decimal.Decimal
	vcpus, mem, disk int64
	vcpuS, memS, gbS decimal.Decimal
}

// TestNovaView: servers of the Nova simulator read by the Nova poller, and one server's
// documents posted through the collector, all through the real broker into ClickHouse; then
// gophercloud's os-simple-tenant-usage client (SingleTenant and AllTenants, paged two
// servers at a time, and whole) reads Meterline's Nova view, and every server's hours, sizes,
// state and times, and every tenant's totals, equal the ground truth computed from the script.
func TestNovaView(t *testing.T) {
	s := newStack(t)
	now := s.now()
	h := now.Truncate(time.Hour)
	from, to := h.Add(-5*time.Hour), h.Add(-time.Hour) // the closed windows the poller reads
	at := func(d time.Duration) time.Time { return from.Add(d) }
	ptr := func(t time.Time) *time.Time { return &t }
	fleet := []novaServer{
		{ID: "srv-1", Name: "one", Tenant: "view-tenant-a", Flavor: "m1.tiny", Launched: at(250 * time.Millisecond)},
		{ID: "srv-2", Name: "two", Tenant: "view-tenant-a", Flavor: "m1.medium", Launched: at(40*time.Minute + 10125*time.Millisecond),
			Terminated: ptr(at(2*time.Hour + 5*time.Minute + 500*time.Millisecond))},
		{ID: "srv-3", Name: "three", Tenant: "view-tenant-b", Flavor: "m1.large", Launched: at(time.Hour)},
		{ID: "srv-4", Name: "four", Tenant: "view-tenant-a", Flavor: "m1.small", Launched: at(3*time.Hour + 20*time.Minute)},
		{ID: "srv-5", Name: "five", Tenant: "view-tenant-b", Flavor: "m1.xlarge", Launched: at(10 * time.Minute),
			Terminated: ptr(at(30*time.Minute + 1*time.Millisecond))},
	}
	b, err := json.Marshal(map[string]any{"flavors": novaFlavors, "servers": fleet})
	if err != nil {
		t.Fatal(err)
	}
	scriptFile := filepath.Join(t.TempDir(), "fleet.json")
	if err := os.WriteFile(scriptFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	wantDocs, _, _ := novaTruth(fleet, from, to)

	dev := s.start([]string{"dev"})
	sim := s.start([]string{"sim", "nova"}, "METERLINE_NOVASIM_SCRIPT="+scriptFile)
	s.start([]string{"poller", "nova"},
		"METERLINE_NOVA_AUTH_URL=http://"+sim.addr+"/identity/v3", "METERLINE_NOVA_USERNAME=meterline", "METERLINE_NOVA_PASSWORD=pw",
		"METERLINE_NOVA_PROJECT_NAME=admin", "METERLINE_NOVA_CLOUD=e2e-view", "METERLINE_NOVA_PAGE_LIMIT=2",
		"METERLINE_POLL_START="+from.Format(time.RFC3339), "METERLINE_POLL_LAG=10m", "METERLINE_POLL_INTERVAL=1s")

	// A server whose usage a client posts through the collector: an hour, then half an hour
	// before it ends (its run ends before its document does).
	for i, secs := range []int64{3600, 1800} {
		start := from.Add(time.Duration(i+1) * time.Hour)
		body := fmt.Sprintf(`{"start":%d,"end":%d,"organization_id":"view-tenant-c","space_id":"view-tenant-c",`+
			`"resource_id":"openstack-compute","plan_id":"m1.small","resource_instance_id":"posted-1","measured_usage":[`+
			`{"measure":"instance_seconds","quantity":%d},{"measure":"vcpu_seconds","quantity":%d},`+
			`{"measure":"memory_mb_seconds","quantity":%d},{"measure":"local_gb_seconds","quantity":%d}]}`,
			start.UnixMilli(), start.Add(time.Hour).UnixMilli()-1, secs, secs, secs*2048, secs*20)
		if r := post(t, dev, body); r.status/100 != 2 {
			t.Fatalf("post: %d %s", r.status, r.body)
		}
	}
	wantDocs += 2
	s.waitCount(uint64(wantDocs), "")

	// The ground truth.
	truth := map[string]novaViewServer{}
	for _, sv := range fleet {
		var fl novaFlavor
		for _, f := range novaFlavors {
			if f.Name == sv.Flavor {
				fl = f
			}
		}
		lo, hi := sv.Launched, to
		if lo.Before(from) {
			lo = from
		}
		if sv.Terminated != nil && sv.Terminated.Before(hi) {
			hi = *sv.Terminated
		}
		secs := decimal.New(hi.Sub(lo).Microseconds(), -6)
		truth[sv.ID] = novaViewServer{tenant: sv.Tenant, flavor: sv.Flavor, started: sv.Launched, ended: sv.Terminated, secs: secs,
			vcpus: fl.VCPUs, mem: fl.MemoryMB, disk: fl.DiskGB,
			vcpuS: secs.Mul(decimal.NewFromInt(fl.VCPUs)), memS: secs.Mul(decimal.NewFromInt(fl.MemoryMB)), gbS: secs.Mul(decimal.NewFromInt(fl.DiskGB))}
	}
	posted := decimal.NewFromInt(5400)
	truth["posted-1"] = novaViewServer{tenant: "view-tenant-c", flavor: "m1.small", started: from.Add(time.Hour),
		ended: ptr(from.Add(2*time.Hour + 30*time.Minute)), secs: posted, vcpus: 1, mem: 2048, disk: 20,
		vcpuS: posted, memS: posted.Mul(decimal.NewFromInt(2048)), gbS: posted.Mul(decimal.NewFromInt(20))}

	client := &gophercloud.ServiceClient{ProviderClient: &gophercloud.ProviderClient{HTTPClient: *http.DefaultClient},
		Endpoint: "http://" + dev.addr + "/openstack/compute/v2.1/", Type: "compute", Microversion: "2.40"}
	checkServer := func(where string, su usage.ServerUsage, before time.Time) {
		t.Helper()
		w, ok := truth[su.InstanceID]
		if !ok {
			t.Errorf("%s: unknown server %s", where, su.InstanceID)
			return
		}
		state, uptimeTo := "active", before
		if w.ended != nil {
			state, uptimeTo = "terminated", *w.ended
			if !su.EndedAt.Equal(w.ended.Truncate(time.Microsecond)) {
				t.Errorf("%s: %s ended_at %v, want %v", where, su.InstanceID, su.EndedAt, *w.ended)
			}
		}
		wantUptime := int(uptimeTo.Sub(w.started) / time.Second)
		if su.Hours != viewHours(w.secs) || su.TenantID != w.tenant || su.Flavor != w.flavor || su.State != state ||
			su.VCPUs != int(w.vcpus) || su.MemoryMB != int(w.mem) || su.LocalGB != int(w.disk) || !su.StartedAt.Equal(w.started) ||
			su.Uptime < wantUptime || (w.ended != nil && su.Uptime != wantUptime) {
			t.Errorf("%s: server %s = %+v, want hours %v (%s s) of %+v, state %s, uptime %d", where, su.InstanceID, su, viewHours(w.secs), w.secs, w, state, wantUptime)
		}
	}
	totals := func(tenant string) (h, v, m, g float64) {
		var secs, vcpu, mem, gb decimal.Decimal
		for _, w := range truth {
			if w.tenant == tenant {
				secs, vcpu, mem, gb = secs.Add(w.secs), vcpu.Add(w.vcpuS), mem.Add(w.memS), gb.Add(w.gbS)
			}
		}
		return viewHours(secs), viewHours(vcpu), viewHours(mem), viewHours(gb)
	}
	checkTotals := func(where string, u usage.TenantUsage) {
		t.Helper()
		h, v, m, g := totals(u.TenantID)
		if u.TotalHours != h || u.TotalVCPUsUsage != v || u.TotalMemoryMBUsage != m || u.TotalLocalGBUsage != g ||
			!u.Start.Equal(from) || !u.Stop.Equal(to) {
			t.Errorf("%s: tenant %s totals %v %v %v %v [%v, %v], want %v %v %v %v [%v, %v]", where, u.TenantID,
				u.TotalHours, u.TotalVCPUsUsage, u.TotalMemoryMBUsage, u.TotalLocalGBUsage, u.Start, u.Stop, h, v, m, g, from, to)
		}
	}

	// AllTenants, detailed, whole: exact totals per tenant.
	before := s.now().Add(-time.Second)
	var tenants []string
	err = usage.AllTenants(client, usage.AllTenantsOpts{Detailed: true, Start: &from, End: &to}).EachPage(t.Context(),
		func(_ context.Context, p pagination.Page) (bool, error) {
			us, err := usage.ExtractAllTenants(p)
			for _, u := range us {
				tenants = append(tenants, u.TenantID)
				checkTotals("all tenants", u)
				for _, su := range u.ServerUsages {
					checkServer("all tenants", su, before)
				}
			}
			return true, err
		})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(tenants)
	if want := []string{"view-tenant-a", "view-tenant-b", "view-tenant-c"}; !slices.Equal(tenants, want) {
		t.Errorf("tenants %v, want %v", tenants, want)
	}

	// AllTenants paged two servers at a time: every server once, over three pages.
	var seen []string
	pages := 0
	err = usage.AllTenants(client, usage.AllTenantsOpts{Detailed: true, Start: &from, End: &to, Limit: 2}).EachPage(t.Context(),
		func(_ context.Context, p pagination.Page) (bool, error) {
			pages++
			us, err := usage.ExtractAllTenants(p)
			for _, u := range us {
				for _, su := range u.ServerUsages {
					seen = append(seen, su.InstanceID)
					checkServer("all tenants paged", su, before)
				}
			}
			return true, err
		})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(seen)
	if want := []string{"posted-1", "srv-1", "srv-2", "srv-3", "srv-4", "srv-5"}; !slices.Equal(seen, want) || pages != 3 {
		t.Errorf("paged: %d pages, servers %v, want 3 pages of %v", pages, seen, want)
	}

	// SingleTenant, paged: tenant a's three servers over two pages, totals stitched.
	for _, tenant := range []string{"view-tenant-a", "view-tenant-b", "view-tenant-c"} {
		var n int
		var hours float64
		err = usage.SingleTenant(client, tenant, usage.SingleTenantOpts{Start: &from, End: &to, Limit: 2}).EachPage(t.Context(),
			func(_ context.Context, p pagination.Page) (bool, error) {
				u, err := usage.ExtractSingleTenant(p)
				if u != nil {
					hours += u.TotalHours
					for _, su := range u.ServerUsages {
						n++
						checkServer("single tenant "+tenant, su, before)
					}
				}
				return true, err
			})
		if err != nil {
			t.Fatal(err)
		}
		var want int
		for _, w := range truth {
			if w.tenant == tenant {
				want++
			}
		}
		if h, _, _, _ := totals(tenant); n != want || hours-h > 1e-9 || h-hours > 1e-9 {
			t.Errorf("single tenant %s: %d servers, %v hours stitched, want %d, %v", tenant, n, hours, want, h)
		}
	}
	if !t.Failed() {
		t.Logf("%d documents (%d from the poller, 2 posted); gophercloud read the view equal to the ground truth", wantDocs, wantDocs-2)
	}
}
