package app

import (
	"context"
	"net/http"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/collector"
	"github.com/meterline/meterline/internal/kafka"
)

// startCollector serves the collection API on mux. Its readiness check names a broker that
// does not answer, and a Kafka known to be down (POSTs then answered 503 at once).
func startCollector(ctx context.Context, s *stack, brokers []string, conn clickhouse.Conn, accounts collector.Accounts, mux *http.ServeMux) error {
	cfg := s.e.cfg
	cl, err := kafka.NewClient(brokers, s.e.log)
	if err != nil {
		return err
	}
	pub := kafka.NewPublisher(cl, kafka.TopicsFor(cfg.Kafka.TopicPrefix).Collected)
	c := collector.New(collector.Config{MaxBodyBytes: cfg.MaxBodyBytes, ProduceTimeout: cfg.Kafka.ProduceTimeout, Clock: s.e.clock,
		MaxBatchDocuments: cfg.MaxBatchDocuments, MaxBatchBytes: cfg.MaxBatchBytes},
		pub, clickhouse.Archive{Events: clickhouse.NewEvents(conn), Rejections: clickhouse.NewRejections(conn)},
		accounts, s.e.log.Named("collector"), s.e.reg)
	c.Register(mux)
	s.ready("collector", kafkaCheck(cl, c.Ready))
	// Registered before the HTTP server, so it runs after the server has drained its
	// requests: every 201 given has its record acknowledged already; Flush is for safety.
	s.onStop(func(ctx context.Context) {
		if err := cl.Flush(ctx); err != nil {
			s.e.log.Warn("kafka producer flush", zap.Error(err))
		}
		cl.Close()
	})
	return nil
}

func runCollector(ctx context.Context, e *env) error {
	s, conn, err := clickHouseService(ctx, e)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	store, err := startProvisioning(ctx, s, e.cfg.Kafka.Brokers, nil, false)
	if err != nil {
		return err
	}
	if err := startCollector(ctx, s, e.cfg.Kafka.Brokers, conn, store, mux); err != nil {
		return err
	}
	if err := serveAPI(ctx, s, mux, store.Catalog); err != nil {
		return err
	}
	return s.wait(ctx)
}
