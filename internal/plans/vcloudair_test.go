package plans

import (
	"testing"
	"time"
)

// TestVCloudAirBillables: vCloud Air's hourly billables are summed exactly as they come (no
// float), a VM's and its data center's own usage in one organization; a vCPU-hour is 0.0125.
func TestVCloudAirBillables(t *testing.T) {
	s := compileBuiltin(t)
	c := newCells(t, s.metering["vcloudair-vpc"], monthStart, monthEnd)
	at := monthStart.Add(time.Hour)
	c.submit("vm-1", at, at.Add(time.Hour-time.Millisecond), map[string]any{"vcpu_hours": d("2"), "memory_gb_hours": d("15.25")})
	c.submit("vm-1", at.Add(time.Hour), at.Add(2*time.Hour-time.Millisecond), map[string]any{"vcpu_hours": d("2"), "memory_gb_hours": d("15.25")})
	c.submit("vdc-1", at, at.Add(time.Hour-time.Millisecond), map[string]any{"storage_gb_hours": d("120.000000000000000001")})
	wantDec(t, "vcpu_hours", c.org["vcpu_hours"], "4")
	wantDec(t, "memory_gb_hours", c.org["memory_gb_hours"], "30.5")
	wantDec(t, "storage_gb_hours", c.org["storage_gb_hours"], "120.000000000000000001")
	price, ok := s.pricing["vcloudair-vpc-ondemand"].Price("vcpu_hours", "USA")
	if !ok {
		t.Fatal("no USA price for vCPU-hours")
	}
	cost, err := s.rating["vcloudair-vpc-rating"].Rate("vcpu_hours", price, c.org["vcpu_hours"])
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "cost", Round(cost), "0.05")
}
