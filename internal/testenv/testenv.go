// Package testenv gives integration tests the real Kafka broker and ClickHouse server of the
// local test environment (deploy/testenv/testenv.sh), starting them when they are not
// running. A test that cannot have them fails: it never skips, so a green run always means
// the tests ran against the real services.
//
// METERLINE_TEST_KAFKA_BROKERS and METERLINE_TEST_CLICKHOUSE_ADDR, when set, name services
// to use instead of starting the script's.
package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/platform/config"
)

// Env is the address of each service.
type Env struct {
	KafkaBrokers   []string
	ClickHouseAddr string
}

var (
	once   sync.Once
	env    Env
	envErr error
)

// Get returns the test environment, starting it through deploy/testenv/testenv.sh when
// needed. It fails the test when the environment cannot be had.
func Get(t testing.TB) Env {
	t.Helper()
	once.Do(func() { env, envErr = start() })
	if envErr != nil {
		t.Fatalf("test environment (real Kafka and ClickHouse) is not available: %v", envErr)
	}
	return env
}

func start() (Env, error) {
	e := Env{ClickHouseAddr: os.Getenv("METERLINE_TEST_CLICKHOUSE_ADDR")}
	if b := os.Getenv("METERLINE_TEST_KAFKA_BROKERS"); b != "" {
		e.KafkaBrokers = strings.Split(b, ",")
	}
	if len(e.KafkaBrokers) > 0 && e.ClickHouseAddr != "" {
		return e, nil
	}
	script := filepath.Join(RepoRoot(), "deploy", "testenv", "testenv.sh")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("bash", script, "start", "all")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return e, fmt.Errorf("%s start all: %w\n%s", script, err, stderr.String())
	}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if !ok {
			continue
		}
		switch k {
		case "METERLINE_KAFKA_BROKERS":
			if len(e.KafkaBrokers) == 0 {
				e.KafkaBrokers = strings.Split(v, ",")
			}
		case "METERLINE_CLICKHOUSE_ADDR":
			if e.ClickHouseAddr == "" {
				e.ClickHouseAddr = v
			}
		}
	}
	if len(e.KafkaBrokers) == 0 || e.ClickHouseAddr == "" {
		return e, fmt.Errorf("%s printed no addresses:\n%s", script, stdout.String())
	}
	return e, nil
}

// RepoRoot is the root of the Meterline repository.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Name returns a fresh name with prefix, for topics, groups and databases that one test owns.
func Name(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// Config returns a configuration for the test environment with a topic prefix and a
// ClickHouse database of the test's own; the database is dropped when the test ends.
func (e Env) Config(t testing.TB) config.Config {
	t.Helper()
	c := config.Default()
	c.Kafka.Brokers = e.KafkaBrokers
	c.Kafka.TopicPrefix = Name("mltest")
	c.Kafka.Partitions = 3
	c.ClickHouse.Addr = e.ClickHouseAddr
	c.ClickHouse.Database = Name("meterline_test")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := clickhouse.Open(ctx, c.ClickHouse)
		if err != nil {
			t.Logf("drop test database %s: %v", c.ClickHouse.Database, err)
			return
		}
		defer conn.Close()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+c.ClickHouse.Database); err != nil {
			t.Logf("drop test database %s: %v", c.ClickHouse.Database, err)
		}
	})
	return c
}

// ClickHouse opens the configuration's database with every migration applied.
func ClickHouse(t testing.TB, c config.Config) clickhouse.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := clickhouse.Open(ctx, c.ClickHouse)
	if err != nil {
		t.Fatalf("clickhouse: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := clickhouse.Migrate(ctx, conn, zap.NewNop()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return conn
}

// Kafka returns a client of the configuration's brokers, closed when the test ends.
func Kafka(t testing.TB, c config.Config, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Kafka.Brokers...)}, opts...)...)
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// DeleteTopicsWithPrefix deletes the topics a test created, when it ends.
func DeleteTopicsWithPrefix(t testing.TB, c config.Config) {
	t.Helper()
	cl := Kafka(t, c)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		adm := kadm.NewClient(cl)
		topics, err := adm.ListTopics(ctx)
		if err != nil {
			return
		}
		var mine []string
		for _, name := range topics.Names() {
			if strings.HasPrefix(name, c.Kafka.TopicPrefix+".") {
				mine = append(mine, name)
			}
		}
		if len(mine) > 0 {
			_, _ = adm.DeleteTopics(ctx, mine...)
		}
	})
}

// ErrCrash is the error of CrashAt's hook: a simulated crash.
var ErrCrash = errors.New("simulated crash")

// CrashAt returns a test hook that fails with ErrCrash on its n-th call, as a process killed
// at that point would stop; the calls before it succeed.
func CrashAt(n int) func() error {
	calls := 0
	return func() error {
		if calls++; calls == n {
			return ErrCrash
		}
		return nil
	}
}
