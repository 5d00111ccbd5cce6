package app

import (
	"context"
	"time"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/poller/cf"
)

// startCFMetadata runs the metadata loop beside the Cloud Foundry poller: every poll interval
// it reads the foundation's organizations, spaces, apps, service instances and quotas and
// writes them into cf_metadata for the PCF usage report (never metered, no topic).
func startCFMetadata(ctx context.Context, s *stack, prov *cf.Provider, foundation string, cfg config.Config) error {
	conn, err := startClickHouse(ctx, s, false)
	if err != nil {
		return err
	}
	table := clickhouse.NewCFMetadata(conn)
	l := &cf.MetadataLoop{Provider: prov, Clock: s.e.clock, Interval: cfg.Poll.Interval, Log: s.e.log.Named("cf-metadata"),
		Write: func(ctx context.Context, rows []cf.Meta, read time.Time) error {
			return table.Insert(ctx, foundation, rows, read) // cf.Meta and pcf.Meta are one type, cfmeta.Meta
		}}
	runUntilStopped(ctx, s, "cf metadata", func(ctx context.Context) error {
		if err := l.Run(ctx); ctx.Err() == nil {
			return err
		}
		return nil
	})
	return nil
}
