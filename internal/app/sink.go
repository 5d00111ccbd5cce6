package app

import (
	"context"
	"net/http"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/sink"
)

// startSinks starts the raw event sink (usage_events), the cell sink (usage_cells) and the
// rejection sink (usage_rejections).
func startSinks(ctx context.Context, s *stack, brokers []string, conn clickhouse.Conn) (*sink.Raw, error) {
	cfg := s.e.cfg
	topics, groups := kafka.TopicsFor(cfg.Kafka.TopicPrefix), kafka.GroupsFor(cfg.Kafka.TopicPrefix)
	sinkCfg := func(topic, group string) sink.Config {
		return sink.Config{Brokers: brokers, Topic: topic, Group: group, DeadLetter: topics.DeadLetter,
			BatchSize: cfg.Sink.BatchSize, FlushInterval: cfg.Sink.FlushInterval}
	}
	raw, err := sink.NewRaw(sinkCfg(topics.Collected, groups.RawSink), clickhouse.NewEvents(conn), s.e.log.Named("rawsink"), s.e.reg)
	if err != nil {
		return nil, err
	}
	cellTable := clickhouse.NewCells(conn)
	cellTable.Clock = s.e.clock // the write time of each row (visible_ms)
	cells, err := sink.NewCells(sinkCfg(topics.Rated, groups.CellSink), cellTable, s.e.log.Named("cellsink"), s.e.reg)
	if err != nil {
		raw.Client().Close()
		return nil, err
	}
	rejections, err := sink.NewRejections(sinkCfg(topics.Rejected, groups.RejectionSink), clickhouse.NewRejections(conn), s.e.log.Named("rejectionsink"), s.e.reg)
	if err != nil {
		raw.Client().Close()
		cells.Client().Close()
		return nil, err
	}
	runUntilStopped(ctx, s, "raw sink", raw.Run)
	runUntilStopped(ctx, s, "cell sink", cells.Run)
	runUntilStopped(ctx, s, "rejection sink", rejections.Run)
	return raw, nil
}

func runSink(ctx context.Context, e *env) error {
	s, conn, err := clickHouseService(ctx, e)
	if err != nil {
		return err
	}
	sink, err := startSinks(ctx, s, e.cfg.Kafka.Brokers, conn)
	if err != nil {
		return err
	}
	if err := serveHTTP(s, http.NewServeMux(), readiness(sink.Client(), conn)); err != nil {
		return err
	}
	return s.wait(ctx)
}
