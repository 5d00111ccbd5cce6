package app

import (
	"context"
	"net/http"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/sink"
)

// startSinks starts the raw event sink (usage_events), the cell sink (usage_cells), the
// rejection sink (usage_rejections), and the metadata sink (provider_metadata). The readiness check of each names a broker that does not
// answer, a write that keeps failing and offsets that could not be committed.
func startSinks(ctx context.Context, s *stack, brokers []string, conn clickhouse.Conn) error {
	cfg := s.e.cfg
	topics, groups := kafka.TopicsFor(cfg.Kafka.TopicPrefix), kafka.GroupsFor(cfg.Kafka.TopicPrefix)
	sinkCfg := func(topic, group string) sink.Config {
		return sink.Config{Brokers: brokers, Topic: topic, Group: group, DeadLetter: topics.DeadLetter,
			BatchSize: cfg.Sink.BatchSize, FlushInterval: cfg.Sink.FlushInterval}
	}
	raw, err := sink.NewRaw(sinkCfg(topics.Collected, groups.RawSink), clickhouse.NewEvents(conn), s.e.log.Named("rawsink"), s.e.reg)
	if err != nil {
		return err
	}
	cellTable := clickhouse.NewCells(conn)
	cellTable.Clock = s.e.clock // the write time of each row (visible_ms)
	cells, err := sink.NewCells(sinkCfg(topics.RatedBatch, groups.CellSink), cellTable, s.e.log.Named("cellsink"), s.e.reg)
	if err != nil {
		raw.Client().Close()
		return err
	}
	rejections, err := sink.NewRejections(sinkCfg(topics.Rejected, groups.RejectionSink), clickhouse.NewRejections(conn), s.e.log.Named("rejectionsink"), s.e.reg)
	if err != nil {
		raw.Client().Close()
		cells.Client().Close()
		return err
	}
	runUntilStopped(ctx, s, "raw sink", raw.Run)
	runUntilStopped(ctx, s, "cell sink", cells.Run)
	runUntilStopped(ctx, s, "rejection sink", rejections.Run)
	s.ready("rawsink", raw.Ready)
	s.ready("cellsink", cells.Ready)
	s.ready("rejectionsink", rejections.Ready)
	return startMetadataSink(ctx, s, sinkCfg(topics.PollerMetadata, groups.MetadataSink), conn)
}

func runSink(ctx context.Context, e *env) error {
	s, conn, err := clickHouseService(ctx, e)
	if err != nil {
		return err
	}
	if err := startSinks(ctx, s, e.cfg.Kafka.Brokers, conn); err != nil {
		return err
	}
	if err := serveHTTP(s, http.NewServeMux()); err != nil {
		return err
	}
	return s.wait(ctx)
}
