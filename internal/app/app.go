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
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/cli"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/platform/logging"
	"github.com/meterline/meterline/internal/platform/metrics"
)

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, e *env) error
	// api: the command serves APIs, behind the authenticator (docs/security.md).
	api bool
}

var commands = []command{
	{"dev", "run every service in one process (embedded Kafka unless METERLINE_KAFKA_BROKERS is set)", runDev, true},
	{"collector", "run the usage collection API (POST/GET /v1/metering/collected/usage)", runCollector, true},
	{"sink", "run the sinks (collected usage -> usage_events, rated cells -> usage_cells, rejections -> usage_rejections)", runSink, false},
	{"processor", "run the metering processor (collected usage -> window cells, rated and rejected usage)", runProcessor, false},
	{"reporting", "run the usage reports API (organization and resource instance reports, GraphQL)", runReporting, true},
	{"provisioning", "run the provisioning API (plans, mappings, accounts, plan-id look-ups)", runProvisioning, true},
	{"migrate", "apply the ClickHouse schema migrations and exit", runMigrate, false},
	{"poller", "poller <provider>: poll a provider's usage API into the collected topic (" + providerNames() + ")", runPoller, false},
	{"sim", "sim <provider>: serve a simulated provider API playing a scripted fleet (" + providerNames() + ")", runSim, false},
}

// env is what every command gets.
type env struct {
	cfg config.Config
	log *zap.Logger
	reg *prometheus.Registry
	// clock is the clock of every component of the process (the system clock unless
	// METERLINE_CLOCK_START pins it): read once, so that in `dev` all share one.
	clock clock.Clock
	// provider is the provider of `poller <provider>` and `sim <provider>`.
	provider string
	// anonymous admits API requests without credentials as admin (see prepareAuth).
	anonymous bool
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
	if args[0] == "report" {
		return cli.Report(args[1:], getenv, stdout, stderr)
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
	name, provider := cmd.name, ""
	if (cmd.name == "poller" || cmd.name == "sim") && len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		provider, args = args[1], append([]string{args[0]}, args[2:]...)
		name += " " + provider
	}
	cfg, rest, err := config.Load("meterline "+name, args[1:], getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected arguments: %s", strings.Join(rest, " "))
	}
	anonymous := false
	if err == nil && cmd.api {
		anonymous, err = prepareAuth(&cfg)
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
	if err := cmd.run(ctx, &env{cfg: cfg, log: log, reg: metrics.NewRegistry(), clock: cfg.Clock(), provider: provider, anonymous: anonymous}); err != nil {
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
	fmt.Fprintf(w, "  %-10s %s\n", "report", "report --org ID [--time T] [--format table|json|csv]: an organization's usage and charges")
	fmt.Fprintf(w, "  %-10s %s\n", "plans", "plans apply -f DIR: load a folder of plan, mapping and account documents through the API")
	fmt.Fprintln(w, "\n`meterline <command> --help` lists the command's settings (flags and METERLINE_* variables).")
}
