package app

import (
	"context"
	"net/http"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/rawsink"
	"github.com/meterline/meterline/internal/sinks"
)

// startSinks starts the raw event sink (usage_events), the cell sink (usage_cells) and the
// rejection sink (usage_rejections).
func startSinks(ctx context.Context, s *stack, brokers []string, conn clickhouse.Conn) (*rawsink.Sink, error) {
	cfg := s.e.cfg
	topics, groups := kafka.TopicsFor(cfg.Kafka.TopicPrefix), kafka.GroupsFor(cfg.Kafka.TopicPrefix)
	raw, err := rawsink.New(rawsink.Config{
		Brokers:       brokers,
		Topic:         topics.Collected,
		Group:         groups.RawSink,
		BatchSize:     cfg.Sink.BatchSize,
		FlushInterval: cfg.Sink.FlushInterval,
	}, clickhouse.NewEvents(conn), s.e.log.Named("rawsink"), s.e.reg)
	if err != nil {
		return nil, err
	}
	sinkCfg := func(topic, group string) sinks.Config {
		return sinks.Config{Brokers: brokers, Topic: topic, Group: group, BatchSize: cfg.Sink.BatchSize, FlushInterval: cfg.Sink.FlushInterval}
	}
	cells, err := sinks.Cells(sinkCfg(topics.Rated, groups.CellSink), clickhouse.NewCells(conn).Insert, s.e.log.Named("cellsink"), s.e.reg)
	if err != nil {
		raw.Client().Close()
		return nil, err
	}
	rejections, err := sinks.Rejections(sinkCfg(topics.Rejected, groups.RejectionSink), clickhouse.NewRejections(conn).Insert, s.e.log.Named("rejectionsink"), s.e.reg)
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
