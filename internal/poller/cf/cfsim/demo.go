package cfsim

import (
	"fmt"
	"time"
)

// DemoScript is the fleet of `meterline dev` with METERLINE_DEV_SIMULATORS=cf: two
// organizations whose apps run since before now (the poller's first start finds them in its
// snapshot), and from now on, every few minutes, apps started, scaled, restaged and stopped,
// tasks, staging, and services created, updated and deleted.
func DemoScript(now time.Time) Script {
	now = now.UTC().Truncate(time.Second)
	at := func(d time.Duration) time.Time { return now.Add(d) }
	orgs := []string{"0c0e5f34-7b1c-4a3e-9d43-0f2a1e6b7c01", "9a1b2c3d-4e5f-4061-8273-94a5b6c7d802"}
	spaces := []string{"5e28f12f-9d80-473e-b826-537b148eb338", "6f39a23a-0e91-484f-c937-648c259fc449"}
	sc := Script{Actions: []Action{
		{At: at(-30 * time.Hour), Kind: "start", Org: orgs[0], Space: spaces[0], App: "f93250f7-7ef5-4b02-8d33-353919ce8358", MemoryMB: 1024, Instances: 2},
		{At: at(-5 * time.Hour), Kind: "start", Org: orgs[1], Space: spaces[1], App: "e9d2d5a0-69a6-46ef-bac5-43f3ed177614", MemoryMB: 512, Instances: 1},
		{At: at(-4 * time.Hour), Kind: "create_service", Org: orgs[0], Space: spaces[0], Instance: "c9976002-96f4-435a-888e-db1e1178df62", Plan: "small", Name: "db"},
	}}
	for i := range 48 {
		o := i % 2
		app := fmt.Sprintf("a0000000-0000-4000-8000-%012d", i)
		base := time.Duration(i) * 5 * time.Minute
		sc.Actions = append(sc.Actions,
			Action{At: at(base + 7*time.Second), Kind: "start", Org: orgs[o], Space: spaces[o], App: app, MemoryMB: int64(256 * (1 + i%4)), Instances: int64(1 + i%3)},
			Action{At: at(base + 70*time.Second), Kind: "scale", App: app, Instances: int64(2 + i%3)},
			Action{At: at(base + 100*time.Second), Kind: "restage", App: app},
			Action{At: at(base + 130*time.Second), Kind: "task", Org: orgs[o], Space: spaces[o], App: app, Task: fmt.Sprintf("t0000000-0000-4000-8000-%012d", i), MemoryMB: 512, Duration: 45 * time.Second},
			Action{At: at(base + 4*time.Minute), Kind: "stop", App: app})
		if i%6 == 0 {
			svc := fmt.Sprintf("50000000-0000-4000-8000-%012d", i)
			sc.Actions = append(sc.Actions,
				Action{At: at(base + 20*time.Second), Kind: "create_service", Org: orgs[o], Space: spaces[o], Instance: svc, Plan: "small", Name: "cache"},
				Action{At: at(base + 3*time.Minute), Kind: "update_service", Instance: svc, Plan: "large"},
				Action{At: at(base + 25*time.Minute), Kind: "delete_service", Instance: svc})
		}
	}
	return sc
}
