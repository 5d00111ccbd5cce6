package config

import (
	"io"
	"strings"
	"testing"
)

// The vCloud Air settings, known to TestHelp.
func init() {
	names = append(names, "METERLINE_VCLOUDAIR_URL", "METERLINE_VCLOUDAIR_USERNAME", "METERLINE_VCLOUDAIR_PASSWORD",
		"METERLINE_VCLOUDAIR_TOKEN", "METERLINE_VCLOUDAIR_ACCOUNT", "METERLINE_VCASIM_SCRIPT")
}

func TestVCloudAirSettings(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		bad  string // a substring of the error; "" for none
	}{
		{"none", nil, ""},
		{"login", map[string]string{"METERLINE_VCLOUDAIR_URL": "https://vca.example", "METERLINE_VCLOUDAIR_USERNAME": "u", "METERLINE_VCLOUDAIR_PASSWORD": "p"}, ""},
		{"token", map[string]string{"METERLINE_VCLOUDAIR_URL": "https://vca.example", "METERLINE_VCLOUDAIR_TOKEN": "t"}, ""},
		{"no credentials", map[string]string{"METERLINE_VCLOUDAIR_URL": "https://vca.example"}, "METERLINE_VCLOUDAIR_USERNAME"},
		{"both", map[string]string{"METERLINE_VCLOUDAIR_URL": "https://vca.example", "METERLINE_VCLOUDAIR_TOKEN": "t", "METERLINE_VCLOUDAIR_USERNAME": "u"}, "not both"},
		{"not a URL", map[string]string{"METERLINE_VCLOUDAIR_URL": "vca.example", "METERLINE_VCLOUDAIR_TOKEN": "t"}, "METERLINE_VCLOUDAIR_URL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, _, err := Load("meterline poller", nil, env(c.env), io.Discard)
			if err == nil {
				err = cfg.Validate()
			}
			switch {
			case c.bad == "" && err != nil:
				t.Fatal(err)
			case c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad)):
				t.Fatalf("error %v, want one naming %s", err, c.bad)
			case c.bad == "" && cfg.VCloudAir.Configured() != (c.env != nil):
				t.Errorf("configured %v", cfg.VCloudAir.Configured())
			}
		})
	}
}
