package cf

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/poller/cf/cfsim"
)

// On a foundation without v3 (the v3 events and lists answer 404), the first start takes its
// snapshot from the v2 lists, across their pages of 100: every started app (its web process)
// and managed service instance starts at Cloud Controller's Date, and nothing that ran
// before is replayed; the organizations come from /v2/organizations.
func TestFirstStartOnAV2OnlyFoundation(t *testing.T) {
	for _, t0 := range instants {
		sc := fleet(t0) // a1 and db1 in o1 exist before t0; "old" started and stopped
		sc.V2Only = true
		var want []string
		for i := range 120 {
			app := fmt.Sprintf("v2app-%03d", i)
			sc.Actions = append(sc.Actions, cfsim.Action{At: t0.Add(-time.Hour), Kind: "start", Org: "o2", Space: "s2", App: app, MemoryMB: 128, Instances: int64(1 + i%3)})
			want = append(want, fmt.Sprintf("linux-container memory:%s @0s %d/%d/0/0", app, 128<<20, 1+i%3))
		}
		want = append(want, "linux-container memory:a1 @0s 1073741824/2/0/0", "cf-service service:db1:small @0s 1/0")
		f := newFoundation(t, t0, sc, cfsim.Client)
		docs, _ := f.poll(t)
		got := lines(t0, docs)
		slices.Sort(got)
		slices.Sort(want)
		eq(t, "v2 first start", got, want)
		for _, d := range docs {
			if d.ResourceInstanceID == "memory:v2app-007" && (d.OrganizationID != "o2" || d.SpaceID != "s2" || d.ConsumerID != "app:v2app-007") {
				t.Fatalf("hierarchy: %+v", d)
			}
		}
		// Then the v2 event stream goes on from there.
		f.sim.Play(cfsim.Action{At: t0.Truncate(time.Second).Add(10 * time.Second), Kind: "stop", App: "v2app-007"})
		f.clk.Set(t0.Add(10*time.Second + minAge))
		docs, _ = f.poll(t)
		eq(t, "after the v2 snapshot", lines(t0, docs), []string{fmt.Sprintf("linux-container memory:v2app-007 @10s 0/0/%d/2", 128<<20)})
		orgs, err := f.p.Organizations(context.Background())
		if err != nil || !slices.Equal(orgs, []string{"o1", "o2"}) {
			t.Fatalf("organizations of a v2-only foundation: %v %v", orgs, err)
		}
	}
}
