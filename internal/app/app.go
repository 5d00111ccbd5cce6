// Package app wires Meterline's services from configuration and runs them: one function per
// subcommand of the meterline binary (and per single-service binary under services/). It is
// the only place that knows which components a service is made of and in which order they
// start and stop: storage first, then processors, then HTTP; on SIGTERM or SIGINT the reverse,
// flushing what was accepted.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/collector"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/platform/logging"
	"github.com/meterline/meterline/internal/platform/metrics"
	"github.com/meterline/meterline/internal/platform/web"
	"github.com/meterline/meterline/internal/processor"
	"github.com/meterline/meterline/internal/provisioning"
	"github.com/meterline/meterline/internal/rawsink"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/sinks"
)

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, e *env) error
}

var commands = []command{
	{"dev", "run every service in one process (embedded Kafka unless METERLINE_KAFKA_BROKERS is set)", runDev},
	{"collector", "run the usage collection API (POST/GET /v1/metering/collected/usage)", runCollector},
	{"sink", "run the sinks (collected usage -> usage_events, rated cells -> usage_cells, rejections -> usage_rejections)", runSink},
	{"processor", "run the metering processor (collected usage -> window cells, rated and rejected usage)", runProcessor},
	{"reporting", "run the usage reports API (organization and resource instance reports, GraphQL)", runReporting},
	{"provisioning", "run the provisioning API (plans, mappings, accounts, plan-id look-ups)", runProvisioning},
	{"migrate", "apply the ClickHouse schema migrations and exit", runMigrate},
}

// env is what every command gets.
type env struct {
	cfg config.Config
	log *zap.Logger
	reg *prometheus.Registry
}

// Main runs the meterline command line with args (without the program name) and returns the
// process exit code: 0, 1 for a failure at run time, 2 for bad usage or configuration.
func Main(args []string) int {
	return main(args, os.Getenv, os.Stdout, os.Stderr)
}

// Service runs one named subcommand as its own program (services/<name>/main.go).
func Service(name string) int {
	return main(append([]string{name}, os.Args[1:]...), os.Getenv, os.Stdout, os.Stderr)
}

func main(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return map[bool]int{true: 2, false: 0}[len(args) == 0]
	}
	if args[0] == "plans" {
		return plansCommand(args[1:], getenv, stdout, stderr)
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == args[0] {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "meterline: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	cfg, rest, err := config.Load("meterline "+cmd.name, args[1:], getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected arguments: %s", strings.Join(rest, " "))
	}
	if err != nil {
		fmt.Fprintf(stderr, "meterline %s: %v\n", cmd.name, err)
		return 2
	}
	log, err := logging.New(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintf(stderr, "meterline %s: %v\n", cmd.name, err)
		return 2
	}
	defer log.Sync() //nolint:errcheck // stderr may not sync
	log = log.With(zap.String("service", cmd.name))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := cmd.run(ctx, &env{cfg: cfg, log: log, reg: metrics.NewRegistry()}); err != nil {
		log.Error("stopped with an error", zap.Error(err))
		fmt.Fprintf(stderr, "meterline %s: %v\n", cmd.name, err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Meterline: usage metering and rating.\n\nUsage: meterline <command> [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-10s %s\n", "plans", "plans apply -f DIR: load a folder of plan, mapping and account documents through the API")
	fmt.Fprintln(w, "\n`meterline <command> --help` lists the command's settings (flags and METERLINE_* variables).")
}

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

// serveHTTP starts the HTTP listener with mux plus /healthz, /readyz and /metrics.
func serveHTTP(s *stack, mux *http.ServeMux, checks map[string]web.Check) error {
	web.NewHealth(checks).Register(mux)
	mux.Handle("GET /metrics", metrics.Handler(s.e.reg))
	srv, err := web.Listen(s.e.cfg.HTTPAddr, mux)
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

// components start the pieces the commands are made of.

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

func startCollector(ctx context.Context, s *stack, brokers []string, conn clickhouse.Conn, accounts collector.Accounts, mux *http.ServeMux) (*kgo.Client, error) {
	cfg := s.e.cfg
	cl, err := kafka.NewClient(brokers, s.e.log)
	if err != nil {
		return nil, err
	}
	pub := kafka.NewPublisher(cl, kafka.TopicsFor(cfg.Kafka.TopicPrefix).Collected)
	c := collector.New(collector.Config{MaxBodyBytes: cfg.MaxBodyBytes, ProduceTimeout: cfg.Kafka.ProduceTimeout},
		pub, clickhouse.Archive{Events: clickhouse.NewEvents(conn), Rejections: clickhouse.NewRejections(conn)},
		accounts, s.e.log.Named("collector"), s.e.reg)
	c.Register(mux)
	// Registered before the HTTP server, so it runs after the server has drained its
	// requests: every 201 given has its record acknowledged already; Flush is for safety.
	s.onStop(func(ctx context.Context) {
		if err := cl.Flush(ctx); err != nil {
			s.e.log.Warn("kafka producer flush", zap.Error(err))
		}
		cl.Close()
	})
	return cl, nil
}

// startProvisioning loads the provisioning state from its topic (and, with builtin, the
// built-in sample plans) and, when mux is not nil, serves its API on it.
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
	api := provisioning.NewAPI(store.Catalog, store, log)
	if builtin {
		if err := api.LoadBuiltin(ctx); err != nil {
			return nil, fmt.Errorf("built-in plans: %w", err)
		}
		log.Info("built-in sample plans loaded")
	}
	if mux != nil {
		api.Register(mux)
	}
	return store, nil
}

// startProcessor starts the metering processor over the provisioning state in store.
func startProcessor(ctx context.Context, s *stack, brokers []string, store *provisioning.Store) (*processor.Service, error) {
	cfg := s.e.cfg
	proc, err := processor.New(processor.Config{
		Brokers:         brokers,
		Topics:          kafka.TopicsFor(cfg.Kafka.TopicPrefix),
		Group:           kafka.GroupsFor(cfg.Kafka.TopicPrefix).Processor,
		TransactionalID: cfg.ProcessorID,
		Acceptance:      metering.Acceptance{Slack: cfg.Metering.Slack, Future: cfg.Metering.Future},
	}, store, store, s.e.log.Named("processor"), s.e.reg)
	if err != nil {
		return nil, err
	}
	runUntilStopped(ctx, s, "processor", proc.Run)
	return proc, nil
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
	proc, err := startProcessor(ctx, s, e.cfg.Kafka.Brokers, store)
	if err != nil {
		return err
	}
	checks := map[string]web.Check{"kafka": func(ctx context.Context) error { return kafka.Ping(ctx, proc.Client()) }}
	if err := serveHTTP(s, http.NewServeMux(), checks); err != nil {
		return err
	}
	return s.wait(ctx)
}

func readiness(cl *kgo.Client, conn clickhouse.Conn) map[string]web.Check {
	return map[string]web.Check{
		"kafka":      func(ctx context.Context) error { return kafka.Ping(ctx, cl) },
		"clickhouse": func(ctx context.Context) error { return clickhouse.Ping(ctx, conn) },
	}
}

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
	conn, err := openClickHouse(ctx, e, true)
	if err != nil {
		return err
	}
	s.onStop(func(context.Context) { conn.Close() })
	mux := http.NewServeMux()
	if err := ensureTopicsAt(ctx, s, brokers); err != nil {
		return err
	}
	store, err := startProvisioning(ctx, s, brokers, mux, true)
	if err != nil {
		return err
	}
	cl, err := startCollector(ctx, s, brokers, conn, store, mux)
	if err != nil {
		return err
	}
	if _, err := startSinks(ctx, s, brokers, conn); err != nil {
		return err
	}
	if _, err := startProcessor(ctx, s, brokers, store); err != nil {
		return err
	}
	if err := startReporting(s, conn, store, mux); err != nil {
		return err
	}
	if err := serveHTTP(s, mux, readiness(cl, conn)); err != nil {
		return err
	}
	return s.wait(ctx)
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

// startReporting serves the reports from usage_cells, with the plans' formulas of store.
func startReporting(s *stack, conn clickhouse.Conn, store *provisioning.Store, mux *http.ServeMux) error {
	cfg := s.e.cfg
	r := &report.Reporter{Store: report.NewClickHouseStore(conn), Plans: store.Catalog,
		Slots: metering.Slots(cfg.Metering.ReportSlots), Future: cfg.Metering.Future,
		// Reports read rows written by their time; 5s covers a write in progress at that time
		// and the skew between the clocks of the sink's and the reports' hosts.
		Settle: 5 * time.Second}
	g, err := report.NewGraphQL(r, store.Catalog)
	if err != nil {
		return err
	}
	report.NewAPI(r, g, cfg.MaxBodyBytes, s.e.log.Named("reporting"), s.e.reg).Register(mux)
	return nil
}

func runReporting(ctx context.Context, e *env) error {
	s, conn, err := clickHouseService(ctx, e)
	if err != nil {
		return err
	}
	store, err := startProvisioning(ctx, s, e.cfg.Kafka.Brokers, nil, false)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	if err := startReporting(s, conn, store, mux); err != nil {
		return err
	}
	checks := map[string]web.Check{"clickhouse": func(ctx context.Context) error { return clickhouse.Ping(ctx, conn) }}
	if err := serveHTTP(s, mux, checks); err != nil {
		return err
	}
	return s.wait(ctx)
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
	if _, err := startProvisioning(ctx, s, e.cfg.Kafka.Brokers, mux, false); err != nil {
		return err
	}
	checks := map[string]web.Check{"kafka": func(ctx context.Context) error { return kafka.Ping(ctx, admin) }}
	if err := serveHTTP(s, mux, checks); err != nil {
		return err
	}
	return s.wait(ctx)
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
	cl, err := startCollector(ctx, s, e.cfg.Kafka.Brokers, conn, store, mux)
	if err != nil {
		return err
	}
	if err := serveHTTP(s, mux, readiness(cl, conn)); err != nil {
		return err
	}
	return s.wait(ctx)
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

func runMigrate(ctx context.Context, e *env) error {
	conn, err := openClickHouse(ctx, e, true)
	if err != nil {
		return err
	}
	defer conn.Close()
	v, err := clickhouse.SchemaVersion(ctx, conn)
	if err != nil {
		return err
	}
	e.log.Info("clickhouse schema is up to date", zap.Uint32("version", v), zap.String("database", e.cfg.ClickHouse.Database))
	return nil
}
