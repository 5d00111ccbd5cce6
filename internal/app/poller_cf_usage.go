package app

import (
	"context"
	"time"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/poller/cf"
	"github.com/meterline/meterline/internal/report/cfrecon"
)

// startCFUsageService runs the Usage Service loop beside the cf poller when
// METERLINE_CF_USAGE_SERVICE_URL is set: each closed day (by METERLINE_POLL_LAG) of every
// organization once into cf_usage_service, for the reconciliation view (never metered).
func startCFUsageService(ctx context.Context, s *stack, prov *cf.Provider, foundation string, cfg config.Config) error {
	if cfg.CF.UsageServiceURL == "" {
		return nil
	}
	conn, err := startClickHouse(ctx, s, false)
	if err != nil {
		return err
	}
	table := clickhouse.NewCFUsageService(conn)
	l := &cf.UsageLoop{Provider: prov, URL: cfg.CF.UsageServiceURL,
		Stored: func(ctx context.Context, days []time.Time) (map[cf.OrgDay]bool, error) {
			got, err := table.Stored(ctx, days)
			out := map[cf.OrgDay]bool{}
			for k := range got {
				if d, err := time.Parse(time.DateOnly, k[1]); err == nil {
					out[cf.OrgDay{Organization: k[0], Day: d}] = true
				}
			}
			return out, err
		},
		Write: func(ctx context.Context, u cf.DayUsage, now time.Time) error {
			return table.Insert(ctx, cfUsageRows(foundation, u), now)
		},
		Clock: s.e.clock, Lag: cfg.Poll.Lag, Interval: cfg.Poll.Interval, Log: s.e.log.Named("cf-usage-service")}
	runUntilStopped(ctx, s, "cf usage service", func(ctx context.Context) error {
		if err := l.Run(ctx); ctx.Err() == nil {
			return err
		}
		return nil
	})
	return nil
}

// cfUsageRows are the rows of an organization's day: a KindDay row, then its entries.
func cfUsageRows(foundation string, u cf.DayUsage) []cfrecon.Row {
	base := cfrecon.Row{Foundation: foundation, Organization: u.Organization, Day: u.Day}
	day := base
	day.Kind = cfrecon.KindDay
	out := []cfrecon.Row{day}
	for i, a := range u.Apps {
		r := base
		r.Kind, r.Entry, r.Space, r.SpaceName, r.App, r.AppName, r.Process = cfrecon.KindApp, i, a.Space, a.SpaceName, a.App, a.AppName, a.Process
		r.Instances, r.Memory, r.Seconds = a.Instances, a.Memory, a.Seconds
		out = append(out, r)
	}
	for i, v := range u.Tasks {
		r := base
		r.Kind, r.Entry, r.Space, r.SpaceName, r.App, r.AppName = cfrecon.KindTask, i, v.Space, v.SpaceName, v.App, v.AppName
		r.Memory, r.Instances, r.Seconds = v.Memory, v.Count, v.Seconds
		out = append(out, r)
	}
	for i, v := range u.Services {
		r := base
		r.Kind, r.Entry, r.Space, r.SpaceName, r.ServiceInstance, r.InstanceName = cfrecon.KindService, i, v.Space, v.SpaceName, v.Instance, v.InstanceName
		r.InstanceType, r.Plan, r.PlanName, r.Service, r.ServiceName = v.InstanceType, v.Plan, v.PlanName, v.Service, v.ServiceName
		r.Deleted, r.Seconds = v.Deleted, v.Seconds
		out = append(out, r)
	}
	return out
}
