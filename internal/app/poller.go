package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/poller"
)

// provider is one poller adapter and its simulator, as `meterline poller <name>`,
// `meterline sim <name>` and `meterline dev` (METERLINE_DEV_SIMULATORS) run them. Each
// provider's wiring is a file of its own (poller_<name>.go); providers lists them.
type provider struct {
	name string
	// required names the settings the poller needs, for the error when none is given.
	required string
	// configured reports whether cfg has settings for the poller.
	configured func(cfg config.Config) bool
	// start starts the poller of cfg, publishing to brokers.
	start func(ctx context.Context, s *stack, brokers []string, cfg config.Config) error
	// sim returns the simulator's handler, serving as if at base (a URL without a trailing
	// slash), and a log line's fields.
	sim func(e *env, base string) (http.Handler, []zap.Field, error)
	// pointAt returns cfg with the poller pointed at the simulator at base.
	pointAt func(cfg config.Config, base string) config.Config
}

// providers are the pollers `meterline poller <provider>` runs, in the order `dev` starts them.
var providers = []provider{novaProvider, cfProvider, elasticBoxProvider, vcloudAirProvider}

func providerNames() string {
	names := make([]string, len(providers))
	for i, p := range providers {
		names[i] = p.name
	}
	return strings.Join(names, ", ")
}

func providerNamed(name string) (provider, error) {
	if name == "" {
		return provider{}, fmt.Errorf("usage: meterline poller|sim <provider> (%s)", providerNames())
	}
	for _, p := range providers {
		if p.name == name {
			return p, nil
		}
	}
	return provider{}, fmt.Errorf("unknown provider %q (%s)", name, providerNames())
}

// runPoller is `meterline poller <provider>`: the provider's poller, publishing to Kafka in
// its transactions, with /healthz, /readyz (Kafka answers) and /metrics.
func runPoller(ctx context.Context, e *env) error {
	if err := e.cfg.RequireBrokers(); err != nil {
		return err
	}
	p, err := providerNamed(e.provider)
	if err != nil {
		return err
	}
	if !p.configured(e.cfg) {
		return fmt.Errorf("invalid configuration: %s", p.required)
	}
	s := newStack(e)
	if err := ensureTopicsAt(ctx, s, e.cfg.Kafka.Brokers); err != nil {
		return err
	}
	if err := p.start(ctx, s, e.cfg.Kafka.Brokers, e.cfg); err != nil {
		return err
	}
	if err := serveHTTP(s, http.NewServeMux()); err != nil {
		return err
	}
	return s.wait(ctx)
}

// startPoller claims source's transactional id (which fences an instance still running),
// registers its readiness check (its broker answers) and runs prov until the stack stops.
func startPoller(ctx context.Context, s *stack, brokers []string, name, source string, prov poller.Provider) error {
	cfg := s.e.cfg
	log := s.e.log.Named("poller." + name)
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
	s.ready(name+" poller", kafkaCheck(pub.Client(), nil))
	log.Info(name+" poller", zap.String("source", source))
	pcfg := poller.Config{Source: source, Interval: cfg.Poll.Interval, Start: cfg.Poll.Start, Slack: cfg.Metering.Slack,
		Backoff: poller.Backoff{Base: poller.DefaultBackoff.Base, Max: cfg.Poll.BackoffMax}, Clock: s.e.clock, Metrics: s.pollerMetrics()}
	runUntilStopped(ctx, s, name+" poller", func(ctx context.Context) error {
		err := poller.Run(ctx, pcfg, prov, poller.TxPublisher{P: pub}, log)
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil
		}
		return err
	})
	return nil
}

// runSim is `meterline sim <provider>`: the provider's simulator on METERLINE_HTTP_ADDR, for
// tests and demos.
func runSim(ctx context.Context, e *env) error {
	p, err := providerNamed(e.provider)
	if err != nil {
		return err
	}
	h, fields, err := p.sim(e, "http://"+e.cfg.HTTPAddr)
	if err != nil {
		return err
	}
	s := newStack(e)
	mux := http.NewServeMux()
	mux.Handle("/", h)
	if err := serveHTTP(s, mux); err != nil {
		return err
	}
	e.log.Info(p.name+" simulator", fields...)
	return s.wait(ctx)
}

// startDevPollers mounts the simulators of METERLINE_DEV_SIMULATORS on dev's listener (under
// /sim/<provider>, outside the authenticator: a simulator checks its own tokens) and points
// their pollers at them, unless the provider's own settings are given (then the real provider
// is polled); then it starts every configured poller.
func startDevPollers(ctx context.Context, e *env, s *stack, brokers []string) error {
	cfg := e.cfg
	for _, name := range cfg.DevSimulators {
		p, err := providerNamed(name)
		if err != nil {
			return err
		}
		if p.configured(cfg) {
			continue
		}
		base := "http://" + cfg.HTTPAddr + "/sim/" + p.name
		h, fields, err := p.sim(e, base)
		if err != nil {
			return err
		}
		s.open["/sim/"+p.name+"/"] = http.StripPrefix("/sim/"+p.name, h)
		cfg = p.pointAt(cfg, base)
		e.log.Info(p.name+" simulator started", append(fields, zap.String("url", base))...)
	}
	for _, p := range providers {
		if p.configured(cfg) {
			if err := p.start(ctx, s, brokers, cfg); err != nil {
				return err
			}
		}
	}
	return nil
}
