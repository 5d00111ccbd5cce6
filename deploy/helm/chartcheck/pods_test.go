package chartcheck

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/meterline/meterline/internal/poller/cf/cfsim"
	"github.com/meterline/meterline/internal/testenv"
)

// podEnv is the environment a container of the rendered chart would get: its values, its
// Secret keys taken from the rendered Secrets, its field references from pod; then the
// cluster's addresses replaced by the test environment's (over).
func podEnv(t *testing.T, ct corev1.Container, secrets map[string]corev1.Secret, podName string, over map[string]string) []string {
	t.Helper()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for _, e := range ct.Env {
		v, ok := e.Value, true
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			var b []byte
			b, ok = secrets[e.ValueFrom.SecretKeyRef.Name].Data[e.ValueFrom.SecretKeyRef.Key]
			v = string(b)
			if !ok && (e.ValueFrom.SecretKeyRef.Optional == nil || !*e.ValueFrom.SecretKeyRef.Optional) {
				t.Fatalf("%s: Secret key %s/%s missing", ct.Name, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
			}
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			if e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
				t.Fatalf("%s: field %s not known to this test", ct.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			v = podName
		}
		if o, set := over[e.Name]; set {
			v = o
		}
		if ok {
			env = append(env, e.Name+"="+v)
		}
	}
	for k, v := range over {
		if !strings.Contains(strings.Join(env, "\n"), k+"=") {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// pod is one running container of the chart, as the meterline binary.
type pod struct {
	name string
	cmd  *exec.Cmd
	addr string
	done chan error
	// logs are its stdout and stderr: one writer, which exec writes from one goroutine;
	// read only once the process has ended.
	logs *bytes.Buffer
}

func runPod(t *testing.T, path, name string, args, env []string, addr string) *pod {
	t.Helper()
	p := &pod{name: name, cmd: exec.Command(path, args...), addr: addr, done: make(chan error, 1), logs: &bytes.Buffer{}}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		// Every reader of done puts the exit back: this waits for the end in any case.
		_ = p.cmd.Process.Kill()
		p.done <- <-p.done
		if t.Failed() {
			t.Logf("logs of %s:\n%s", name, p.logs.String())
		}
	})
	return p
}

// probe answers the status of GET url, or 0 when nothing answers.
func probe(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitReady waits until the kubelet's readiness probe would pass (the container's readiness
// path answers 200).
func (p *pod) waitReady(t *testing.T, path string) {
	t.Helper()
	p.waitFor(t, "ready", func() bool { return probe("http://"+p.addr+path) == http.StatusOK })
}

// waitFor waits until cond holds, failing if the process exits first. The bound only keeps
// a broken run from hanging; no assertion is made on how long it takes.
func (p *pod) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	stop := time.After(3 * time.Minute)
	for !cond() {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("%s exited before it was %s: %v\n%s", p.name, what, err, p.logs.String())
		case <-stop:
			_ = p.cmd.Process.Kill()
			p.done <- <-p.done
			t.Fatalf("%s never %s\n%s", p.name, what, p.logs.String())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// runMigrateJob runs the rendered migrate Job's container to completion.
func runMigrateJob(t *testing.T, b binary, c *chart, secrets map[string]corev1.Secret, over map[string]string) {
	t.Helper()
	if len(c.jobs) != 1 {
		t.Fatalf("%d Jobs rendered", len(c.jobs))
	}
	job := c.jobs[0].Spec.Template.Spec.Containers[0]
	m := runPod(t, b.path, "job/migrate", job.Args, podEnv(t, job, secrets, "migrate", over), "")
	select {
	case err := <-m.done:
		m.done <- err
		if err != nil {
			t.Fatalf("migrate Job's container: %v\n%s", err, m.logs.String())
		}
	case <-time.After(3 * time.Minute):
		_ = m.cmd.Process.Kill()
		m.done <- <-m.done
		t.Fatalf("migrate Job's container did not finish\n%s", m.logs.String())
	}
}

// TestRenderedPodsRun runs what the default rendering deploys, against the real Kafka and
// ClickHouse: the migrate Job's container to completion, then every workload's container
// (its args, its rendered environment with the Secret's values), which must pass its
// liveness and readiness probes, accept the generated admin key and refuse a request without
// it, and stop cleanly on SIGTERM. Only the cluster's addresses (brokers, ClickHouse, the
// listener) and the test's own topic prefix and database replace the rendered values.
func TestRenderedPodsRun(t *testing.T) {
	b := meterline(t)
	env := testenv.Get(t)
	cfg := env.Config(t) // its own database, dropped at the end
	testenv.DeleteTopicsWithPrefix(t, cfg)
	manifest, err := render(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := parseChart(t, manifest)
	if len(c.problems) > 0 {
		t.Fatal(c.problems)
	}
	over := map[string]string{
		"METERLINE_KAFKA_BROKERS":       strings.Join(cfg.Kafka.Brokers, ","),
		"METERLINE_CLICKHOUSE_ADDR":     cfg.ClickHouse.Addr,
		"METERLINE_CLICKHOUSE_DATABASE": cfg.ClickHouse.Database,
		"METERLINE_TOPIC_PREFIX":        cfg.Kafka.TopicPrefix,
		"METERLINE_TOPIC_PARTITIONS":    "3",
		// A pinned clock: the document sent below is inside the slack whatever the date.
		"METERLINE_CLOCK_START": "2026-01-15T12:00:00Z",
	}
	runMigrateJob(t, b, c, c.secrets, over)

	pods := map[string]*pod{}
	for _, comp := range sortedKeys(c.workloads) {
		w := c.workloads[comp]
		ct := w.pod.Spec.Containers[0]
		addr := freeAddr(t)
		o := map[string]string{"METERLINE_HTTP_ADDR": addr}
		for k, v := range over {
			o[k] = v
		}
		// The StatefulSet's first pod; transactional ids are global to the shared broker.
		podName := cfg.Kafka.TopicPrefix + "-" + w.name + "-0"
		pods[comp] = runPod(t, b.path, w.kind+"/"+w.name, ct.Args, podEnv(t, ct, c.secrets, podName, o), addr)
	}
	for _, comp := range sortedKeys(pods) {
		ct := c.workloads[comp].pod.Spec.Containers[0]
		p := pods[comp]
		p.waitReady(t, ct.ReadinessProbe.HTTPGet.Path)
		if got := probe("http://" + p.addr + ct.LivenessProbe.HTTPGet.Path); got != http.StatusOK {
			t.Errorf("%s: liveness probe %s answered %d", p.name, ct.LivenessProbe.HTTPGet.Path, got)
		}
		t.Logf("%s (%s) ready at %s", p.name, strings.Join(ct.Args, " "), p.addr)
	}

	key := string(c.secrets["meterline"].Data["METERLINE_AUTH_ADMIN_KEYS"])
	collector := pods["collector"]
	doc := `{"start":1768478400000,"end":1768478400000,"organization_id":"org-1","space_id":"space-1",
		"resource_id":"object-storage","plan_id":"basic","resource_instance_id":"bucket-1",
		"measured_usage":[{"measure":"storage_gb","quantity":10}]}`
	for _, tc := range []struct {
		auth string
		want int
	}{{"", http.StatusUnauthorized}, {"Bearer " + key, http.StatusCreated}} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+collector.addr+"/v1/metering/collected/usage", strings.NewReader(doc))
		req.Header.Set("Content-Type", "application/json")
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		t.Logf("POST usage with %q: %d %s", strings.SplitN(tc.auth, " ", 2)[0], resp.StatusCode, strings.TrimSpace(body.String()))
		if resp.StatusCode != tc.want {
			t.Errorf("POST usage with %q: %d %s, want %d", strings.SplitN(tc.auth, " ", 2)[0], resp.StatusCode, body.String(), tc.want)
		}
	}

	for _, comp := range sortedKeys(pods) {
		p := pods[comp]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.done:
			p.done <- err
			if err != nil {
				t.Errorf("%s after SIGTERM: %v", p.name, err)
			}
		case <-time.After(2 * time.Minute):
			t.Errorf("%s did not stop after SIGTERM", p.name)
		}
	}
}

// TestRenderedPollerRuns runs the production rendering's Cloud Foundry poller container (its
// args, its rendered settings, its client secret from the Secret the production values name,
// made here as an operator would) against the Cloud Foundry simulator and the real Kafka: it
// must get ready and complete a poll round, which needs the UAA token its credentials get.
func TestRenderedPollerRuns(t *testing.T) {
	b := meterline(t)
	env := testenv.Get(t)
	cfg := env.Config(t)
	testenv.DeleteTopicsWithPrefix(t, cfg)
	manifest, err := render(t, []string{"values-production.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := parseChart(t, manifest)
	w, ok := c.workloads["poller-cf"]
	if !ok || len(c.problems) > 0 {
		t.Fatalf("no poller-cf workload, or problems %v", c.problems)
	}
	ct := w.pod.Spec.Containers[0]
	secrets := map[string]corev1.Secret{"meterline-credentials": {Data: map[string][]byte{"METERLINE_CF_CLIENT_SECRET": []byte(cfsim.Secret)}}}
	clock := "2026-01-15T12:00:00Z"

	simAddr := freeAddr(t)
	sim := runPod(t, b.path, "sim cf", []string{"sim", "cf"},
		[]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "METERLINE_HTTP_ADDR=" + simAddr, "METERLINE_CLOCK_START=" + clock}, simAddr)
	sim.waitReady(t, "/readyz")

	over := map[string]string{
		"METERLINE_KAFKA_BROKERS":       strings.Join(cfg.Kafka.Brokers, ","),
		"METERLINE_CLICKHOUSE_ADDR":     cfg.ClickHouse.Addr,
		"METERLINE_CLICKHOUSE_DATABASE": cfg.ClickHouse.Database,
		"METERLINE_CLICKHOUSE_USER":     cfg.ClickHouse.User,
		"METERLINE_TOPIC_PREFIX":        cfg.Kafka.TopicPrefix,
		"METERLINE_TOPIC_PARTITIONS":    "3",
		// The production values' three brokers become the test environment's one.
		"METERLINE_TOPIC_REPLICATION": "1",
		"METERLINE_CLOCK_START":       clock,
	}
	// The poller reads the ClickHouse schema at start: the production rendering's Job first.
	runMigrateJob(t, b, c, secrets, over)
	addr := freeAddr(t)
	over["METERLINE_HTTP_ADDR"] = addr
	over["METERLINE_CF_API_URL"] = cfsim.APIURL("http://" + simAddr)
	over["METERLINE_CF_UAA_URL"] = cfsim.UAAURL("http://" + simAddr)
	p := runPod(t, b.path, w.kind+"/"+w.name, ct.Args, podEnv(t, ct, secrets, w.name, over), addr)
	p.waitReady(t, ct.ReadinessProbe.HTTPGet.Path)
	if got := ct.Env; !slices.ContainsFunc(got, func(e corev1.EnvVar) bool { return e.Name == "METERLINE_CF_CLIENT_ID" && e.Value == cfsim.Client }) {
		t.Fatalf("production values' CF client id is not the simulator's %q: %v", cfsim.Client, got)
	}
	// A committed poll transaction sets the source's last success.
	p.waitFor(t, "done with a poll round", func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		return strings.Contains(body.String(), "meterline_poller_last_success_timestamp_seconds{")
	})
	t.Logf("%s committed a poll round", p.name)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Errorf("%s after SIGTERM: %v", p.name, err)
	}
	p.done <- nil
}
