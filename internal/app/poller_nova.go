package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

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
	sim: func(e *env, base string) (http.Handler, []zap.Field, error) {
		sc, err := novaScript(e)
		if err != nil {
			return nil, nil, err
		}
		return novasim.New(sc, e.clock).Handler(base), []zap.Field{zap.String("keystone", novasim.AuthURL(base)),
			zap.String("compute", novasim.ComputeURL(base)), zap.Int("servers", len(sc.Servers))}, nil
	},
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

// novaScript returns the script of the Nova simulator: the file of METERLINE_NOVASIM_SCRIPT,
// or the demo fleet around the clock's present.
func novaScript(e *env) (novasim.Script, error) {
	if e.cfg.NovaSimScript == "" {
		return novasim.DemoScript(e.clock.Now()), nil
	}
	raw, err := os.ReadFile(e.cfg.NovaSimScript)
	if err != nil {
		return novasim.Script{}, fmt.Errorf("METERLINE_NOVASIM_SCRIPT: %w", err)
	}
	var sc novasim.Script
	if err := json.Unmarshal(raw, &sc); err != nil {
		return novasim.Script{}, fmt.Errorf("METERLINE_NOVASIM_SCRIPT %s: %w", e.cfg.NovaSimScript, err)
	}
	return sc, nil
}
