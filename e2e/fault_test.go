package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// The fault test's load: faultClients clients, each posting a document, waiting faultPause,
// and so on (a few dozen documents a second in all), from a pool of faultDocs.
const (
	faultClients   = 4
	faultPause     = 50 * time.Millisecond
	faultDocs      = 60_000
	faultSteady    = 2 * time.Second // the load runs this long before each fault and after each recovery
	clickHouseDown = 60 * time.Second
	brokerDown     = 30 * time.Second
)

// TestFaultRecovery is the fault test: on a Kafka broker and a ClickHouse server of its own
// (never the shared ones), it runs migrate, provisioning, two collectors, the sinks, the
// metering processor and reporting as separate processes under a steady load of POSTs, and
// one after the other: stops ClickHouse for 60 s, stops the broker for 30 s, and SIGKILLs
// each service, restarting what it stopped. Clients retry 503s after their Retry-After and
// failed connections, as real clients do, and a dashboard reads a report every 200 ms. After
// each fault it measures how long the stack took to answer 201 again and to have every
// document accepted before the fault's end in its reports; then it stops the load, lets the
// stack drain, and checks that every document answered 201 is in usage_events exactly once,
// nothing was rejected, and the reports equal the ground truth computed from the accepted
// documents, to the last decimal. docs/reliability.md records what one run measured.
func TestFaultRecovery(t *testing.T) {
	rng := seeded(t, "METERLINE_FAULT_SEED", "the same documents")
	env := startTestenv(t)
	s := newStackOn(t, midMonth, env.brokers, env.clickHouse)
	s.start([]string{"migrate"})
	svc := map[string]*proc{"provisioning": s.start([]string{"provisioning"})}
	plan := applyObjectStoragePlan(t, svc["provisioning"])
	svc["collector"] = s.start([]string{"collector"})
	other := s.start([]string{"collector"})
	svc["sink"] = s.start([]string{"sink"})
	svc["processor"] = s.start([]string{"processor"})
	svc["reporting"] = s.start(reportingArgs, reportingSlots)
	load := newPoster(t, []*proc{svc["collector"], other}, crashStream(rng, s.now(), faultDocs))
	load.pause, load.collectorRestarts = faultPause, true
	dashboard := readReports(t, s, svc["reporting"].addr, "crash-org-0")

	var results []faultResult
	scenario := func(name string, fault func() (began, ended time.Time)) {
		t.Helper()
		load.run(faultClients)
		time.Sleep(faultSteady)
		load.seen.take()
		dashboard.seen.take()
		t.Logf("%s: begins, %d documents posted so far", name, load.posted.Load())
		began, ended := fault()
		t.Logf("%s: ended after %.1fs", name, ended.Sub(began).Seconds())
		load.seen.markAt(ended)
		dashboard.seen.markAt(ended)
		r := faultResult{name: name, outage: ended.Sub(began)}
		at := load.seen.firstOKAfterMark(2 * time.Minute)
		if at.IsZero() {
			t.Fatalf("%s: no POST answered 201 within 2 minutes of the fault's end", name)
		}
		r.firstAccept = at.Sub(ended)
		caughtUp(t, s, 3*time.Minute)
		r.caughtUp = time.Since(ended)
		t.Logf("%s: first 201 %.2fs and caught up %.1fs after its end", name, r.firstAccept.Seconds(), r.caughtUp.Seconds())
		if at := dashboard.seen.firstOKAfterMark(time.Minute); !at.IsZero() {
			r.firstReport = at.Sub(ended)
		} else {
			t.Errorf("%s: no report answered 200 within a minute of the fault's end", name)
		}
		time.Sleep(faultSteady)
		docs := load.halt()
		r.posts, r.reports = load.seen.take(), dashboard.seen.take()
		for what, p := range map[string]*proc{"collector": svc["collector"], "second collector": other, "sink": svc["sink"],
			"processor": svc["processor"], "reporting": svc["reporting"], "provisioning": svc["provisioning"]} {
			if ended, err := p.exited(); ended {
				t.Fatalf("%s: the %s exited: %v\n%s", name, what, err, p.logs)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		waitDrained(t, s)
		t.Logf("%s: drained", name)
		checkCounted(t, s, docs, plan, svc["reporting"])
		t.Logf("%s: %s; %d documents accepted so far", name, r, len(docs))
		results = append(results, r)
	}

	scenario(fmt.Sprintf("ClickHouse stopped for %v", clickHouseDown), func() (time.Time, time.Time) {
		began := time.Now()
		env.run("stop", "clickhouse")
		time.Sleep(clickHouseDown - time.Since(began))
		env.run("start", "clickhouse")
		ended := time.Now()
		s.connect()
		return began, ended
	})
	scenario(fmt.Sprintf("broker stopped for %v", brokerDown), func() (time.Time, time.Time) {
		began := time.Now()
		env.run("stop", "kafka")
		time.Sleep(brokerDown - time.Since(began))
		env.run("start", "kafka")
		return began, time.Now()
	})
	for _, name := range []string{"collector", "processor", "sink", "reporting", "provisioning"} {
		scenario(name+" SIGKILLed", func() (time.Time, time.Time) {
			began := time.Now()
			if err := svc[name].stop(t, syscall.SIGKILL); err == nil {
				t.Fatalf("the %s exited cleanly on SIGKILL?", name)
			}
			svc[name] = s.restart(svc[name])
			return began, time.Now()
		})
	}

	var table strings.Builder
	table.WriteString("| fault | outage | POSTs 201 / 409 / 503 / failed connections | longest wait for an answer | first 201 after | caught up after | reports 200 / 503 / failed connections | first report after |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&table, "| %s | %.1f s | %d / %d / %d / %d | %.1f s | %.2f s | %.1f s | %d / %d / %d | %.2f s |\n", r.name,
			r.outage.Seconds(), r.posts.by[http.StatusCreated], r.posts.by[http.StatusConflict], r.posts.by[http.StatusServiceUnavailable],
			r.posts.by[0], r.posts.longest.Seconds(), r.firstAccept.Seconds(), r.caughtUp.Seconds(),
			r.reports.by[http.StatusOK], r.reports.by[http.StatusServiceUnavailable], r.reports.by[0], r.firstReport.Seconds())
	}
	t.Logf("what clients saw and how long recovery took:\n%s", table.String())
}

// faultResult is what one fault's scenario measured.
type faultResult struct {
	name        string
	outage      time.Duration // from the fault's start to the restarted part being ready again
	posts       seen          // the collectors' answers to the clients, from the fault's start to the load's halt
	reports     seen          // the reports' answers to the dashboard, over the same time
	firstAccept time.Duration // from the fault's end to the first 201
	caughtUp    time.Duration // from the fault's end to every document accepted before it being in the reports' cells
	firstReport time.Duration // from the fault's end to the first report answered 200
}

func (r faultResult) String() string {
	return fmt.Sprintf("outage %.1fs, POSTs answered %v (0: a failed connection), longest wait %.1fs, first 201 %.2fs and caught up %.1fs after its end; reports answered %v, first 200 %.2fs after its end",
		r.outage.Seconds(), r.posts.by, r.posts.longest.Seconds(), r.firstAccept.Seconds(), r.caughtUp.Seconds(), r.reports.by, r.firstReport.Seconds())
}

// dashboard asks for an organization's usage summary report every 200 ms, as a dashboard
// does, and tallies the answers: 200, 503 while ClickHouse cannot answer, 0 (a failed
// connection) while reporting restarts, and 404 until the organization's first usage is in
// its cells. Any other answer is an error, and so is a 404 after a 200.
type dashboard struct {
	seen tally
}

func readReports(t *testing.T, s *stack, addr, org string) *dashboard {
	d := &dashboard{seen: tally{ok: http.StatusOK}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	client := &http.Client{Timeout: 30 * time.Second}
	go func() {
		defer close(done)
		shown := false
		for ctx.Err() == nil {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet,
				fmt.Sprintf("http://%s/v1/metering/organizations/%s/aggregated/usage/%d", addr, org, s.nowMs()), nil)
			if err != nil {
				t.Error(err)
				return
			}
			resp, err := client.Do(req)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				d.seen.add(0)
			default:
				d.seen.add(resp.StatusCode)
				shown = shown || resp.StatusCode == http.StatusOK
				switch resp.StatusCode {
				case http.StatusOK, http.StatusServiceUnavailable:
				case http.StatusNotFound:
					if shown {
						t.Errorf("report of %s answered 404 after it answered 200", org)
					}
				default:
					t.Errorf("report of %s answered %d", org, resp.StatusCode)
				}
				resp.Body.Close()
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	return d
}

// caughtUp waits up to limit until the raw sink and the metering processor have committed
// past every document the collected topic held when it was called, and then the cell sink
// past every cell value the rated topic held by then: from that moment usage_events and the
// reports count every document accepted before the call. Under a steady load every partition
// gets records after the marks, so the groups pass them.
func caughtUp(t *testing.T, s *stack, limit time.Duration) {
	t.Helper()
	adm := s.admin()
	deadline := time.Now().Add(limit)
	ends := func(topic string) kadm.ListedOffsets {
		t.Helper()
		for {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			o, err := adm.ListEndOffsets(ctx, topic)
			cancel()
			if err == nil && o.Error() == nil {
				return o
			}
			if time.Now().After(deadline) {
				t.Fatalf("end offsets of %s: %v", topic, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	past := func(what, group, topic string, marks kadm.ListedOffsets) {
		t.Helper()
		for {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			committed, err := adm.FetchOffsets(ctx, group)
			cancel()
			behind := map[int32]int64{}
			marks.Each(func(o kadm.ListedOffset) {
				at := int64(0) // a partition the group has committed nothing in yet
				if c, ok := committed.Lookup(topic, o.Partition); ok {
					at = c.At
				}
				if err != nil || at < o.Offset {
					behind[o.Partition] = o.Offset
				}
			})
			if err == nil && len(behind) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s (group %s) did not pass offsets %v of %s within %v (%v)", what, group, behind, topic, limit, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	collected, rated := s.prefix+".usage.collected.v1", s.prefix+".usage.rated.v2"
	marks := ends(collected)
	past("the raw sink", s.prefix+"-sink-raw", collected, marks)
	past("the metering processor", s.prefix+"-processor", collected, marks)
	past("the cell sink", s.prefix+"-sink-cells", rated, ends(rated))
}

// testenv is a test environment of the test's own: deploy/testenv/testenv.sh with its own
// data folder and free ports, whose Kafka and ClickHouse a test may stop and start. (The
// shared environment other tests run on is never stopped.)
type testenv struct {
	t          *testing.T
	env        []string
	brokers    string
	clickHouse string
}

// startTestenv starts a test environment of the test's own and deletes it when the test ends.
// When it cannot start (no Java, Maven or ClickHouse), the test fails: it never skips.
func startTestenv(t *testing.T) *testenv {
	t.Helper()
	dir, err := os.MkdirTemp("", "meterline-testenv")
	if err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 4)
	e := &testenv{t: t, brokers: "127.0.0.1:" + ports[0], clickHouse: "127.0.0.1:" + ports[2]}
	e.env = append(os.Environ(), "METERLINE_TESTENV_DIR="+dir,
		"METERLINE_TESTENV_KAFKA_PORT="+ports[0], "METERLINE_TESTENV_CONTROLLER_PORT="+ports[1],
		"METERLINE_TESTENV_CLICKHOUSE_PORT="+ports[2], "METERLINE_TESTENV_CLICKHOUSE_HTTP_PORT="+ports[3])
	t.Cleanup(func() {
		e.run("clean")
		os.RemoveAll(dir)
	})
	e.run("start", "all")
	return e
}

// run runs testenv.sh with args on the test's environment.
func (e *testenv) run(args ...string) {
	e.t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(repoRoot(), "deploy", "testenv", "testenv.sh")}, args...)...)
	cmd.Env = e.env
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("testenv.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// freePorts returns n TCP ports free on 127.0.0.1 now, none returned before in this test
// binary. They are below the kernel's ephemeral range (ip_local_port_range, 32768 and up by
// default), where neither a listener on port 0 nor an outgoing connection gets a port: a
// service stopped and started again on its port (TestFaultRecovery's Kafka and ClickHouse, a
// killed processor) finds it still free, which a port the kernel had handed out and a test
// closed is not once another test or client takes it.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	var ports []string
	for tries := 0; len(ports) < n; tries++ {
		if tries > 10000 {
			t.Fatalf("no free port found between %d and %d", minTestPort, maxTestPort)
		}
		p := minTestPort + rand.IntN(maxTestPort-minTestPort)
		if portsGiven[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		portsGiven[p] = true
		ports = append(ports, fmt.Sprint(p))
	}
	return ports
}

// The ports freePorts chooses from.
const minTestPort, maxTestPort = 20000, 32000

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)
