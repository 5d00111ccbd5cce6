package novasim

import (
	"fmt"
	"time"
)

// Flavors are Nova's classic default flavors (the ones devstack still creates), which the
// built-in plans price.
var Flavors = []Flavor{
	{Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, DiskGB: 1},
	{Name: "m1.small", VCPUs: 1, MemoryMB: 2048, DiskGB: 20},
	{Name: "m1.medium", VCPUs: 2, MemoryMB: 4096, DiskGB: 40},
	{Name: "m1.large", VCPUs: 4, MemoryMB: 8192, DiskGB: 80},
	{Name: "m1.xlarge", VCPUs: 8, MemoryMB: 16384, DiskGB: 160},
}

// DemoScript is the fleet of `meterline dev` with METERLINE_DEV_SIMULATORS=nova: three
// projects whose servers were launched, resized and terminated over the two days before now
// (so the poller's first run, which reads back as far as the slack allows, finds usage at
// once), some still running, and one launched every few hours from now on, all at times that
// do not fall on whole seconds, as real launches do.
func DemoScript(now time.Time) Script {
	at := func(d time.Duration) time.Time { return now.Add(d).Truncate(time.Microsecond) }
	ptr := func(t time.Time) *time.Time { return &t }
	tenants := []string{"6f70656e737461636b20342065766572", "0000000e737461636b20342065000000", "a7d4c1e2b3f4051627384950a1b2c3d4"}
	s := Script{Flavors: Flavors}
	add := func(tenant int, name, flavor string, launched time.Duration, terminated *time.Duration, resizes ...Resize) {
		sv := Server{ID: uuidOf(len(s.Servers)), Name: name, Tenant: tenants[tenant], Flavor: flavor, Launched: at(launched), Resizes: resizes}
		if terminated != nil {
			sv.Terminated = ptr(at(*terminated))
		}
		s.Servers = append(s.Servers, sv)
	}
	d := func(h float64) *time.Duration { v := time.Duration(h * float64(time.Hour)); return &v }
	add(0, "web-1", "m1.small", -72*time.Hour-17*time.Minute-230411*time.Microsecond, nil)
	add(0, "web-2", "m1.small", -30*time.Hour-3*time.Minute-870001*time.Microsecond, d(-9.61))
	add(0, "db-1", "m1.large", -50*time.Hour-44*time.Second-123456*time.Microsecond, nil,
		Resize{At: at(-20 * time.Hour), Flavor: "m1.xlarge"})
	add(1, "ci-runner", "m1.medium", -26*time.Hour-59*time.Minute-1*time.Microsecond, d(-25.2))
	add(1, "ci-runner-2", "m1.medium", -12*time.Hour-15*time.Minute-777777*time.Microsecond, nil)
	add(2, "batch", "m1.tiny", -40*time.Hour-20*time.Minute-5*time.Microsecond, d(-1.05))
	add(2, "analytics", "m1.xlarge", -3*time.Hour-33*time.Minute-333333*time.Microsecond, nil)
	for i := range 24 {
		launch := time.Duration(i)*3*time.Hour + 7*time.Minute + 1234*time.Microsecond
		stop := launch + 5*time.Hour + 11*time.Second
		add(i%3, fmt.Sprintf("burst-%d", i), Flavors[i%len(Flavors)].Name, launch, &stop)
	}
	return s
}

// uuidOf is a fixed uuid for the i-th server.
func uuidOf(i int) string { return fmt.Sprintf("1f1deceb-17b5-4c04-84c7-%012x", 0xe0d4499c8f00+i) }
