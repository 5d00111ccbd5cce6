package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

// The vCloud Air billing view's setting, known to TestHelp.
func init() { names = append(names, "METERLINE_VCLOUDAIR_BILLING_CLOSE") }

// METERLINE_VCLOUDAIR_BILLING_CLOSE is read without the poller's settings and bounded.
func TestVCloudAirBillingClose(t *testing.T) {
	for _, c := range []struct {
		value string
		want  time.Duration
		bad   bool
	}{{"", 0, false}, {"61m30s", 61*time.Minute + 30*time.Second, false}, {"-1s", 0, true}, {"700h", 0, true}} {
		vars := map[string]string{}
		if c.value != "" {
			vars["METERLINE_VCLOUDAIR_BILLING_CLOSE"] = c.value
		}
		cfg, _, err := Load("meterline reporting", nil, env(vars), io.Discard)
		if err == nil {
			err = cfg.Validate()
		}
		switch {
		case c.bad && (err == nil || !strings.Contains(err.Error(), "METERLINE_VCLOUDAIR_BILLING_CLOSE")):
			t.Errorf("%q: error %v, want one naming the setting", c.value, err)
		case !c.bad && (err != nil || cfg.VCloudAir.BillingClose != c.want):
			t.Errorf("%q: %v %v", c.value, cfg.VCloudAir.BillingClose, err)
		}
	}
}
