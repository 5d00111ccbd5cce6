// The stack of a process: start-up retries, topics, the ClickHouse connection, the HTTP
// listener and the reverse-order stop shared by every service.

package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/platform/metrics"
	"github.com/meterline/meterline/internal/platform/web"
	"github.com/meterline/meterline/internal/poller"
)

// startupTimeout bounds how long a service waits for Kafka and ClickHouse to answer at start,
// so that services started together with their dependencies (docker compose) come up.
const startupTimeout = 60 * time.Second

// retry calls fn until it succeeds, ctx ends or startupTimeout passes.
func retry(ctx context.Context, log *zap.Logger, what string, fn func(context.Context) error) error {
	deadline := time.Now().Add(startupTimeout)
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("%s: %w", what, err)
		}
		log.Warn("waiting for a dependency", zap.String("what", what), zap.Int("attempt", attempt), zap.Error(err))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// openClickHouse connects (creating the database) and applies or checks the schema.
func openClickHouse(ctx context.Context, e *env, migrate bool) (clickhouse.Conn, error) {
	var conn clickhouse.Conn
	err := retry(ctx, e.log, "clickhouse "+e.cfg.ClickHouse.Addr, func(ctx context.Context) error {
		c, err := clickhouse.Open(ctx, e.cfg.ClickHouse)
		if err == nil {
			conn = c
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if migrate {
		err = clickhouse.Migrate(ctx, conn, e.log)
	} else {
		err = clickhouse.RequireSchema(ctx, conn)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// startClickHouse opens ClickHouse (see openClickHouse) for s: closed at stop, checked by
// /readyz.
func startClickHouse(ctx context.Context, s *stack, migrate bool) (clickhouse.Conn, error) {
	conn, err := openClickHouse(ctx, s.e, migrate)
	if err != nil {
		return nil, err
	}
	s.onStop(func(context.Context) { conn.Close() })
	s.ready("clickhouse", func(ctx context.Context) error { return clickhouse.Ping(ctx, conn) })
	return conn, nil
}

// ensureTopicsAt creates Meterline's topics on brokers when they are missing.
func ensureTopicsAt(ctx context.Context, s *stack, brokers []string) error {
	admin, err := kafka.NewClient(brokers, s.e.log)
	if err != nil {
		return err
	}
	defer admin.Close()
	return ensureTopics(ctx, s.e, admin)
}

// ensureTopics creates Meterline's topics through cl when they are missing.
func ensureTopics(ctx context.Context, e *env, cl *kgo.Client) error {
	return retry(ctx, e.log, "kafka topics", func(ctx context.Context) error {
		return kafka.EnsureTopics(ctx, cl, e.cfg.Kafka, e.log)
	})
}

// stack is the set of running components of a process, stopped in reverse order of start,
// with the readiness check of each.
type stack struct {
	e       *env
	stops   []func(context.Context)
	errc    chan error
	running int
	checks  map[string]web.Check
	// open are routes served outside the authenticator, by path prefix.
	open map[string]http.Handler
	// pollers are the metrics of the stack's pollers, registered once for all of them.
	pollers *poller.Metrics
}

func newStack(e *env) *stack {
	return &stack{e: e, errc: make(chan error, 16), checks: map[string]web.Check{}, open: map[string]http.Handler{}}
}

// pollerMetrics returns the metrics every poller of the stack reports to (by source).
func (s *stack) pollerMetrics() *poller.Metrics {
	if s.pollers == nil {
		s.pollers = poller.NewMetrics(s.e.reg)
	}
	return s.pollers
}

// ready adds the /readyz check of the component name: its error says what is down for it.
func (s *stack) ready(name string, check web.Check) { s.checks[name] = check }

// kafkaCheck is the readiness check of a component on cl: the broker answers through cl, and
// the component's own check (nil for none) passes.
func kafkaCheck(cl *kgo.Client, own web.Check) web.Check {
	return func(ctx context.Context) error {
		var err error
		if perr := kafka.Ping(ctx, cl); perr != nil {
			err = fmt.Errorf("kafka: %w", perr)
		}
		if own != nil {
			err = errors.Join(err, own(ctx))
		}
		return err
	}
}

// onStop registers fn to run at stop, before what was registered earlier.
func (s *stack) onStop(fn func(context.Context)) { s.stops = append(s.stops, fn) }

// goRun runs fn in the background; its error (or its end) stops the process. So no component
// returns for an outage of Kafka or ClickHouse: the processor, the sinks and the provisioning
// store ride it out and report it through their readiness checks.
func (s *stack) goRun(name string, fn func() error) {
	s.running++
	go func() {
		err := fn()
		if err != nil {
			err = fmt.Errorf("%s: %w", name, err)
		}
		s.errc <- err
	}()
}

// wait blocks until ctx ends or a component ends, then stops everything in reverse order
// within the shutdown timeout. It returns the first component error.
func (s *stack) wait(ctx context.Context) error {
	var first error
	select {
	case <-ctx.Done():
		s.e.log.Info("stopping")
	case first = <-s.errc:
		s.running--
		if first == nil {
			first = errors.New("a component stopped unexpectedly")
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.e.cfg.ShutdownTimeout)
	defer cancel()
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i](sctx)
	}
	for ; s.running > 0; s.running-- {
		select {
		case err := <-s.errc:
			if err != nil && first == nil {
				first = err
			}
		case <-sctx.Done():
			return errors.Join(first, errors.New("shutdown timed out"))
		}
	}
	if first == nil {
		s.e.log.Info("stopped")
	}
	return first
}

// serveHTTP starts the HTTP listener with mux plus /healthz, /readyz (the checks of the
// components started) and /metrics, for a process that serves no API (the sink, the
// processor, a poller, a simulator): those routes are open.
func serveHTTP(s *stack, mux *http.ServeMux) error {
	return listen(s, mux, mux)
}

// serveAPI starts the HTTP listener with the APIs of mux behind the authenticator (over the
// accounts and API keys of cat), plus the open /healthz, /readyz and /metrics, and the open
// routes of s.open (the simulators of `meterline dev`, which check their own tokens).
func serveAPI(ctx context.Context, s *stack, mux *http.ServeMux, cat auth.Catalog) error {
	a, err := newAuthenticator(ctx, s, cat)
	if err != nil {
		return err
	}
	var h http.Handler = a.Wrap(mux)
	if len(s.open) > 0 {
		root := http.NewServeMux()
		for prefix, oh := range s.open {
			root.Handle(prefix, oh)
		}
		root.Handle("/", h)
		h = root
	}
	return listen(s, mux, h)
}

func listen(s *stack, mux *http.ServeMux, h http.Handler) error {
	registerOpen(s, mux)
	srv, err := web.Listen(s.e.cfg.HTTPAddr, h)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	s.e.log.Info("listening", zap.String("addr", "http://"+srv.Addr()))
	s.goRun("http", srv.Serve)
	s.onStop(func(ctx context.Context) {
		if err := srv.Shutdown(ctx); err != nil {
			s.e.log.Warn("http shutdown", zap.Error(err))
		}
	})
	return nil
}

// registerOpen adds the routes every listener serves outside the authenticator: /healthz,
// /readyz (the checks of the components started), /metrics and the OpenAPI document.
func registerOpen(s *stack, mux *http.ServeMux) {
	web.NewHealth(s.checks).Register(mux)
	mux.Handle("GET /metrics", metrics.Handler(s.e.reg))
	registerOpenAPI(mux, s.e.log)
}

// runUntilStopped runs a processor-like component in the background; at stop it cancels the
// component's context and waits for run to return (a sink writes and commits its open batch,
// the processor ends its transaction).
func runUntilStopped(ctx context.Context, s *stack, name string, run func(context.Context) error) {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	s.goRun(name, func() error { defer close(done); return run(rctx) })
	s.onStop(func(stopCtx context.Context) {
		cancel()
		select {
		case <-done:
		case <-stopCtx.Done():
		}
	})
}

// clickHouseService starts what a service on Kafka and ClickHouse needs: the stack, its
// ClickHouse connection (closed at stop) and the topics.
func clickHouseService(ctx context.Context, e *env) (*stack, clickhouse.Conn, error) {
	if err := e.cfg.RequireBrokers(); err != nil {
		return nil, nil, err
	}
	s := newStack(e)
	conn, err := startClickHouse(ctx, s, false)
	if err != nil {
		return nil, nil, err
	}
	if err := ensureTopicsAt(ctx, s, e.cfg.Kafka.Brokers); err != nil {
		return nil, nil, err
	}
	return s, conn, nil
}
