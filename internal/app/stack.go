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

// stack is the set of running components of a process, stopped in reverse order of start.
type stack struct {
	e       *env
	stops   []func(context.Context)
	errc    chan error
	running int
}

func newStack(e *env) *stack { return &stack{e: e, errc: make(chan error, 16)} }

// onStop registers fn to run at stop, before what was registered earlier.
func (s *stack) onStop(fn func(context.Context)) { s.stops = append(s.stops, fn) }

// goRun runs fn in the background; its error (or its end) stops the process.
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

// serveHTTP starts the HTTP listener with mux plus /healthz, /readyz and /metrics, for a
// process that serves no API (the sink, the processor): those routes are open.
func serveHTTP(s *stack, mux *http.ServeMux, checks map[string]web.Check) error {
	return listen(s, mux, mux, checks)
}

// serveAPI starts the HTTP listener with the APIs of mux behind the authenticator (over the
// accounts and API keys of cat), plus the open /healthz, /readyz and /metrics.
func serveAPI(ctx context.Context, s *stack, mux *http.ServeMux, checks map[string]web.Check, cat auth.Catalog) error {
	a, err := newAuthenticator(ctx, s, cat)
	if err != nil {
		return err
	}
	return listen(s, mux, a.Wrap(mux), checks)
}

func listen(s *stack, mux *http.ServeMux, h http.Handler, checks map[string]web.Check) error {
	web.NewHealth(checks).Register(mux)
	mux.Handle("GET /metrics", metrics.Handler(s.e.reg))
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

func readiness(cl *kgo.Client, conn clickhouse.Conn) map[string]web.Check {
	return map[string]web.Check{
		"kafka":      func(ctx context.Context) error { return kafka.Ping(ctx, cl) },
		"clickhouse": func(ctx context.Context) error { return clickhouse.Ping(ctx, conn) },
	}
}

// clickHouseService starts what a service on Kafka and ClickHouse needs: the stack, its
// ClickHouse connection (closed at stop) and the topics.
func clickHouseService(ctx context.Context, e *env) (*stack, clickhouse.Conn, error) {
	if err := e.cfg.RequireBrokers(); err != nil {
		return nil, nil, err
	}
	s := newStack(e)
	conn, err := openClickHouse(ctx, e, false)
	if err != nil {
		return nil, nil, err
	}
	s.onStop(func(context.Context) { conn.Close() })
	if err := ensureTopicsAt(ctx, s, e.cfg.Kafka.Brokers); err != nil {
		return nil, nil, err
	}
	return s, conn, nil
}
