package app

import (
	"context"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/clickhouse"
)

func runMigrate(ctx context.Context, e *env) error {
	conn, err := openClickHouse(ctx, e, true)
	if err != nil {
		return err
	}
	defer conn.Close()
	v, err := clickhouse.SchemaVersion(ctx, conn)
	if err != nil {
		return err
	}
	e.log.Info("clickhouse schema is up to date", zap.Uint32("version", v), zap.String("database", e.cfg.ClickHouse.Database))
	return nil
}
