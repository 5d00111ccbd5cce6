package app

import (
	"context"
	"fmt"
	"net/http"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/provisioning"
)

// startProvisioning loads the provisioning state from its topic (and, with builtin, the
// built-in sample plans) and, when mux is not nil, serves its API on it. Its readiness check
// names a broker that does not answer the store, which meanwhile keeps the state it has.
func startProvisioning(ctx context.Context, s *stack, brokers []string, mux *http.ServeMux, builtin bool) (*provisioning.Store, error) {
	log := s.e.log.Named("provisioning")
	var store *provisioning.Store
	err := retry(ctx, s.e.log, "provisioning state", func(ctx context.Context) error {
		st, err := provisioning.OpenStore(ctx, brokers, kafka.TopicsFor(s.e.cfg.Kafka.TopicPrefix).Provisioning, log)
		store = st
		return err
	})
	if err != nil {
		return nil, err
	}
	s.onStop(func(context.Context) { store.Close() })
	store.ProduceTimeout = s.e.cfg.Kafka.ProduceTimeout
	s.ready("provisioning", kafkaCheck(store.Client(), nil))
	api := provisioning.NewAPI(store.Catalog, store, log)
	if builtin {
		if err := api.LoadBuiltin(ctx); err != nil {
			return nil, fmt.Errorf("built-in plans: %w", err)
		}
		log.Info("built-in sample plans loaded")
	}
	if mux != nil {
		registerProvisioning(s, store, api, mux)
	}
	return store, nil
}

// registerProvisioning adds the provisioning API (api, over store) and the API keys' routes
// to mux.
func registerProvisioning(s *stack, store *provisioning.Store, api *provisioning.API, mux *http.ServeMux) {
	api.Register(mux)
	provisioning.NewKeysAPI(store.Catalog, store, s.e.clock, s.e.log.Named("provisioning")).Register(mux)
}

func runProvisioning(ctx context.Context, e *env) error {
	if err := e.cfg.RequireBrokers(); err != nil {
		return err
	}
	s := newStack(e)
	admin, err := kafka.NewClient(e.cfg.Kafka.Brokers, e.log)
	if err != nil {
		return err
	}
	s.onStop(func(context.Context) { admin.Close() })
	if err := ensureTopics(ctx, e, admin); err != nil {
		return err
	}
	mux := http.NewServeMux()
	store, err := startProvisioning(ctx, s, e.cfg.Kafka.Brokers, mux, false)
	if err != nil {
		return err
	}
	if err := serveAPI(ctx, s, mux, store.Catalog); err != nil {
		return err
	}
	return s.wait(ctx)
}
