package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/metering"
)

// env returns a getenv over vars, so that no test reads or changes the process environment.
func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

// names are the environment variables of every setting.
var names = []string{
	"METERLINE_HTTP_ADDR",
	"METERLINE_SHUTDOWN_TIMEOUT",
	"METERLINE_MAX_BODY_BYTES",
	"METERLINE_MAX_BATCH_DOCUMENTS",
	"METERLINE_MAX_BATCH_BYTES",
	"METERLINE_LOG_LEVEL",
	"METERLINE_LOG_FORMAT",
	"METERLINE_DEV_DATA_DIR",
	"METERLINE_CLOCK_START",
	"METERLINE_PROCESSOR_ID",
	"METERLINE_SLACK",
	"METERLINE_REPORT_SLOTS",
	"METERLINE_RETENTION",
	"METERLINE_RATED_V1",
	"METERLINE_FUTURE",
	"METERLINE_KAFKA_BROKERS",
	"METERLINE_TOPIC_PREFIX",
	"METERLINE_TOPIC_PARTITIONS",
	"METERLINE_TOPIC_REPLICATION",
	"METERLINE_TOPIC_RETENTION",
	"METERLINE_CHANGELOG_SEGMENT",
	"METERLINE_CHANGELOG_DELETE_RETENTION",
	"METERLINE_PRODUCE_TIMEOUT",
	"METERLINE_CLICKHOUSE_ADDR",
	"METERLINE_CLICKHOUSE_DATABASE",
	"METERLINE_CLICKHOUSE_USER",
	"METERLINE_CLICKHOUSE_PASSWORD",
	"METERLINE_CLICKHOUSE_DIAL_TIMEOUT",
	"METERLINE_SINK_BATCH_SIZE",
	"METERLINE_SINK_FLUSH_INTERVAL",
	"METERLINE_POLL_INTERVAL",
	"METERLINE_POLL_LAG",
	"METERLINE_POLL_START",
	"METERLINE_POLL_TIMEOUT",
	"METERLINE_POLL_BACKOFF_MAX",
	"METERLINE_NOVA_COMPUTE_URL",
	"METERLINE_NOVA_TOKEN",
	"METERLINE_NOVA_AUTH_URL",
	"METERLINE_NOVA_USERNAME",
	"METERLINE_NOVA_USER_ID",
	"METERLINE_NOVA_PASSWORD",
	"METERLINE_NOVA_USER_DOMAIN",
	"METERLINE_NOVA_PROJECT_ID",
	"METERLINE_NOVA_PROJECT_NAME",
	"METERLINE_NOVA_PROJECT_DOMAIN",
	"METERLINE_NOVA_APPLICATION_CREDENTIAL_ID",
	"METERLINE_NOVA_APPLICATION_CREDENTIAL_SECRET",
	"METERLINE_NOVA_REGION",
	"METERLINE_NOVA_CLOUD",
	"METERLINE_NOVA_PAGE_LIMIT",
	"METERLINE_NOVA_WINDOW",
	"METERLINE_DEV_SIMULATORS",
	"METERLINE_NOVASIM_SCRIPT",
	"METERLINE_CF_API_URL", "METERLINE_CF_TOKEN", "METERLINE_CF_UAA_URL", "METERLINE_CF_CLIENT_ID",
	"METERLINE_CF_CLIENT_SECRET", "METERLINE_CF_USAGE_SERVICE_URL", "METERLINE_CF_MIN_AGE", "METERLINE_CF_OVERLAP", "METERLINE_CF_FOUNDATION", "METERLINE_CFSIM_SCRIPT",
	"METERLINE_AUTH_ISSUER",
	"METERLINE_AUTH_JWKS_URL",
	"METERLINE_AUTH_AUDIENCE",
	"METERLINE_AUTH_ORGANIZATIONS_CLAIM",
	"METERLINE_AUTH_ACCOUNT_CLAIM",
	"METERLINE_AUTH_ADMIN_KEYS",
	"METERLINE_AUTH_ADMIN_KEYS_FILE",
	"METERLINE_ELASTICBOX_URL", "METERLINE_ELASTICBOX_TOKEN", "METERLINE_ELASTICBOX_ORGANIZATIONS", "METERLINE_ELASTICBOX_COST_SCALE", "METERLINE_EBSIM_SCRIPT",
}

func TestLoadDefaults(t *testing.T) {
	c, rest, err := Load("meterline", nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 0 {
		t.Errorf("rest = %q, want none", rest)
	}
	want := Config{
		HTTPAddr:          "127.0.0.1:8080",
		ShutdownTimeout:   30 * time.Second,
		MaxBodyBytes:      1 << 20,
		LogLevel:          "info",
		LogFormat:         "json",
		DevDataDir:        ".meterline/dev/kafka",
		ProcessorID:       defaultProcessorID(),
		MaxBatchDocuments: 1000,
		MaxBatchBytes:     8 << 20,
		Kafka: Kafka{
			TopicPrefix:              "meterline",
			Partitions:               12,
			Replication:              -1,
			Retention:                7 * 24 * time.Hour,
			ProduceTimeout:           10 * time.Second,
			ChangelogSegment:         time.Hour,
			ChangelogDeleteRetention: time.Hour,
		},
		ClickHouse: ClickHouse{
			Addr:        "127.0.0.1:9000",
			Database:    "meterline",
			User:        "default",
			DialTimeout: 5 * time.Second,
		},
		Metering: Metering{Slack: 48 * time.Hour, Future: time.Minute, ReportSlots: metering.Slots{1, 1, 1, 2, 2},
			Retention: metering.Retention{time.Minute, time.Hour, 0, 0, 0}},
		Sink: Sink{BatchSize: 10000, FlushInterval: time.Second},
		Poll: Poll{Interval: time.Minute, Lag: 10 * time.Minute, Timeout: time.Minute, BackoffMax: 5 * time.Minute},
		Nova: Nova{UserDomain: "Default", ProjectDomain: "Default", PageLimit: 1000, Window: time.Hour},
		CF:   CF{MinAge: 5 * time.Minute, Overlap: 15 * time.Minute},
		Auth: Auth{OrganizationsClaim: "meterline_organizations", AccountClaim: "meterline_account"},
	}
	want.ElasticBox = ElasticBox{CostScale: 100}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load with nothing set\n got %+v\nwant %+v", c, want)
	}
	if !reflect.DeepEqual(Default(), want) {
		t.Errorf("Default()\n got %+v\nwant %+v", Default(), want)
	}
}

func TestLoad(t *testing.T) {
	f := func(name string, vars map[string]string, args []string, get func(Config) any, want any) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			t.Helper()
			c, _, err := Load("meterline", args, env(vars), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got := get(c); !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
	addr := func(c Config) any { return c.HTTPAddr }
	f("default", nil, nil, addr, "127.0.0.1:8080")
	f("env overrides default", map[string]string{"METERLINE_HTTP_ADDR": "0.0.0.0:9090"}, nil, addr, "0.0.0.0:9090")
	f("flag overrides env", map[string]string{"METERLINE_HTTP_ADDR": "0.0.0.0:9090"}, []string{"--http-addr", ":7070"}, addr, ":7070")
	f("flag overrides default", nil, []string{"-http-addr=:7070"}, addr, ":7070")
	f("last flag wins", nil, []string{"--http-addr=:1", "--http-addr=:2"}, addr, ":2")
	f("empty env is unset", map[string]string{"METERLINE_HTTP_ADDR": ""}, nil, addr, "127.0.0.1:8080")
	f("env is trimmed", map[string]string{"METERLINE_HTTP_ADDR": " :9090\n"}, nil, addr, ":9090")

	brokers := func(c Config) any { return c.Kafka.Brokers }
	f("no brokers", nil, nil, brokers, []string(nil))
	f("brokers", map[string]string{"METERLINE_KAFKA_BROKERS": "k1:9092, k2:9092,,"}, nil, brokers, []string{"k1:9092", "k2:9092"})
	f("broker flag replaces env", map[string]string{"METERLINE_KAFKA_BROKERS": "k1:9092,k2:9092"}, []string{"--kafka-brokers=k3:9092"}, brokers, []string{"k3:9092"})

	f("batch size", map[string]string{"METERLINE_SINK_BATCH_SIZE": "500"}, nil, func(c Config) any { return c.Sink.BatchSize }, 500)
	f("batch size flag over env", map[string]string{"METERLINE_SINK_BATCH_SIZE": "500"}, []string{"--sink-batch-size", "7"}, func(c Config) any { return c.Sink.BatchSize }, 7)
	f("flush interval", map[string]string{"METERLINE_SINK_FLUSH_INTERVAL": "250ms"}, nil, func(c Config) any { return c.Sink.FlushInterval }, 250*time.Millisecond)
	f("partitions", map[string]string{"METERLINE_TOPIC_PARTITIONS": "3"}, nil, func(c Config) any { return c.Kafka.Partitions }, int32(3))
	f("replication", map[string]string{"METERLINE_TOPIC_REPLICATION": "3"}, nil, func(c Config) any { return c.Kafka.Replication }, int16(3))
	f("max body bytes", nil, []string{"--max-body-bytes=2048"}, func(c Config) any { return c.MaxBodyBytes }, int64(2048))
	f("retention", map[string]string{"METERLINE_TOPIC_RETENTION": "48h"}, nil, func(c Config) any { return c.Kafka.Retention }, 48*time.Hour)
	f("changelog segment", map[string]string{"METERLINE_CHANGELOG_SEGMENT": "10m"}, nil, func(c Config) any { return c.Kafka.ChangelogSegment }, 10*time.Minute)
	f("changelog delete retention", nil, []string{"--changelog-delete-retention=2h"}, func(c Config) any { return c.Kafka.ChangelogDeleteRetention }, 2*time.Hour)
	f("clickhouse", map[string]string{"METERLINE_CLICKHOUSE_ADDR": "ch:9000", "METERLINE_CLICKHOUSE_DATABASE": "usage_2",
		"METERLINE_CLICKHOUSE_USER": "u", "METERLINE_CLICKHOUSE_PASSWORD": "p"}, []string{"--clickhouse-user=v"},
		func(c Config) any { return c.ClickHouse }, ClickHouse{Addr: "ch:9000", Database: "usage_2", User: "v", Password: "p", DialTimeout: 5 * time.Second})
	f("dev data dir emptied by flag", map[string]string{"METERLINE_DEV_DATA_DIR": "/data"}, []string{"--dev-data-dir="}, func(c Config) any { return c.DevDataDir }, "")
	f("clock start", map[string]string{"METERLINE_CLOCK_START": "2025-12-31T23:59:59.5Z"}, nil,
		func(c Config) any { return c.ClockStart }, time.Date(2025, 12, 31, 23, 59, 59, 500_000_000, time.UTC))
	f("clock start emptied by flag", map[string]string{"METERLINE_CLOCK_START": "2025-12-31T23:59:59Z"}, []string{"--clock-start="},
		func(c Config) any { return c.ClockStart.IsZero() }, true)
	f("rated v1", map[string]string{"METERLINE_RATED_V1": "true"}, nil,
		func(c Config) any { return c.Metering.RatedV1 }, true)
	f("report slots", map[string]string{"METERLINE_REPORT_SLOTS": "1, 2,3,4,12"}, nil,
		func(c Config) any { return c.Metering.ReportSlots }, metering.Slots{1, 2, 3, 4, 12})
	f("retention", map[string]string{"METERLINE_RETENTION": "10s, 2h,slack,72h,slack"}, nil,
		func(c Config) any { return c.Metering.Retention }, metering.Retention{10 * time.Second, 2 * time.Hour, 0, 72 * time.Hour, 0})
	f("log", map[string]string{"METERLINE_LOG_LEVEL": "debug", "METERLINE_LOG_FORMAT": "console"}, nil,
		func(c Config) any { return [2]string{c.LogLevel, c.LogFormat} }, [2]string{"debug", "console"})

	t.Run("arguments after the flags", func(t *testing.T) {
		_, rest, err := Load("meterline", []string{"--log-level", "warn", "migrate", "--x"}, env(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"migrate", "--x"}; !reflect.DeepEqual(rest, want) {
			t.Errorf("rest = %q, want %q", rest, want)
		}
	})
}

// checkNames fails the test unless err's message names exactly the settings of want, each
// once, and no other.
func checkNames(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %v", want)
	}
	msg := err.Error()
	for _, n := range names {
		count := strings.Count(msg, n+":") + strings.Count(msg, n+"=")
		wanted := 0
		for _, w := range want {
			if w == n {
				wanted = 1
			}
		}
		if count != wanted {
			t.Errorf("error names %s %d times, want %d: %v", n, count, wanted, msg)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	f := func(name string, vars map[string]string, args []string, want ...string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			t.Helper()
			_, _, err := Load("meterline", args, env(vars), io.Discard)
			checkNames(t, err, want...)
			if err != nil && !strings.HasPrefix(err.Error(), "invalid configuration: ") {
				t.Errorf("error %q does not start with \"invalid configuration: \"", err)
			}
		})
	}
	f("batch size abc", map[string]string{"METERLINE_SINK_BATCH_SIZE": "abc"}, nil, "METERLINE_SINK_BATCH_SIZE")
	f("replication over int16", map[string]string{"METERLINE_TOPIC_REPLICATION": "40000"}, nil, "METERLINE_TOPIC_REPLICATION")
	f("partitions over int32", map[string]string{"METERLINE_TOPIC_PARTITIONS": "3000000000"}, nil, "METERLINE_TOPIC_PARTITIONS")
	f("rated v1 yes", map[string]string{"METERLINE_RATED_V1": "yes"}, nil, "METERLINE_RATED_V1")
	f("four report slots", map[string]string{"METERLINE_REPORT_SLOTS": "1,1,2,2"}, nil, "METERLINE_REPORT_SLOTS")
	f("four retentions", map[string]string{"METERLINE_RETENTION": "1m,1h,slack,slack"}, nil, "METERLINE_RETENTION")
	f("zero retention", map[string]string{"METERLINE_RETENTION": "0s,1h,slack,slack,slack"}, nil, "METERLINE_RETENTION")
	f("hours kept less than the slack", map[string]string{"METERLINE_RETENTION": "1m,1h,1h,slack,slack"}, nil, "METERLINE_RETENTION")
	f("report slots over 100", map[string]string{"METERLINE_REPORT_SLOTS": "1,1,1,2,101"}, nil, "METERLINE_REPORT_SLOTS")
	f("clock start without a zone", map[string]string{"METERLINE_CLOCK_START": "2026-01-31 23:59:50"}, nil, "METERLINE_CLOCK_START")
	f("duration without unit", map[string]string{"METERLINE_SHUTDOWN_TIMEOUT": "30"}, nil, "METERLINE_SHUTDOWN_TIMEOUT")
	f("valid values that do not hold", map[string]string{"METERLINE_LOG_LEVEL": "loud", "METERLINE_TOPIC_PARTITIONS": "0"}, nil,
		"METERLINE_LOG_LEVEL", "METERLINE_TOPIC_PARTITIONS")
	f("flag makes env invalid", map[string]string{"METERLINE_CLICKHOUSE_DATABASE": "good"}, []string{"--clickhouse-database=x-y"},
		"METERLINE_CLICKHOUSE_DATABASE")

	t.Run("env error quotes the value", func(t *testing.T) {
		_, _, err := Load("meterline", nil, env(map[string]string{"METERLINE_SINK_BATCH_SIZE": "abc"}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), `METERLINE_SINK_BATCH_SIZE="abc"`) {
			t.Errorf("error %v, want it to contain METERLINE_SINK_BATCH_SIZE=\"abc\"", err)
		}
	})
	g := func(name string, args []string, want string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			t.Helper()
			_, _, err := Load("meterline", args, env(nil), io.Discard)
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "meterline --help") {
				t.Errorf("error %v, want it to contain %q and point to meterline --help", err, want)
			}
		})
	}
	g("bad flag value", []string{"--sink-batch-size=abc"}, "sink-batch-size")
	g("unknown flag", []string{"--batch-size=1"}, "batch-size")
	g("flag without value", []string{"--http-addr"}, "http-addr")
}

func TestValidate(t *testing.T) {
	f := func(name string, change func(*Config), want ...string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			t.Helper()
			c := Default()
			change(&c)
			checkNames(t, c.Validate(), want...)
		})
	}
	f("http addr without port", func(c *Config) { c.HTTPAddr = "localhost" }, "METERLINE_HTTP_ADDR")
	f("database x-y", func(c *Config) { c.ClickHouse.Database = "x-y" }, "METERLINE_CLICKHOUSE_DATABASE")
	f("database starting with a digit", func(c *Config) { c.ClickHouse.Database = "1x" }, "METERLINE_CLICKHOUSE_DATABASE")
	f("empty database", func(c *Config) { c.ClickHouse.Database = "" }, "METERLINE_CLICKHOUSE_DATABASE")
	f("partitions 0", func(c *Config) { c.Kafka.Partitions = 0 }, "METERLINE_TOPIC_PARTITIONS")
	f("replication 0", func(c *Config) { c.Kafka.Replication = 0 }, "METERLINE_TOPIC_REPLICATION")
	f("replication -2", func(c *Config) { c.Kafka.Replication = -2 }, "METERLINE_TOPIC_REPLICATION")
	f("log level loud", func(c *Config) { c.LogLevel = "loud" }, "METERLINE_LOG_LEVEL")
	f("log format text", func(c *Config) { c.LogFormat = "text" }, "METERLINE_LOG_FORMAT")
	f("shutdown timeout 0", func(c *Config) { c.ShutdownTimeout = 0 }, "METERLINE_SHUTDOWN_TIMEOUT")
	f("max body 1023", func(c *Config) { c.MaxBodyBytes = 1023 }, "METERLINE_MAX_BODY_BYTES")
	f("max batch documents 0", func(c *Config) { c.MaxBatchDocuments = 0 }, "METERLINE_MAX_BATCH_DOCUMENTS")
	f("max batch bytes below a document", func(c *Config) { c.MaxBatchBytes = c.MaxBodyBytes - 1 }, "METERLINE_MAX_BATCH_BYTES")
	f("broker without port", func(c *Config) { c.Kafka.Brokers = []string{"k1:9092", "k2"} }, "METERLINE_KAFKA_BROKERS")
	f("topic prefix with a slash", func(c *Config) { c.Kafka.TopicPrefix = "a/b" }, "METERLINE_TOPIC_PREFIX")
	f("empty topic prefix", func(c *Config) { c.Kafka.TopicPrefix = "" }, "METERLINE_TOPIC_PREFIX")
	f("retention 59m", func(c *Config) { c.Kafka.Retention = 59 * time.Minute }, "METERLINE_TOPIC_RETENTION")
	f("changelog segment 999ms", func(c *Config) { c.Kafka.ChangelogSegment = 999 * time.Millisecond }, "METERLINE_CHANGELOG_SEGMENT")
	f("changelog delete retention 0", func(c *Config) { c.Kafka.ChangelogDeleteRetention = 0 }, "METERLINE_CHANGELOG_DELETE_RETENTION")
	f("produce timeout 0", func(c *Config) { c.Kafka.ProduceTimeout = 0 }, "METERLINE_PRODUCE_TIMEOUT")
	f("clickhouse addr", func(c *Config) { c.ClickHouse.Addr = "clickhouse" }, "METERLINE_CLICKHOUSE_ADDR")
	f("dial timeout -1s", func(c *Config) { c.ClickHouse.DialTimeout = -time.Second }, "METERLINE_CLICKHOUSE_DIAL_TIMEOUT")
	f("batch size 0", func(c *Config) { c.Sink.BatchSize = 0 }, "METERLINE_SINK_BATCH_SIZE")
	f("flush interval 0", func(c *Config) { c.Sink.FlushInterval = 0 }, "METERLINE_SINK_FLUSH_INTERVAL")
	f("slack 0", func(c *Config) { c.Metering.Slack = 0 }, "METERLINE_SLACK")
	f("issuer not a URL", func(c *Config) { c.Auth.Issuer = "uaa" }, "METERLINE_AUTH_ISSUER")
	f("JWKS URL without issuer", func(c *Config) { c.Auth.JWKSURL = "https://uaa/token_keys" }, "METERLINE_AUTH_JWKS_URL")
	f("issuer without claims", func(c *Config) { c.Auth.Issuer, c.Auth.AccountClaim = "https://uaa/oauth/token", "" }, "METERLINE_AUTH_ORGANIZATIONS_CLAIM")
	f("short admin key", func(c *Config) { c.Auth.AdminKeys = []string{"short"} }, "METERLINE_AUTH_ADMIN_KEYS")
	f("admin key like an API key", func(c *Config) { c.Auth.AdminKeys = []string{"mlk_0123456789abcdef"} }, "METERLINE_AUTH_ADMIN_KEYS")
	f("no day slot", func(c *Config) { c.Metering.ReportSlots[3] = 0 }, "METERLINE_REPORT_SLOTS")
	f("future -1s", func(c *Config) { c.Metering.Future = -time.Second }, "METERLINE_FUTURE")
	f("empty processor id", func(c *Config) { c.ProcessorID = "" }, "METERLINE_PROCESSOR_ID")
	f("every mistake at once", func(c *Config) {
		c.HTTPAddr = "x"
		c.ClickHouse.Database = "x-y"
		c.Kafka.Partitions = 0
		c.Kafka.Replication = 0
		c.LogLevel = "loud"
	}, "METERLINE_HTTP_ADDR", "METERLINE_CLICKHOUSE_DATABASE", "METERLINE_TOPIC_PARTITIONS", "METERLINE_TOPIC_REPLICATION", "METERLINE_LOG_LEVEL")

	ok := func(name string, change func(*Config)) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			t.Helper()
			c := Default()
			change(&c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
	ok("defaults", func(*Config) {})
	ok("any interface, replication 1, one partition", func(c *Config) {
		c.HTTPAddr = ":8080"
		c.Kafka.Replication = 1
		c.Kafka.Partitions = 1
	})
	ok("smallest limits", func(c *Config) {
		c.MaxBodyBytes = 1024
		c.Kafka.Retention = time.Hour
		c.Sink.BatchSize = 1
	})
	ok("brokers and identifiers", func(c *Config) {
		c.Kafka.Brokers = []string{"k1:9092", "[::1]:9092"}
		c.Kafka.TopicPrefix = "team.meterline_v2-test"
		c.ClickHouse.Database = "_usage_2"
	})
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help"} {
		t.Run(arg, func(t *testing.T) {
			var out bytes.Buffer
			_, _, err := Load("meterline collector", []string{arg}, env(nil), &out)
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("Load(%s) error %v, want flag.ErrHelp", arg, err)
			}
			help := out.String()
			if !strings.HasPrefix(help, "Usage: meterline collector [flags]") {
				t.Errorf("help does not start with the usage line:\n%s", help)
			}
			for _, n := range names {
				if !strings.Contains(help, " "+n+"\n") {
					t.Errorf("help does not show %s:\n%s", n, help)
				}
			}
			// Every setting is in names, so none is shown without being checked above.
			if got := strings.Count(help, "METERLINE_"); got != len(names) {
				t.Errorf("help shows %d settings, the test knows %d:\n%s", got, len(names), help)
			}
			for _, fl := range []string{"--http-addr", "--kafka-brokers", "--sink-batch-size", `(default "127.0.0.1:8080")`} {
				if !strings.Contains(help, fl) {
					t.Errorf("help does not show %s:\n%s", fl, help)
				}
			}
		})
	}
}

func TestRequireBrokers(t *testing.T) {
	c := Default()
	err := c.RequireBrokers()
	if err == nil || !strings.Contains(err.Error(), "METERLINE_KAFKA_BROKERS") {
		t.Errorf("RequireBrokers without brokers = %v, want an error naming METERLINE_KAFKA_BROKERS", err)
	}
	c, _, err = Load("meterline", nil, env(map[string]string{"METERLINE_KAFKA_BROKERS": "k1:9092"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RequireBrokers(); err != nil {
		t.Errorf("RequireBrokers with k1:9092 = %v, want nil", err)
	}
	c, _, err = Load("meterline", nil, env(map[string]string{"METERLINE_KAFKA_BROKERS": " , "}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RequireBrokers(); err == nil {
		t.Errorf("RequireBrokers with brokers \" , \" = nil, want an error")
	}
}
