package app

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/poller/vcloudair"
	"github.com/meterline/meterline/internal/poller/vcloudair/vcasim"
)

// vcloudAirProvider is vCloud Air OnDemand's metering API (internal/poller/vcloudair), with
// its simulator.
var vcloudAirProvider = provider{
	name:       "vcloudair",
	required:   "METERLINE_VCLOUDAIR_URL is required, with METERLINE_VCLOUDAIR_USERNAME and _PASSWORD or METERLINE_VCLOUDAIR_TOKEN",
	configured: func(cfg config.Config) bool { return cfg.VCloudAir.Configured() },
	start:      startVCloudAirPoller,
	sim: scriptedSim("METERLINE_VCASIM_SCRIPT", func(e *env) string { return e.cfg.VCloudAir.SimScript }, vcasim.DemoScript,
		func(e *env, sc vcasim.Script, base string) (http.Handler, []zap.Field) {
			return vcasim.New(sc, e.clock).Handler(), []zap.Field{zap.String("url", base), zap.Int("service_instances", len(sc.Instances))}
		}),
	pointAt: func(cfg config.Config, base string) config.Config {
		v := &cfg.VCloudAir
		v.URL, v.Username, v.Password = base, "meterline", "dev"
		if v.Account == "" {
			v.Account = "vcasim"
		}
		return cfg
	},
}

// startVCloudAirPoller starts the vCloud Air poller of cfg.VCloudAir.
func startVCloudAirPoller(ctx context.Context, s *stack, brokers []string, cfg config.Config) error {
	vc := cfg.VCloudAir
	account := vc.Account
	if account == "" {
		account = vcloudair.AccountOf(vc.URL)
	}
	hc := &http.Client{}
	var auth poller.Auth = &vcloudair.Login{URL: vc.URL, Username: vc.Username, Password: vc.Password, HTTP: hc}
	if vc.Token != "" {
		auth = vcloudair.StaticToken(vc.Token)
	}
	prov := vcloudair.New(vcloudair.Config{Account: account, URL: vc.URL, Lag: cfg.Poll.Lag, Recheck: cfg.Poll.Interval,
		Client: &poller.Client{HTTP: hc, Auth: auth, Timeout: cfg.Poll.Timeout, Clock: s.e.clock}})
	s.e.log.Info("vcloudair endpoint", zap.String("url", vc.URL), zap.String("account", account))
	if err := startPoller(ctx, s, brokers, "vcloudair", vcloudair.Source(account), prov); err != nil {
		return err
	}
	return startVCloudAirBilling(ctx, s, prov, cfg)
}

// startVCloudAirBilling runs the billing loop beside the poller: the billed usage of each
// closed billing month into vcloudair_billed, for the reconciliation report (never metered).
func startVCloudAirBilling(ctx context.Context, s *stack, prov *vcloudair.Provider, cfg config.Config) error {
	conn, err := startClickHouse(ctx, s, false)
	if err != nil {
		return err
	}
	table := clickhouse.NewVCloudAirBilled(conn)
	b := &vcloudair.Billing{Provider: prov, Write: func(ctx context.Context, rows []vcloudair.Billed, now time.Time) error {
		return table.Insert(ctx, rows, now)
	},
		WriteDirectory: clickhouse.NewVCloudAirDirectory(conn).InsertDirectory,
		WriteCosts:     clickhouse.NewVCloudAirDirectory(conn).InsertCosts,
		Clock:          s.e.clock, Interval: cfg.Poll.Interval,
		Log: s.e.log.Named("vcloudair-billing")}
	runUntilStopped(ctx, s, "vcloudair billing", func(ctx context.Context) error {
		if err := b.Run(ctx); ctx.Err() == nil {
			return err
		}
		return nil
	})
	return nil
}
