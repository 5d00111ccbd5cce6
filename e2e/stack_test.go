// Package e2e tests Meterline as a user meets it: the meterline binary, run as processes
// against the real Kafka broker and ClickHouse server of the test environment
// (deploy/testenv/testenv.sh), spoken to over HTTP, Kafka and ClickHouse only. Of Meterline's
// packages it imports only the public pkg/ ones, as outside programs do.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	binary   string // the meterline binary built for this run
	kafkaBrk string
	chAddr   string
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

// TestMain builds meterline and starts the test environment once; a failure of either fails
// the run (an e2e test never skips).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "meterline-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "meterline")
	build := exec.Command("go", "build", "-o", binary, "./services/meterline")
	build.Dir = repoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build meterline:", err)
		os.Exit(1)
	}
	kafkaBrk, chAddr = os.Getenv("METERLINE_TEST_KAFKA_BROKERS"), os.Getenv("METERLINE_TEST_CLICKHOUSE_ADDR")
	if kafkaBrk == "" || chAddr == "" {
		start := exec.Command("bash", filepath.Join(repoRoot(), "deploy", "testenv", "testenv.sh"), "start", "all")
		start.Stderr = os.Stderr
		out, err := start.Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: the test environment (real Kafka and ClickHouse) did not start:", err)
			os.Exit(1)
		}
		for _, line := range strings.Split(string(out), "\n") {
			k, v, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
			switch k {
			case "METERLINE_KAFKA_BROKERS":
				kafkaBrk = v
			case "METERLINE_CLICKHOUSE_ADDR":
				chAddr = v
			}
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stack is one test's isolated Meterline: its own topics, consumer groups' topics and
// ClickHouse database on the shared broker and server, and its own clock. The clock is
// pinned: it read the stack's instant when the stack was made and runs on at the wall
// clock's pace, and every meterline process of the stack starts with the same clock
// (METERLINE_CLOCK_START), so no test depends on the date or the time of day it runs at.
type stack struct {
	t        *testing.T
	prefix   string
	database string
	brokers  string // the Kafka broker the stack runs on
	chAddr   string // the ClickHouse server the stack runs on
	ch       driver.Conn
	instant  time.Time // what the stack's clock read at base
	base     time.Time // the wall clock's time then
}

// midMonth is the instant a stack's clock starts at unless a test picks another: inside a
// day and a month, and in the past, so that the broker takes records stamped with it.
var midMonth = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

func newStack(t *testing.T) *stack { return newStackAt(t, midMonth) }

// newStackAt returns a stack on the shared test environment whose clock reads instant now.
func newStackAt(t *testing.T, instant time.Time) *stack {
	return newStackOn(t, instant, kafkaBrk, chAddr)
}

// newStackOn returns a stack on the Kafka broker at brokers and the ClickHouse server at
// clickHouse whose clock reads instant now.
func newStackOn(t *testing.T, instant time.Time, brokers, clickHouse string) *stack {
	t.Helper()
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1e12)
	s := &stack{t: t, prefix: "mle2e" + suffix, database: "meterline_e2e_" + suffix, brokers: brokers, chAddr: clickHouse,
		instant: instant, base: time.Now()}
	s.connect()
	t.Cleanup(func() {
		_ = s.ch.Exec(context.Background(), "DROP DATABASE IF EXISTS "+s.database)
		s.ch.Close()
	})
	return s
}

// connect opens the test's own connection to the stack's ClickHouse server, closing the one
// it had: after a restart of the server, a pooled connection would fail its first query.
func (s *stack) connect() {
	s.t.Helper()
	conn, err := ch.Open(&ch.Options{Addr: []string{s.chAddr}, Auth: ch.Auth{Database: "default"}})
	if err != nil {
		s.t.Fatal(err)
	}
	if s.ch != nil {
		s.ch.Close()
	}
	s.ch = conn
}

// now is the stack's time.
func (s *stack) now() time.Time { return s.instant.Add(time.Since(s.base)).UTC() }

// nowMs is the stack's time in epoch milliseconds.
func (s *stack) nowMs() int64 { return s.now().UnixMilli() }

// env is the process environment of a meterline process of this stack.
func (s *stack) env(httpAddr string, extra ...string) []string {
	return append(append(os.Environ(),
		"METERLINE_CLOCK_START="+s.now().Format(time.RFC3339Nano),
		// Records are stamped with the stack's (past) time: keep them whatever the date.
		"METERLINE_TOPIC_RETENTION=100000h",
		"METERLINE_HTTP_ADDR="+httpAddr,
		"METERLINE_KAFKA_BROKERS="+s.brokers,
		"METERLINE_CLICKHOUSE_ADDR="+s.chAddr,
		"METERLINE_CLICKHOUSE_DATABASE="+s.database,
		"METERLINE_TOPIC_PREFIX="+s.prefix,
		// Transactional ids are global to the broker: the default (from the host name) would
		// let the processors of two stacks fence each other.
		"METERLINE_PROCESSOR_ID="+s.prefix+"-processor",
		"METERLINE_TOPIC_PARTITIONS=3",
		"METERLINE_SINK_FLUSH_INTERVAL=200ms",
		"METERLINE_LOG_LEVEL=warn",
	), extra...)
}

// proc is a running meterline process.
type proc struct {
	cmd   *exec.Cmd
	args  []string
	extra []string // its environment beyond the stack's
	addr  string
	done  chan error
	logs  *bytes.Buffer
}

// start runs `meterline args...` and, for a service, waits until /readyz answers 200.
func (s *stack) start(args []string, extra ...string) *proc {
	s.t.Helper()
	return s.startAt(freeAddr(s.t), args, extra...)
}

// restart runs what p ran (which has ended) again, at p's address, as a supervisor restarts
// a service behind a fixed address, and waits until it is ready.
func (s *stack) restart(p *proc) *proc {
	s.t.Helper()
	return s.startAt(p.addr, p.args, p.extra...)
}

// exited reports whether p has ended, and its exit error.
func (p *proc) exited() (bool, error) {
	select {
	case err := <-p.done:
		p.done <- err
		return true, err
	default:
		return false, nil
	}
}

func (s *stack) startAt(addr string, args []string, extra ...string) *proc {
	s.t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), args: args, extra: extra, addr: addr, done: make(chan error, 1), logs: &bytes.Buffer{}}
	p.cmd.Env = s.env(addr, extra...)
	// One writer for both: exec then copies both through one pipe, in one goroutine.
	out := &lockedWriter{w: p.logs}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	s.t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if s.t.Failed() {
			s.t.Logf("logs of meterline %s:\n%s", strings.Join(args, " "), p.logs.String())
		}
	})
	if args[0] == "migrate" {
		select {
		case err := <-p.done:
			if err != nil {
				s.t.Fatalf("meterline migrate: %v\n%s", err, p.logs.String())
			}
		case <-time.After(2 * time.Minute):
			s.t.Fatal("meterline migrate did not finish")
		}
		return p
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.done:
			s.t.Fatalf("meterline %s exited before it was ready: %v\n%s", args[0], err, p.logs.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("meterline %s not ready within 90s\n%s", args[0], p.logs.String())
		}
	}
}

// stop sends sig and waits for the process to end, returning its exit error.
func (p *proc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("meterline did not stop within 60s of %v", sig)
		return nil
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// freeAddr is a free address on 127.0.0.1 (see freePorts).
func freeAddr(t *testing.T) string {
	t.Helper()
	return "127.0.0.1:" + freePorts(t, 1)[0]
}

// admin returns a Kafka admin client of the stack's broker, closed when the test ends.
func (s *stack) admin() *kadm.Client {
	s.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// count returns the rows of usage_events matching where.
func (s *stack) count(where string, args ...any) uint64 {
	s.t.Helper()
	var n uint64
	q := "SELECT count() FROM " + s.database + ".usage_events"
	if where != "" {
		q += " WHERE " + where
	}
	if err := s.ch.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// waitCount waits until count(where) reaches want, failing after 60s.
func (s *stack) waitCount(want uint64, where string, args ...any) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := s.count(where, args...)
		if n >= want {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("usage_events has %d rows matching %q, want %d", n, where, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// response is an HTTP response with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("response body is not JSON (%v): %s", err, r.body)
	}
	return v
}

func do(t *testing.T, method, url, contentType string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return send(t, req)
}

// send sends req and reads its answer.
func send(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func post(t *testing.T, p *proc, body string) response {
	t.Helper()
	return do(t, http.MethodPost, "http://"+p.addr+"/v1/metering/collected/usage", "application/json", []byte(body))
}
