package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/platform/config"
)

// TestProviderSimScripts: each provider's simulator plays its demo when no script is set,
// and refuses a script file that is missing or not JSON with an error naming its setting.
func TestProviderSimScripts(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.json")
	scripts := map[string]struct {
		setting string
		set     func(c *config.Config, path string)
	}{
		"nova":       {"METERLINE_NOVASIM_SCRIPT", func(c *config.Config, p string) { c.NovaSimScript = p }},
		"cf":         {"METERLINE_CFSIM_SCRIPT", func(c *config.Config, p string) { c.CF.SimScript = p }},
		"elasticbox": {"METERLINE_EBSIM_SCRIPT", func(c *config.Config, p string) { c.ElasticBox.SimScript = p }},
		"vcloudair":  {"METERLINE_VCASIM_SCRIPT", func(c *config.Config, p string) { c.VCloudAir.SimScript = p }},
	}
	clk := clock.NewManual(time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC))
	for _, p := range providers {
		sc, ok := scripts[p.name]
		if !ok {
			t.Fatalf("provider %s: no script setting in this test", p.name)
		}
		e := &env{log: zap.NewNop(), clock: clk}
		h, fields, err := p.sim(e, "http://sim.test")
		if err != nil || h == nil || len(fields) == 0 {
			t.Fatalf("%s demo: handler %v, fields %v, error %v", p.name, h, fields, err)
		}
		sc.set(&e.cfg, missing)
		if _, _, err := p.sim(e, "http://sim.test"); err == nil || !strings.HasPrefix(err.Error(), sc.setting+": ") {
			t.Errorf("%s missing script: error %v, want one starting %q", p.name, err, sc.setting+": ")
		}
		sc.set(&e.cfg, bad)
		if _, _, err := p.sim(e, "http://sim.test"); err == nil || !strings.HasPrefix(err.Error(), sc.setting+" "+bad+": ") {
			t.Errorf("%s bad script: error %v, want one starting %q", p.name, err, sc.setting+" "+bad+": ")
		}
	}
}

// TestEBSimDemoToken: the ElasticBox demo script accepts the token dev's poller sends.
func TestEBSimDemoToken(t *testing.T) {
	if sc := ebsimDemo(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)); sc.Token != ebsimToken {
		t.Fatalf("demo token %q, want %q", sc.Token, ebsimToken)
	}
}
