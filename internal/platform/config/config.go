// Package config reads Meterline's configuration. Every setting has one name in the
// environment (METERLINE_HTTP_ADDR) and one flag (--http-addr), the same for every service and
// subcommand; a flag wins over the environment, which wins over the default. A value that does
// not parse, or a configuration that does not hold together, stops start-up with one message
// that names the setting.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
)

// Config is the configuration of every Meterline service.
type Config struct {
	HTTPAddr        string
	ShutdownTimeout time.Duration
	MaxBodyBytes    int64
	// MaxBatchDocuments and MaxBatchBytes bound a batch POST to the collector.
	MaxBatchDocuments int
	MaxBatchBytes     int64
	LogLevel          string
	LogFormat         string
	// ProcessorID names this metering processor instance: its Kafka transactional id. It must
	// be unique among running instances and stable across restarts of one (so that a
	// restarted instance fences its own unfinished transactions).
	ProcessorID string
	// DevDataDir is where `meterline dev` keeps the embedded broker's log ("" keeps it in
	// memory, lost on exit).
	DevDataDir string
	// ClockStart, when set, pins the services' clock: it reads ClockStart at start-up and
	// then runs at the wall clock's pace. It is for tests and demos of a given moment (a
	// month's last second); the zero value is the system clock.
	ClockStart time.Time

	Kafka      Kafka
	ClickHouse ClickHouse
	Sink       Sink
	Metering   Metering
	Poll       Poll
	Nova       Nova
	CF         CF
	ElasticBox ElasticBox
	VCloudAir  VCloudAir
	// DevSimulators names the provider simulators `meterline dev` starts and polls ("nova").
	DevSimulators []string
	// NovaSimScript is the JSON script (fleet and faults) of `meterline sim nova`; "" plays
	// the demo fleet.
	NovaSimScript string
	Auth          Auth
}

// Simulators are the providers with a simulator (METERLINE_DEV_SIMULATORS).
var Simulators = []string{"nova", "cf", "elasticbox", "vcloudair"}

// Poll configures every poller's loop (internal/poller).
type Poll struct {
	// Interval is how often a poller looks for periods to read once it has caught up.
	Interval time.Duration
	// Lag is how long a closed period waits before it is read, so that the provider has
	// finished writing it.
	Lag time.Duration
	// Start is where a poller without state starts; the zero value is as far back as the
	// slack allows.
	Start time.Time
	// Timeout bounds one request to a provider.
	Timeout time.Duration
	// BackoffMax is the longest pause after failed polls in a row (the pause doubles from a
	// second up to it, with jitter).
	BackoffMax time.Duration
}

// Nova configures the OpenStack Nova poller (internal/poller/nova): either ComputeURL with
// Token, or Keystone v3 (AuthURL and user or application credentials), the compute endpoint
// then taken from the catalog.
type Nova struct {
	ComputeURL string
	Token      string

	AuthURL                    string
	Username, UserID, Password string
	UserDomain                 string
	ProjectID, ProjectName     string
	ProjectDomain              string
	AppCredentialID, AppSecret string
	Region                     string

	// Cloud names the cloud in the poller's source and dedup ids; "" is the host of the
	// compute or auth URL.
	Cloud string
	// PageLimit is the limit of each page of os-simple-tenant-usage.
	PageLimit int
	// Window is the length of the periods read (an hour by default).
	Window time.Duration
}

// Configured reports whether the Nova poller has settings.
func (n Nova) Configured() bool { return n.ComputeURL != "" || n.AuthURL != "" }

// Auth configures who may call the APIs (docs/security.md).
type Auth struct {
	// Issuer is the issuer of the JWTs accepted ("" accepts none); without JWKSURL its keys
	// are found by OIDC discovery.
	Issuer string
	// JWKSURL is where the issuer's signing keys are (UAA: <uaa>/token_keys).
	JWKSURL string
	// Audience, when set, must be among a token's aud.
	Audience string
	// OrganizationsClaim and AccountClaim name the claims granting organizations.
	OrganizationsClaim string
	AccountClaim       string
	// AdminKeys are static admin keys; AdminKeysFile a file of more, one a line.
	AdminKeys     []string
	AdminKeysFile string
}

// Configured reports whether any credential can be checked: an issuer or an admin key.
func (a Auth) Configured() bool {
	return a.Issuer != "" || len(a.AdminKeys) > 0 || a.AdminKeysFile != ""
}

// MinAdminKeyLength bounds an admin key from below: a short one is guessed.
const MinAdminKeyLength = 16

// Metering configures the metering processor's time rules.
type Metering struct {
	// Slack is how late usage may arrive: usage that ended longer before it was published is
	// rejected as too late.
	Slack time.Duration
	// Future is how far after it was published usage may end (clock skew).
	Future time.Duration
	// ReportSlots is how many periods a report shows per level [second, minute, hour, day,
	// month]: slot 0 holds the report's time, slot 1 the period before, and so on.
	ReportSlots metering.Slots
	// Retention is how long the processor keeps each level's cells [second, minute, hour,
	// day, month] after their period ends (0: the slack); late usage after it no longer
	// changes that level (metering.Retention).
	Retention metering.Retention
	// RatedV1 makes the processor produce <prefix>.usage.rated.v1 (one record per changed
	// cell) besides the batches of <prefix>.usage.rated.v2, for the exporters of one release
	// that still read v1. Off by default.
	RatedV1 bool
}

// Kafka configures the Kafka clients and the topics Meterline creates.
type Kafka struct {
	// Brokers are the seed brokers. Empty means the embedded broker, which only `meterline dev`
	// may use.
	Brokers        []string
	TopicPrefix    string
	Partitions     int32
	Replication    int16
	Retention      time.Duration
	ProduceTimeout time.Duration
	// ChangelogSegment is the changelog topic's segment.ms, how long its active segment is
	// written before it rolls, and its max.compaction.lag.ms, how long a rolled segment may
	// wait for the cleaner. The cleaner never compacts the active segment, so at a sustained
	// rate the changelog holds some multiple of this long of records (most of them fine cells
	// later tombstoned) besides its live keys.
	ChangelogSegment time.Duration
	// ChangelogDeleteRetention is the changelog topic's delete.retention.ms: how long a
	// tombstone is kept after the cleaning that first reaches it. A restore that reads a
	// partition for longer could miss a tombstone whose key's value it has read; the processor
	// then removes what the partition's floor has passed, all that a tombstone deletes.
	ChangelogDeleteRetention time.Duration
}

// ClickHouse configures the ClickHouse connection.
type ClickHouse struct {
	Addr        string
	Database    string
	User        string
	Password    string
	DialTimeout time.Duration
}

// Sink configures the batching sinks into ClickHouse: a batch is written when it holds
// BatchSize rows or when FlushInterval has passed since its first row, whichever comes first.
type Sink struct {
	BatchSize     int
	FlushInterval time.Duration
}

// Default returns the configuration with every default applied.
func Default() Config {
	return Config{
		HTTPAddr:          "127.0.0.1:8080",
		ShutdownTimeout:   30 * time.Second,
		MaxBodyBytes:      1 << 20,
		MaxBatchDocuments: 1000,
		MaxBatchBytes:     8 << 20,
		LogLevel:          "info",
		LogFormat:         "json",
		DevDataDir:        ".meterline/dev/kafka",
		ProcessorID:       defaultProcessorID(),
		Kafka: Kafka{
			TopicPrefix:    "meterline",
			Partitions:     12,
			Replication:    -1,
			Retention:      7 * 24 * time.Hour,
			ProduceTimeout: 10 * time.Second,
			// Both an hour, from BenchmarkProcessorSoak (docs/benchmarks.md, "Bounded
			// state"): the changelog then holds about two hours of writes besides its live
			// keys, not a day or more as with Kafka's defaults, and a restore, which reads
			// them, about half the hour at the processor's full rate on 3 partitions.
			ChangelogSegment:         time.Hour,
			ChangelogDeleteRetention: time.Hour,
		},
		ClickHouse: ClickHouse{
			Addr:        "127.0.0.1:9000",
			Database:    "meterline",
			User:        "default",
			DialTimeout: 5 * time.Second,
		},
		Sink: Sink{BatchSize: 10000, FlushInterval: time.Second},
		Poll: Poll{Interval: time.Minute, Lag: 10 * time.Minute, Timeout: time.Minute, BackoffMax: 5 * time.Minute},
		Nova: Nova{UserDomain: "Default", ProjectDomain: "Default", PageLimit: 1000, Window: time.Hour},
		CF:   CF{MinAge: 5 * time.Minute, Overlap: 15 * time.Minute},
		Auth: Auth{OrganizationsClaim: "meterline_organizations", AccountClaim: "meterline_account"},
		Metering: Metering{
			Slack:       metering.DefaultAcceptance.Slack,
			Future:      metering.DefaultAcceptance.Future,
			ReportSlots: metering.DefaultSlots,
			Retention:   metering.DefaultRetention,
		},
		ElasticBox: ElasticBox{CostScale: 100},
	}
}

// setting is one configuration value with its two names.
type setting struct {
	env, flag, usage string
	set              func(string) error
	show             func() string
}

func (c *Config) settings() []setting {
	return append([]setting{
		str(&c.HTTPAddr, "METERLINE_HTTP_ADDR", "http-addr", "address of the HTTP listener (every API, /healthz, /readyz, /metrics)"),
		dur(&c.ShutdownTimeout, "METERLINE_SHUTDOWN_TIMEOUT", "shutdown-timeout", "how long a stop may take to drain and flush"),
		i64(&c.MaxBodyBytes, "METERLINE_MAX_BODY_BYTES", "max-body-bytes", "largest request body accepted, in bytes"),
		integer(&c.MaxBatchDocuments, "METERLINE_MAX_BATCH_DOCUMENTS", "max-batch-documents", "most documents in one batch POST to the collector"),
		i64(&c.MaxBatchBytes, "METERLINE_MAX_BATCH_BYTES", "max-batch-bytes", "largest batch POST body the collector accepts, in bytes (each of its documents is also bounded by the largest body)"),
		str(&c.LogLevel, "METERLINE_LOG_LEVEL", "log-level", "debug, info, warn or error"),
		str(&c.LogFormat, "METERLINE_LOG_FORMAT", "log-format", "json or console"),
		str(&c.ProcessorID, "METERLINE_PROCESSOR_ID", "processor-id", "this metering processor's Kafka transactional id: unique per instance, stable across its restarts"),
		instant(&c.ClockStart, "METERLINE_CLOCK_START", "clock-start", "for tests and demos: the instant (RFC 3339) the services' clock reads at start, running on from there; empty is the system clock"),
		str(&c.DevDataDir, "METERLINE_DEV_DATA_DIR", "dev-data-dir", "folder of the embedded broker's data in `dev`; the flag set empty (--dev-data-dir=) keeps it in memory"),
		list(&c.Kafka.Brokers, "METERLINE_KAFKA_BROKERS", "kafka-brokers", "comma-separated Kafka seed brokers; empty in `dev` means the embedded broker"),
		str(&c.Kafka.TopicPrefix, "METERLINE_TOPIC_PREFIX", "topic-prefix", "prefix of every topic name"),
		i32(&c.Kafka.Partitions, "METERLINE_TOPIC_PARTITIONS", "topic-partitions", "partitions of the topics Meterline creates"),
		i16(&c.Kafka.Replication, "METERLINE_TOPIC_REPLICATION", "topic-replication", "replication factor of the topics Meterline creates; -1 is the broker's default"),
		dur(&c.Kafka.Retention, "METERLINE_TOPIC_RETENTION", "topic-retention", "retention of the collected-usage topic"),
		dur(&c.Kafka.ChangelogSegment, "METERLINE_CHANGELOG_SEGMENT", "changelog-segment", "segment.ms and max.compaction.lag.ms of the processor's changelog topic: how long its active segment, which compaction never cleans, is written before it rolls, and how long a rolled one may wait for the cleaner; set on the topic at every start"),
		dur(&c.Kafka.ChangelogDeleteRetention, "METERLINE_CHANGELOG_DELETE_RETENTION", "changelog-delete-retention", "delete.retention.ms of the processor's changelog topic: how long compaction keeps a tombstone; set on the topic at every start"),
		dur(&c.Kafka.ProduceTimeout, "METERLINE_PRODUCE_TIMEOUT", "produce-timeout", "how long the collector waits for Kafka to acknowledge a document before answering 503"),
		str(&c.ClickHouse.Addr, "METERLINE_CLICKHOUSE_ADDR", "clickhouse-addr", "ClickHouse native protocol address"),
		str(&c.ClickHouse.Database, "METERLINE_CLICKHOUSE_DATABASE", "clickhouse-database", "ClickHouse database, created when missing"),
		str(&c.ClickHouse.User, "METERLINE_CLICKHOUSE_USER", "clickhouse-user", "ClickHouse user"),
		str(&c.ClickHouse.Password, "METERLINE_CLICKHOUSE_PASSWORD", "clickhouse-password", "ClickHouse password"),
		dur(&c.ClickHouse.DialTimeout, "METERLINE_CLICKHOUSE_DIAL_TIMEOUT", "clickhouse-dial-timeout", "ClickHouse connect timeout"),
		dur(&c.Metering.Slack, "METERLINE_SLACK", "slack", "how late usage may arrive (its end before the time its collector published it); older usage is rejected as too late"),
		dur(&c.Metering.Future, "METERLINE_FUTURE", "future", "how far in the future usage may end (clock skew); later usage is rejected"),
		boolean(&c.Metering.RatedV1, "METERLINE_RATED_V1", "rated-v1", "also produce the rated usage topic v1 (one record per changed cell) besides v2 (batches), for exporters not yet on v2; deprecated, for one release"),
		retention(&c.Metering.Retention, "METERLINE_RETENTION", "retention", "how long the processor keeps each level's cells after their period ends, second,minute,hour,day,month (durations, or slack); later usage no longer changes that level"),
		slots(&c.Metering.ReportSlots, "METERLINE_REPORT_SLOTS", "report-slots", "periods a report shows per level: second,minute,hour,day,month"),
		integer(&c.Sink.BatchSize, "METERLINE_SINK_BATCH_SIZE", "sink-batch-size", "rows a sink batch holds before it is written"),
		dur(&c.Sink.FlushInterval, "METERLINE_SINK_FLUSH_INTERVAL", "sink-flush-interval", "longest a row waits in a sink batch"),
		dur(&c.Poll.Interval, "METERLINE_POLL_INTERVAL", "poll-interval", "how often a poller looks for closed periods to read once it has caught up"),
		dur(&c.Poll.Lag, "METERLINE_POLL_LAG", "poll-lag", "how long a closed period waits before a poller reads it"),
		instant(&c.Poll.Start, "METERLINE_POLL_START", "poll-start", "where a poller without state starts (RFC 3339); empty is as far back as the slack allows"),
		dur(&c.Poll.Timeout, "METERLINE_POLL_TIMEOUT", "poll-timeout", "longest a poller waits for one answer of a provider"),
		dur(&c.Poll.BackoffMax, "METERLINE_POLL_BACKOFF_MAX", "poll-backoff-max", "longest pause of a poller after failed polls in a row (it doubles from a second up to this)"),
		str(&c.Nova.ComputeURL, "METERLINE_NOVA_COMPUTE_URL", "nova-compute-url", "Nova compute endpoint (https://nova.example:8774/v2.1), with a token; or leave it empty and give Keystone"),
		str(&c.Nova.Token, "METERLINE_NOVA_TOKEN", "nova-token", "a Keystone token for the compute URL"),
		str(&c.Nova.AuthURL, "METERLINE_NOVA_AUTH_URL", "nova-auth-url", "Keystone v3 URL (https://keystone.example:5000/v3); the compute endpoint then comes from its catalog"),
		str(&c.Nova.Username, "METERLINE_NOVA_USERNAME", "nova-username", "Keystone user name"),
		str(&c.Nova.UserID, "METERLINE_NOVA_USER_ID", "nova-user-id", "Keystone user id (instead of the name)"),
		str(&c.Nova.Password, "METERLINE_NOVA_PASSWORD", "nova-password", "Keystone password"),
		str(&c.Nova.UserDomain, "METERLINE_NOVA_USER_DOMAIN", "nova-user-domain", "domain name of the Keystone user"),
		str(&c.Nova.ProjectID, "METERLINE_NOVA_PROJECT_ID", "nova-project-id", "project the token is scoped to (its id)"),
		str(&c.Nova.ProjectName, "METERLINE_NOVA_PROJECT_NAME", "nova-project-name", "project the token is scoped to (its name)"),
		str(&c.Nova.ProjectDomain, "METERLINE_NOVA_PROJECT_DOMAIN", "nova-project-domain", "domain name of the project"),
		str(&c.Nova.AppCredentialID, "METERLINE_NOVA_APPLICATION_CREDENTIAL_ID", "nova-application-credential-id", "Keystone application credential id (instead of a user and password)"),
		str(&c.Nova.AppSecret, "METERLINE_NOVA_APPLICATION_CREDENTIAL_SECRET", "nova-application-credential-secret", "Keystone application credential secret"),
		str(&c.Nova.Region, "METERLINE_NOVA_REGION", "nova-region", "region of the compute endpoint in the catalog; empty takes the first"),
		str(&c.Nova.Cloud, "METERLINE_NOVA_CLOUD", "nova-cloud", "name of the cloud in the poller's source and dedup ids; empty is the endpoint's host"),
		integer(&c.Nova.PageLimit, "METERLINE_NOVA_PAGE_LIMIT", "nova-page-limit", "servers per page of os-simple-tenant-usage"),
		dur(&c.Nova.Window, "METERLINE_NOVA_WINDOW", "nova-window", "length of the periods read from os-simple-tenant-usage (whole minutes dividing a day)"),
		list(&c.DevSimulators, "METERLINE_DEV_SIMULATORS", "dev-simulators", "provider simulators `dev` starts and polls (nova)"),
		str(&c.NovaSimScript, "METERLINE_NOVASIM_SCRIPT", "novasim-script", "file of the fleet and faults `sim nova` plays (JSON); empty plays the demo fleet"),
		str(&c.Auth.Issuer, "METERLINE_AUTH_ISSUER", "auth-issuer", "issuer (iss) of the OAuth2 JWTs accepted, an OIDC issuer or UAA's token URL; empty accepts no JWT"),
		str(&c.Auth.JWKSURL, "METERLINE_AUTH_JWKS_URL", "auth-jwks-url", "URL of the issuer's signing keys (a JWKS, such as UAA's /token_keys); empty finds them by OIDC discovery"),
		str(&c.Auth.Audience, "METERLINE_AUTH_AUDIENCE", "auth-audience", "when set, a JWT's aud must include it"),
		str(&c.Auth.OrganizationsClaim, "METERLINE_AUTH_ORGANIZATIONS_CLAIM", "auth-organizations-claim", "JWT claim listing the organization ids a token may use (\"*\": all)"),
		str(&c.Auth.AccountClaim, "METERLINE_AUTH_ACCOUNT_CLAIM", "auth-account-claim", "JWT claim naming an account whose organizations a token may use"),
		list(&c.Auth.AdminKeys, "METERLINE_AUTH_ADMIN_KEYS", "auth-admin-keys", "comma-separated static admin keys (at least 16 characters each), to create the first API keys"),
		str(&c.Auth.AdminKeysFile, "METERLINE_AUTH_ADMIN_KEYS_FILE", "auth-admin-keys-file", "file of static admin keys, one a line (a mounted secret)"),
	}, slices.Concat(c.CF.settings(), c.elasticBoxSettings(), c.vcloudAirSettings())...)
}

// Load reads the configuration from the environment (getenv) and then from args, which are
// the flags of a subcommand. It returns the arguments left after the flags. A -h or --help
// prints every setting to out and returns flag.ErrHelp.
func Load(name string, args []string, getenv func(string) string, out io.Writer) (Config, []string, error) {
	c := Default()
	if slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "--help" || a == "-help" }) {
		printUsage(out, name)
		return c, nil, flag.ErrHelp
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	settings := c.settings()
	for _, s := range settings {
		if v := getenv(s.env); v != "" {
			if err := s.set(v); err != nil {
				return c, nil, fmt.Errorf("invalid configuration: %s=%q: %w", s.env, v, err)
			}
		}
		fs.Func(s.flag, s.usage, s.set)
	}
	if err := fs.Parse(args); err != nil {
		return c, nil, fmt.Errorf("invalid configuration: %w (see `%s --help`)", err, name)
	}
	if err := c.Validate(); err != nil {
		return c, nil, err
	}
	return c, fs.Args(), nil
}

// printUsage lists every setting with its default (never the value in force, which may be a
// secret taken from the environment).
func printUsage(out io.Writer, name string) {
	fmt.Fprintf(out, "Usage: %s [flags]\n\nEvery flag can also be set by its environment variable.\n\n", name)
	d := Default()
	for _, s := range d.settings() {
		fmt.Fprintf(out, "  --%-26s %s\n      %s (default %q)\n", s.flag, s.env, s.usage, s.show())
	}
}

var databaseName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
var topicPrefix = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// Validate checks that the configuration holds together; its error names each bad setting.
func (c Config) Validate() error {
	var errs []error
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("METERLINE_HTTP_ADDR", "%q is not host:port", c.HTTPAddr)
	}
	if c.ShutdownTimeout <= 0 {
		bad("METERLINE_SHUTDOWN_TIMEOUT", "must be positive")
	}
	if c.MaxBodyBytes < 1024 {
		bad("METERLINE_MAX_BODY_BYTES", "must be at least 1024")
	}
	if c.MaxBatchDocuments < 1 || c.MaxBatchDocuments > 100000 {
		bad("METERLINE_MAX_BATCH_DOCUMENTS", "must be between 1 and 100000")
	}
	if c.MaxBatchBytes < c.MaxBodyBytes {
		bad("METERLINE_MAX_BATCH_BYTES", "must be at least METERLINE_MAX_BODY_BYTES")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("METERLINE_LOG_LEVEL", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		bad("METERLINE_LOG_FORMAT", "%q is not json or console", c.LogFormat)
	}
	for _, b := range c.Kafka.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			bad("METERLINE_KAFKA_BROKERS", "%q is not host:port", b)
		}
	}
	if !topicPrefix.MatchString(c.Kafka.TopicPrefix) {
		bad("METERLINE_TOPIC_PREFIX", "%q must be 1 to 100 of letters, digits, '.', '_' and '-'", c.Kafka.TopicPrefix)
	}
	if c.Kafka.Partitions < 1 {
		bad("METERLINE_TOPIC_PARTITIONS", "must be at least 1")
	}
	if c.Kafka.Replication == 0 || c.Kafka.Replication < -1 {
		bad("METERLINE_TOPIC_REPLICATION", "must be at least 1, or -1 for the broker's default")
	}
	if c.Kafka.Retention < time.Hour {
		bad("METERLINE_TOPIC_RETENTION", "must be at least 1h")
	}
	if c.Kafka.ProduceTimeout <= 0 {
		bad("METERLINE_PRODUCE_TIMEOUT", "must be positive")
	}
	if c.Kafka.ChangelogSegment < time.Second {
		bad("METERLINE_CHANGELOG_SEGMENT", "must be at least 1s")
	}
	if c.Kafka.ChangelogDeleteRetention < time.Second {
		bad("METERLINE_CHANGELOG_DELETE_RETENTION", "must be at least 1s")
	}
	if _, _, err := net.SplitHostPort(c.ClickHouse.Addr); err != nil {
		bad("METERLINE_CLICKHOUSE_ADDR", "%q is not host:port", c.ClickHouse.Addr)
	}
	if !databaseName.MatchString(c.ClickHouse.Database) {
		bad("METERLINE_CLICKHOUSE_DATABASE", "%q is not a plain identifier (letters, digits, '_')", c.ClickHouse.Database)
	}
	if c.ClickHouse.DialTimeout <= 0 {
		bad("METERLINE_CLICKHOUSE_DIAL_TIMEOUT", "must be positive")
	}
	if c.ProcessorID == "" || len(c.ProcessorID) > 200 {
		bad("METERLINE_PROCESSOR_ID", "must be 1 to 200 characters")
	}
	if c.Sink.BatchSize < 1 {
		bad("METERLINE_SINK_BATCH_SIZE", "must be at least 1")
	}
	if c.Sink.FlushInterval <= 0 {
		bad("METERLINE_SINK_FLUSH_INTERVAL", "must be positive")
	}
	if c.Metering.Slack <= 0 {
		bad("METERLINE_SLACK", "must be positive")
	}
	if c.Metering.Future < 0 {
		bad("METERLINE_FUTURE", "must not be negative")
	}
	if c.Poll.Interval <= 0 {
		bad("METERLINE_POLL_INTERVAL", "must be positive")
	}
	if c.Poll.Lag < 0 {
		bad("METERLINE_POLL_LAG", "must not be negative")
	}
	if c.Poll.Timeout <= 0 {
		bad("METERLINE_POLL_TIMEOUT", "must be positive")
	}
	if c.Poll.BackoffMax < time.Second {
		bad("METERLINE_POLL_BACKOFF_MAX", "must be at least 1s")
	}
	errs = append(errs, c.Nova.validate()...)
	errs = append(errs, c.CF.validate()...)
	errs = append(errs, c.ElasticBox.validate()...)
	errs = append(errs, c.VCloudAir.validate()...)
	for _, sim := range c.DevSimulators {
		if !slices.Contains(Simulators, sim) {
			bad("METERLINE_DEV_SIMULATORS", "%q is not a simulator (%s)", sim, strings.Join(Simulators, ", "))
		}
	}
	if err := c.Metering.Retention.Validate(c.Metering.Slack); err != nil {
		bad("METERLINE_RETENTION", "%v", err)
	}
	if err := c.Metering.ReportSlots.Validate(); err != nil {
		bad("METERLINE_REPORT_SLOTS", "%v", err)
	}
	if c.Auth.Issuer != "" {
		if u, err := url.Parse(c.Auth.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("METERLINE_AUTH_ISSUER", "%q is not an http(s) URL", c.Auth.Issuer)
		}
	}
	if c.Auth.JWKSURL != "" {
		if u, err := url.Parse(c.Auth.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("METERLINE_AUTH_JWKS_URL", "%q is not an http(s) URL", c.Auth.JWKSURL)
		}
		if c.Auth.Issuer == "" {
			bad("METERLINE_AUTH_JWKS_URL", "needs METERLINE_AUTH_ISSUER (the iss of the tokens its keys sign)")
		}
	}
	if c.Auth.Issuer != "" && (c.Auth.OrganizationsClaim == "" || c.Auth.AccountClaim == "") {
		bad("METERLINE_AUTH_ORGANIZATIONS_CLAIM", "and METERLINE_AUTH_ACCOUNT_CLAIM must name claims")
	}
	if err := CheckAdminKeys(c.Auth.AdminKeys); err != nil {
		bad("METERLINE_AUTH_ADMIN_KEYS", "%v", err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return nil
}

// validate checks the Nova settings, when any is given.
func (n Nova) validate() []error {
	var errs []error
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
	}
	if n.PageLimit < 1 {
		bad("METERLINE_NOVA_PAGE_LIMIT", "must be at least 1")
	}
	if n.Window < time.Minute || n.Window%time.Minute != 0 || (24*time.Hour)%n.Window != 0 {
		bad("METERLINE_NOVA_WINDOW", "must be whole minutes that divide a day (1h, 30m, 2h)")
	}
	switch {
	case n.ComputeURL != "" && n.AuthURL != "":
		bad("METERLINE_NOVA_COMPUTE_URL", "give it with METERLINE_NOVA_TOKEN, or METERLINE_NOVA_AUTH_URL, not both")
	case n.ComputeURL != "" && n.Token == "":
		bad("METERLINE_NOVA_TOKEN", "is required with METERLINE_NOVA_COMPUTE_URL")
	case n.AuthURL != "" && n.AppCredentialID == "" && n.Password == "":
		bad("METERLINE_NOVA_PASSWORD", "is required with METERLINE_NOVA_AUTH_URL (or an application credential)")
	case n.AuthURL != "" && n.AppCredentialID != "" && n.AppSecret == "":
		bad("METERLINE_NOVA_APPLICATION_CREDENTIAL_SECRET", "is required with METERLINE_NOVA_APPLICATION_CREDENTIAL_ID")
	case n.AuthURL != "" && n.AppCredentialID == "" && n.Username == "" && n.UserID == "":
		bad("METERLINE_NOVA_USERNAME", "is required with METERLINE_NOVA_AUTH_URL (or METERLINE_NOVA_USER_ID)")
	}
	return errs
}

// CheckAdminKeys checks static admin keys: each at least MinAdminKeyLength characters, none
// starting with mlk_ (an API key's prefix). The error never quotes a key.
func CheckAdminKeys(keys []string) error {
	for i, k := range keys {
		switch {
		case len(k) < MinAdminKeyLength:
			return fmt.Errorf("key %d is shorter than %d characters", i+1, MinAdminKeyLength)
		case strings.HasPrefix(k, "mlk_"):
			return fmt.Errorf("key %d starts with mlk_, the prefix of API keys", i+1)
		}
	}
	return nil
}

// Clock is the services' clock: the system clock, or the one pinned by ClockStart.
func (c Config) Clock() clock.Clock {
	if c.ClockStart.IsZero() {
		return clock.Wall
	}
	return clock.StartingAt(c.ClockStart)
}

func defaultProcessorID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return "meterline-processor-" + host
}

// RequireBrokers fails unless Kafka brokers are configured: every service but `dev` needs them.
func (c Config) RequireBrokers() error {
	if len(c.Kafka.Brokers) == 0 {
		return errors.New("invalid configuration: METERLINE_KAFKA_BROKERS: is required (only `meterline dev` has an embedded broker)")
	}
	return nil
}

func str(p *string, env, flag, usage string) setting {
	return setting{env, flag, usage, func(v string) error { *p = strings.TrimSpace(v); return nil }, func() string { return *p }}
}

func boolean(p *bool, env, flag, usage string) setting {
	return setting{env, flag, usage, func(v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return errors.New("not true or false")
		}
		*p = b
		return nil
	}, func() string { return strconv.FormatBool(*p) }}
}

func list(p *[]string, env, flag, usage string) setting {
	return setting{env, flag, usage, func(v string) error {
		*p = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*p = append(*p, s)
			}
		}
		return nil
	}, func() string { return strings.Join(*p, ",") }}
}

func instant(p *time.Time, env, flag, usage string) setting {
	return setting{env, flag, usage, func(v string) error {
		if v = strings.TrimSpace(v); v == "" {
			*p = time.Time{}
			return nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return errors.New("not an RFC 3339 time such as 2026-01-31T23:59:50Z")
		}
		*p = t
		return nil
	}, func() string {
		if p.IsZero() {
			return ""
		}
		return p.Format(time.RFC3339Nano)
	}}
}

func slots(p *metering.Slots, env, flag, usage string) setting {
	return setting{env, flag, usage, func(v string) error {
		parts := strings.Split(v, ",")
		if len(parts) != len(p) {
			return fmt.Errorf("not %d comma-separated counts such as 1,1,1,2,2", len(p))
		}
		for i, s := range parts {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("%q is not a whole number", s)
			}
			p[i] = n
		}
		return nil
	}, func() string { return strings.Trim(strings.Join(strings.Fields(fmt.Sprint(*p)), ","), "[]") }}
}

func retention(p *metering.Retention, env, flag, usage string) setting {
	return setting{env, flag, usage, func(v string) error {
		parts := strings.Split(v, ",")
		if len(parts) != len(p) {
			return fmt.Errorf("not %d comma-separated durations (or slack) such as 1m,1h,slack,slack,slack", len(p))
		}
		for i, s := range parts {
			s = strings.TrimSpace(s)
			if s == "slack" {
				p[i] = 0
				continue
			}
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return fmt.Errorf("%q is not a positive duration such as 1m or 2h, nor slack", s)
			}
			p[i] = d
		}
		return nil
	}, func() string {
		parts := make([]string, len(p))
		for i, d := range p {
			if parts[i] = "slack"; d > 0 {
				parts[i] = d.String()
			}
		}
		return strings.Join(parts, ",")
	}}
}

func dur(p *time.Duration, env, flag, usage string) setting {
	return setting{env, flag, usage, func(v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return errors.New("not a duration such as 500ms, 10s or 2h")
		}
		*p = d
		return nil
	}, func() string { return p.String() }}
}

func parseInt[T int | int16 | int32 | int64](p *T, bits int) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, bits)
		if err != nil {
			return fmt.Errorf("not a whole number of at most %d bits", bits)
		}
		*p = T(n)
		return nil
	}
}

func integer(p *int, env, flag, usage string) setting {
	return setting{env, flag, usage, parseInt(p, 64), func() string { return strconv.Itoa(*p) }}
}

func i16(p *int16, env, flag, usage string) setting {
	return setting{env, flag, usage, parseInt(p, 16), func() string { return strconv.Itoa(int(*p)) }}
}

func i32(p *int32, env, flag, usage string) setting {
	return setting{env, flag, usage, parseInt(p, 32), func() string { return strconv.Itoa(int(*p)) }}
}

func i64(p *int64, env, flag, usage string) setting {
	return setting{env, flag, usage, parseInt(p, 64), func() string { return strconv.FormatInt(*p, 10) }}
}
