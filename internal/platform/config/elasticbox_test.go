package config

import (
	"io"
	"strings"
	"testing"
)

// TestElasticBoxSettings: the settings load from the environment, and a URL without a token
// or organizations, a bad URL or a scale below 1 are each named.
func TestElasticBoxSettings(t *testing.T) {
	c, _, err := Load("meterline", nil, env(map[string]string{"METERLINE_ELASTICBOX_URL": "https://eb.example",
		"METERLINE_ELASTICBOX_TOKEN": "tok", "METERLINE_ELASTICBOX_ORGANIZATIONS": "acme, beta", "METERLINE_ELASTICBOX_COST_SCALE": "10000"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	e := c.ElasticBox
	if !e.Configured() || e.URL != "https://eb.example" || e.Token != "tok" || strings.Join(e.Organizations, "|") != "acme|beta" || e.CostScale != 10000 {
		t.Errorf("loaded %+v", e)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	bad := Default()
	bad.ElasticBox = ElasticBox{URL: "ftp://x", CostScale: 0}
	err = bad.Validate()
	for _, want := range []string{"METERLINE_ELASTICBOX_URL: \"ftp://x\"", "METERLINE_ELASTICBOX_TOKEN: is required", "METERLINE_ELASTICBOX_ORGANIZATIONS: is required", "METERLINE_ELASTICBOX_COST_SCALE: must be at least 1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
}

// TestElasticBoxCostScaleExact: a scale whose quotients are not exact at the quantity scale
// (3 gives 1/3; 10^13 gives 13 places) is named, not left to the poller to round.
func TestElasticBoxCostScaleExact(t *testing.T) {
	for scale, ok := range map[int64]bool{1: true, 8: true, 100: true, 1000000000000: true, 3: false, 7: false, 10000000000000: false} {
		c := Default()
		c.ElasticBox.CostScale = scale
		err := c.Validate()
		named := err != nil && strings.Contains(err.Error(), "METERLINE_ELASTICBOX_COST_SCALE")
		if named == ok {
			t.Errorf("cost scale %d: Validate() = %v, want it accepted: %v", scale, err, ok)
		}
	}
}
