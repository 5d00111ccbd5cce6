package vcasim

import (
	"time"

	"github.com/shopspring/decimal"
)

// The billables the simulator meters (the built-in plan vpc-ondemand's measures).
const (
	VCPU     = "vcpu_hours"       // vCPU-hours
	Memory   = "memory_gb_hours"  // GB-hours of memory
	Storage  = "storage_gb_hours" // GB-hours of standard storage
	PublicIP = "public_ip_hours"  // hours of a public IP
)

func use(name, unit, perHour, rate string, from time.Time, to *time.Time) Usage {
	return Usage{Billable: name, Unit: unit, PerHour: decimal.RequireFromString(perHour), Rate: decimal.RequireFromString(rate), From: from, To: to}
}

func ptr(t time.Time) *time.Time { return &t }

// DemoScript is a company of two service groups around t0 (an hour): three service
// instances, four virtual data centers and VMs and gateways that start and stop over the
// hours before and after t0.
func DemoScript(t0 time.Time) Script {
	h := func(n int) time.Time { return t0.UTC().Truncate(time.Hour).Add(time.Duration(n) * time.Hour) }
	vm := func(id, name string, from int, to *int, vcpu, mem string) Entity {
		var end *time.Time
		if to != nil {
			end = ptr(h(*to))
		}
		return Entity{ID: id, Name: name, Type: "vm", Usage: []Usage{
			use(VCPU, "vCPU-hour", vcpu, "0.0125", h(from), end),
			use(Memory, "GB-hour", mem, "0.0035", h(from), end),
		}}
	}
	five, eight := 5, 8
	return Script{
		Groups: []Group{
			{ID: "sg-east", Name: "east", Currency: "USD", Anniversary: 13},
			{ID: "sg-west", Name: "west", Currency: "USD", Anniversary: 1},
		},
		Instances: []Instance{
			{ID: "si-100", Group: "sg-east", Name: "Virtual Private Cloud OnDemand", L2s: []L2{
				{ID: "vdc-a", Own: []Usage{use(Storage, "GB-hour", "120.5", "0.0001", h(-30), nil)}, L1s: []Entity{
					vm("vm-a1", "web", -30, nil, "2", "4"),
					vm("vm-a2", "batch", -3, &five, "8", "15.25"),
					{ID: "gw-a", Name: "edge", Type: "gateway", Usage: []Usage{use(PublicIP, "hour", "1", "0.005", h(-30), nil)}},
				}},
				{ID: "vdc-b", L1s: []Entity{vm("vm-b1", "db", 2, nil, "4", "32")}},
			}},
			{ID: "si-200", Group: "sg-east", Name: "Virtual Private Cloud OnDemand", L2s: []L2{
				{ID: "vdc-c", Own: []Usage{use(Storage, "GB-hour", "40", "0.0001", h(-30), nil)}, L1s: []Entity{
					vm("vm-c1", "ci", -30, &eight, "1", "0.5"),
				}},
			}},
			{ID: "si-300", Group: "sg-west", Name: "Virtual Private Cloud OnDemand", L2s: []L2{
				{ID: "vdc-d", L1s: []Entity{vm("vm-d1", "api", -30, nil, "2", "8")}},
			}},
		},
	}
}
