package app

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/poller/elasticbox"
	"github.com/meterline/meterline/internal/poller/elasticbox/ebsim"
)

// ebsimToken is the token the demo simulator accepts and dev's poller sends it.
const ebsimToken = "ebsim-dev-token"

// elasticBoxProvider is ElasticBox's reporting API (internal/poller/elasticbox), with its
// simulator (ebsim) serving the API at its root.
var elasticBoxProvider = provider{
	name:       "elasticbox",
	required:   "METERLINE_ELASTICBOX_URL is required (with METERLINE_ELASTICBOX_TOKEN and METERLINE_ELASTICBOX_ORGANIZATIONS)",
	configured: func(cfg config.Config) bool { return cfg.ElasticBox.Configured() },
	start:      startElasticBoxPoller,
	sim: scriptedSim("METERLINE_EBSIM_SCRIPT", func(e *env) string { return e.cfg.ElasticBox.SimScript }, ebsimDemo,
		func(e *env, sc ebsim.Script, base string) (http.Handler, []zap.Field) {
			return ebsim.New(sc, e.clock).Handler(), []zap.Field{zap.String("url", base), zap.Strings("organizations", sc.Organizations),
				zap.Int("instances", len(sc.Instances))}
		}),
	pointAt: func(cfg config.Config, base string) config.Config {
		ec := &cfg.ElasticBox
		ec.URL, ec.Token = base, ebsimToken
		if len(ec.Organizations) == 0 {
			ec.Organizations = ebsim.DemoScript(cfg.ClockStart).Organizations
		}
		return cfg
	},
}

// startElasticBoxPoller starts the ElasticBox poller of cfg.ElasticBox.
func startElasticBoxPoller(ctx context.Context, s *stack, brokers []string, cfg config.Config) error {
	ec := cfg.ElasticBox
	prov := elasticbox.New(elasticbox.Config{URL: ec.URL, Organizations: ec.Organizations, CostScale: ec.CostScale, Lag: cfg.Poll.Lag,
		Client: &poller.Client{HTTP: &http.Client{}, Auth: elasticbox.Token(ec.Token), Timeout: cfg.Poll.Timeout, Clock: s.e.clock}})
	s.e.log.Info("elasticbox endpoint", zap.String("url", ec.URL), zap.Strings("organizations", ec.Organizations))
	return startPoller(ctx, s, brokers, "elasticbox", elasticbox.Source(elasticbox.HostOf(ec.URL)), prov)
}

// ebsimDemo is the demo fleet of the ElasticBox simulator around now, its token dev's.
func ebsimDemo(now time.Time) ebsim.Script {
	sc := ebsim.DemoScript(now)
	sc.Token = ebsimToken
	return sc
}
