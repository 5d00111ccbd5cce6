package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/poller/nova"
	"github.com/meterline/meterline/internal/poller/nova/novasim"
)

// providers are the pollers `meterline poller <provider>` runs.
var providers = []string{"nova"}

// runPoller is `meterline poller <provider>`: the provider's poller, publishing to Kafka in
// its transactions, with /healthz, /readyz (Kafka answers) and /metrics.
func runPoller(ctx context.Context, e *env) error {
	if err := e.cfg.RequireBrokers(); err != nil {
		return err
	}
	switch e.provider {
	case "nova":
		if !e.cfg.Nova.Configured() {
			return errors.New("invalid configuration: METERLINE_NOVA_COMPUTE_URL or METERLINE_NOVA_AUTH_URL: one is required")
		}
	case "":
		return fmt.Errorf("usage: meterline poller <provider> (%s)", strings.Join(providers, ", "))
	default:
		return fmt.Errorf("unknown provider %q (%s)", e.provider, strings.Join(providers, ", "))
	}
	s := newStack(e)
	if err := ensureTopicsAt(ctx, s, e.cfg.Kafka.Brokers); err != nil {
		return err
	}
	if err := startNovaPoller(ctx, s, e.cfg.Kafka.Brokers, e.cfg.Nova, poller.NewMetrics(e.reg)); err != nil {
		return err
	}
	if err := serveHTTP(s, http.NewServeMux()); err != nil {
		return err
	}
	return s.wait(ctx)
}

// startNovaPoller starts the Nova poller of nc, with its readiness check (its broker answers).
// It claims the source's transactional id first, which fences an instance still running.
func startNovaPoller(ctx context.Context, s *stack, brokers []string, nc config.Nova, m *poller.Metrics) error {
	cfg := s.e.cfg
	log := s.e.log.Named("poller.nova")
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
	source := nova.Source(cloud)
	var pub *kafka.TxPublisher
	err := retry(ctx, log, "poller transactional id", func(ctx context.Context) error {
		p, err := kafka.NewTxPublisher(ctx, kafka.TxConfig{Brokers: brokers, Topics: kafka.TopicsFor(cfg.Kafka.TopicPrefix),
			Source: source, Prefix: cfg.Kafka.TopicPrefix, Clock: s.e.clock}, log)
		pub = p
		return err
	})
	if err != nil {
		return err
	}
	s.onStop(func(context.Context) { pub.Close() })
	s.ready("nova poller", kafkaCheck(pub.Client(), nil))
	log.Info("nova poller", zap.String("source", source), zap.String("compute", nc.ComputeURL), zap.String("keystone", nc.AuthURL))
	pcfg := poller.Config{Source: source, Interval: cfg.Poll.Interval, Start: cfg.Poll.Start, Slack: cfg.Metering.Slack,
		Backoff: poller.DefaultBackoff, Clock: s.e.clock, Metrics: m}
	runUntilStopped(ctx, s, "nova poller", func(ctx context.Context) error {
		err := poller.Run(ctx, pcfg, prov, poller.TxPublisher{P: pub}, log)
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil
		}
		return err
	})
	return nil
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

// runSim is `meterline sim <provider>`: the provider's simulator on METERLINE_HTTP_ADDR
// (Keystone under /identity/v3, Nova under /compute/v2.1), for tests and demos.
func runSim(ctx context.Context, e *env) error {
	if e.provider != "nova" {
		return fmt.Errorf("usage: meterline sim nova (unknown provider %q)", e.provider)
	}
	sc, err := novaScript(e)
	if err != nil {
		return err
	}
	s := newStack(e)
	mux := http.NewServeMux()
	mux.Handle("/", novasim.New(sc, e.clock).Handler("http://"+e.cfg.HTTPAddr))
	if err := serveHTTP(s, mux); err != nil {
		return err
	}
	e.log.Info("nova simulator", zap.String("keystone", novasim.AuthURL("http://"+e.cfg.HTTPAddr)),
		zap.String("compute", novasim.ComputeURL("http://"+e.cfg.HTTPAddr)), zap.Int("servers", len(sc.Servers)))
	return s.wait(ctx)
}

// startDevSimulators mounts the simulators of METERLINE_DEV_SIMULATORS on dev's listener
// (under /sim/<provider>, outside the authenticator: a simulator checks its own tokens) and
// points their pollers at them, unless the provider's own settings are given (then the real
// provider is polled).
func startDevSimulators(e *env, s *stack) (config.Nova, error) {
	nc := e.cfg.Nova
	for _, sim := range e.cfg.DevSimulators {
		if sim != "nova" || nc.Configured() {
			continue
		}
		sc, err := novaScript(e)
		if err != nil {
			return nc, err
		}
		base := "http://" + e.cfg.HTTPAddr + "/sim/nova"
		s.open["/sim/nova/"] = http.StripPrefix("/sim/nova", novasim.New(sc, e.clock).Handler(base))
		nc.AuthURL, nc.Username, nc.Password, nc.ProjectName = novasim.AuthURL(base), "meterline", "dev", "admin"
		if nc.Cloud == "" {
			nc.Cloud = "novasim"
		}
		e.log.Info("nova simulator started", zap.String("keystone", nc.AuthURL), zap.Int("servers", len(sc.Servers)))
	}
	return nc, nil
}
