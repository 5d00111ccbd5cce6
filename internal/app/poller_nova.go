package app

import (
	"context"
	"net/http"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/poller/nova"
	"github.com/meterline/meterline/internal/poller/nova/novasim"
)

// novaProvider is OpenStack Nova's os-simple-tenant-usage (internal/poller/nova), with its
// simulator (Keystone under /identity/v3, Nova under /compute/v2.1).
var novaProvider = provider{
	name:       "nova",
	required:   "METERLINE_NOVA_COMPUTE_URL or METERLINE_NOVA_AUTH_URL: one is required",
	configured: func(cfg config.Config) bool { return cfg.Nova.Configured() },
	start:      startNovaPoller,
	sim: scriptedSim("METERLINE_NOVASIM_SCRIPT", func(e *env) string { return e.cfg.NovaSimScript }, novasim.DemoScript,
		func(e *env, sc novasim.Script, base string) (http.Handler, []zap.Field) {
			return novasim.New(sc, e.clock).Handler(base), []zap.Field{zap.String("keystone", novasim.AuthURL(base)),
				zap.String("compute", novasim.ComputeURL(base)), zap.Int("servers", len(sc.Servers))}
		}),
	pointAt: func(cfg config.Config, base string) config.Config {
		nc := &cfg.Nova
		nc.AuthURL, nc.Username, nc.Password, nc.ProjectName = novasim.AuthURL(base), "meterline", "dev", "admin"
		if nc.Cloud == "" {
			nc.Cloud = "novasim"
		}
		return cfg
	},
}

// startNovaPoller starts the Nova poller of cfg.Nova: a token and compute URL, or Keystone.
func startNovaPoller(ctx context.Context, s *stack, brokers []string, cfg config.Config) error {
	nc := cfg.Nova
	cloud := nc.Cloud
	if cloud == "" {
		cloud = nova.CloudOf(nc.ComputeURL + nc.AuthURL)
	}
	hc := &http.Client{}
	var (
		auth     poller.Auth
		endpoint func(context.Context) (string, error)
	)
	if nc.ComputeURL != "" {
		auth = nova.StaticToken(nc.Token)
		endpoint = func(context.Context) (string, error) { return nc.ComputeURL, nil }
	} else {
		ks := nova.NewKeystone(nc, hc)
		auth, endpoint = ks, ks.Endpoint
	}
	prov := nova.New(nova.Config{Cloud: cloud, Window: nc.Window, Lag: cfg.Poll.Lag, PageLimit: nc.PageLimit, Endpoint: endpoint,
		Client: &poller.Client{HTTP: hc, Auth: auth, Timeout: cfg.Poll.Timeout, Clock: s.e.clock}})
	s.e.log.Info("nova endpoints", zap.String("compute", nc.ComputeURL), zap.String("keystone", nc.AuthURL))
	return startPoller(ctx, s, brokers, "nova", nova.Source(cloud), prov)
}
