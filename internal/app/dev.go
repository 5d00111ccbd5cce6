package app

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/kafka"
)

func runDev(ctx context.Context, e *env) error {
	brokers := e.cfg.Kafka.Brokers
	s := newStack(e)
	if len(brokers) == 0 {
		if e.cfg.DevDataDir != "" {
			if err := os.MkdirAll(e.cfg.DevDataDir, 0o755); err != nil {
				return fmt.Errorf("embedded kafka data folder: %w", err)
			}
		}
		emb, err := kafka.StartEmbedded(e.cfg.DevDataDir)
		if err != nil {
			return err
		}
		brokers = emb.Brokers()
		e.log.Info("embedded kafka started", zap.Strings("brokers", brokers), zap.String("data", e.cfg.DevDataDir))
		s.onStop(func(context.Context) { emb.Close() })
	}
	conn, err := startClickHouse(ctx, s, true)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	if err := ensureTopicsAt(ctx, s, brokers); err != nil {
		return err
	}
	store, err := startProvisioning(ctx, s, brokers, mux, true)
	if err != nil {
		return err
	}
	if err := startCollector(ctx, s, brokers, conn, store, mux); err != nil {
		return err
	}
	if err := startSinks(ctx, s, brokers, conn); err != nil {
		return err
	}
	if err := startProcessor(ctx, s, brokers, store); err != nil {
		return err
	}
	if err := startReporting(s, conn, store, mux); err != nil {
		return err
	}
	if err := startDevPollers(ctx, e, s, brokers); err != nil {
		return err
	}
	if err := serveAPI(ctx, s, mux, store.Catalog); err != nil {
		return err
	}
	return s.wait(ctx)
}
