package app

import (
	"context"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/sink"
)

// startMetadataSink starts the metadata sink: what pollers read of their providers' entities,
// from the poller metadata topic into provider_metadata.
func startMetadataSink(ctx context.Context, s *stack, cfg sink.Config, conn clickhouse.Conn) error {
	meta, err := sink.NewMetadata(cfg, clickhouse.NewProviderMetadata(conn), s.e.log.Named("metadatasink"), s.e.reg)
	if err != nil {
		return err
	}
	runUntilStopped(ctx, s, "metadata sink", meta.Run)
	s.ready("metadatasink", meta.Ready)
	return nil
}
