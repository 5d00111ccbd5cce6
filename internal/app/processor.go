package app

import (
	"context"
	"net/http"

	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/processor"
	"github.com/meterline/meterline/internal/provisioning"
)

// The catalog tells the processor each organization's account and currency.
var _ processor.Accounts = (*catalog.Catalog)(nil)

// startProcessor starts the metering processor over the provisioning state in store. Its
// readiness check names a broker that does not answer, and a Kafka failure the processor is
// riding out (a transaction that could not end) until a transaction commits again.
func startProcessor(ctx context.Context, s *stack, brokers []string, store *provisioning.Store) error {
	cfg := s.e.cfg
	proc, err := processor.New(processor.Config{
		Brokers:         brokers,
		Topics:          kafka.TopicsFor(cfg.Kafka.TopicPrefix),
		Group:           kafka.GroupsFor(cfg.Kafka.TopicPrefix).Processor,
		TransactionalID: cfg.ProcessorID,
		Acceptance:      metering.Acceptance{Slack: cfg.Metering.Slack, Future: cfg.Metering.Future, Retention: cfg.Metering.Retention},
		Clock:           s.e.clock,
		TickInterval:    processor.DefaultTickInterval,
		RatedV1:         cfg.Metering.RatedV1,
	}, store, store, s.e.log.Named("processor"), s.e.reg)
	if err != nil {
		return err
	}
	runUntilStopped(ctx, s, "processor", proc.Run)
	s.ready("processor", kafkaCheck(proc.Client(), proc.Ready))
	return nil
}

func runProcessor(ctx context.Context, e *env) error {
	if err := e.cfg.RequireBrokers(); err != nil {
		return err
	}
	s := newStack(e)
	if err := ensureTopicsAt(ctx, s, e.cfg.Kafka.Brokers); err != nil {
		return err
	}
	store, err := startProvisioning(ctx, s, e.cfg.Kafka.Brokers, nil, false)
	if err != nil {
		return err
	}
	if err := startProcessor(ctx, s, e.cfg.Kafka.Brokers, store); err != nil {
		return err
	}
	if err := serveHTTP(s, http.NewServeMux()); err != nil {
		return err
	}
	return s.wait(ctx)
}
