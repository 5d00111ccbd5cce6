package app

import (
	"context"
	"net/http"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/poller/cf"
	"github.com/meterline/meterline/internal/poller/cf/cfsim"
)

// cfProvider is Cloud Foundry's Cloud Controller usage events (internal/poller/cf), with its
// simulator (UAA under /uaa, Cloud Controller at the root).
var cfProvider = provider{
	name:       "cf",
	required:   "METERLINE_CF_API_URL is required (with METERLINE_CF_TOKEN or UAA client credentials)",
	configured: func(cfg config.Config) bool { return cfg.CF.Configured() },
	start:      startCFPoller,
	sim: scriptedSim("METERLINE_CFSIM_SCRIPT", func(e *env) string { return e.cfg.CF.SimScript }, cfsim.DemoScript,
		func(e *env, sc cfsim.Script, base string) (http.Handler, []zap.Field) {
			return cfsim.New(sc, e.clock).Handler(), []zap.Field{zap.String("uaa", cfsim.UAAURL(base)),
				zap.String("api", cfsim.APIURL(base)), zap.Int("actions", len(sc.Actions))}
		}),
	pointAt: func(cfg config.Config, base string) config.Config {
		c := &cfg.CF
		c.APIURL, c.UAAURL, c.ClientID, c.ClientSecret, c.Token = cfsim.APIURL(base), cfsim.UAAURL(base), cfsim.Client, cfsim.Secret, ""
		c.UsageServiceURL = cfsim.UsageURL(base)
		if c.Foundation == "" {
			c.Foundation = "cfsim"
		}
		return cfg
	},
}

// startCFPoller starts the Cloud Foundry poller of cfg.CF: a static token, or UAA.
func startCFPoller(ctx context.Context, s *stack, brokers []string, cfg config.Config) error {
	c := cfg.CF
	hc := &http.Client{}
	var auth poller.Auth = cf.StaticToken(c.Token)
	if c.Token == "" {
		auth = &cf.UAA{URL: c.UAAURL, ClientID: c.ClientID, ClientSecret: c.ClientSecret, HTTP: hc}
	}
	prov := cf.New(cf.Config{Foundation: c.Foundation, API: c.APIURL, MinAge: c.MinAge, Overlap: c.Overlap, PerPage: 1000,
		Client: &poller.Client{HTTP: hc, Auth: auth, Timeout: cfg.Poll.Timeout, Clock: s.e.clock}})
	foundation := c.Foundation
	if foundation == "" {
		foundation = cf.FoundationOf(c.APIURL)
	}
	s.e.log.Info("cf endpoints", zap.String("api", c.APIURL), zap.String("uaa", c.UAAURL), zap.String("usage_service", c.UsageServiceURL))
	if err := startPoller(ctx, s, brokers, "cf", cf.Source(foundation), prov); err != nil {
		return err
	}
	if err := startCFUsageService(ctx, s, prov, foundation, cfg); err != nil {
		return err
	}
	return startCFMetadata(ctx, s, prov, foundation, cfg)
}
