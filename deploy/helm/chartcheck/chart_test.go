package chartcheck

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

var chartDir = filepath.Join("..", "meterline")

// render installs the chart in dry-run, client-only mode (what `helm template` does) with the
// values files and overrides given, and returns its manifests.
func render(t *testing.T, files []string, set map[string]any) (string, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	vals := map[string]any{}
	for _, f := range files {
		v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, f))
		if err != nil {
			t.Fatalf("values %s: %v", f, err)
		}
		vals = chartutil.CoalesceTables(v.AsMap(), vals)
	}
	vals = chartutil.CoalesceTables(set, vals)
	inst := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	inst.DryRun, inst.ClientOnly, inst.Replace = true, true, true
	inst.ReleaseName, inst.Namespace = "meterline", "metering"
	inst.KubeVersion = &chartutil.KubeVersion{Version: "v1.31.0", Major: "1", Minor: "31"}
	rel, err := inst.Run(ch, vals)
	if err != nil {
		return "", err
	}
	return rel.Manifest, nil
}

// workload is a Deployment or StatefulSet, reduced to what is checked.
type workload struct {
	kind, name string
	replicas   int32
	selector   map[string]string
	pod        corev1.PodTemplateSpec
	recreate   bool
}

// chart is the parsed objects of one rendering, by kind.
type chart struct {
	workloads   map[string]workload // by app.kubernetes.io/component
	services    map[string]corev1.Service
	pdbs        []policyv1.PodDisruptionBudget
	secrets     map[string]corev1.Secret
	jobs        []batchv1.Job
	monitors    []map[string]any
	kinds       map[string]int
	problems    []string
	secretNames map[string]bool // Secrets the pods refer to
}

// parseChart decodes every manifest strictly into its Kubernetes type (an unknown field is a
// problem) and collects them.
func parseChart(t *testing.T, manifest string) *chart {
	t.Helper()
	objs, err := parseManifests(manifest)
	if err != nil {
		t.Fatalf("manifests do not parse: %v", err)
	}
	c := &chart{workloads: map[string]workload{}, services: map[string]corev1.Service{}, secrets: map[string]corev1.Secret{},
		kinds: map[string]int{}, secretNames: map[string]bool{}}
	strict := func(o object, into any) bool {
		if err := yaml.UnmarshalStrict(o.Raw, into); err != nil {
			c.problems = append(c.problems, fmt.Sprintf("%s %s: %v", o.Kind, o.Name, err))
			return false
		}
		return true
	}
	for _, o := range objs {
		c.kinds[o.Kind]++
		switch o.Kind {
		case "Deployment":
			var d appsv1.Deployment
			if strict(o, &d) {
				c.addWorkload(o.Kind, d.Name, d.Spec.Replicas, d.Spec.Selector, d.Spec.Template, d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType)
			}
		case "StatefulSet":
			var s appsv1.StatefulSet
			if strict(o, &s) {
				c.addWorkload(o.Kind, s.Name, s.Spec.Replicas, s.Spec.Selector, s.Spec.Template, false)
			}
		case "Service":
			var s corev1.Service
			if strict(o, &s) {
				c.services[s.Labels["app.kubernetes.io/component"]] = s
			}
		case "PodDisruptionBudget":
			var p policyv1.PodDisruptionBudget
			if strict(o, &p) {
				c.pdbs = append(c.pdbs, p)
			}
		case "Secret":
			var s corev1.Secret
			if strict(o, &s) {
				c.secrets[s.Name] = s
			}
		case "Job":
			var j batchv1.Job
			if strict(o, &j) {
				c.jobs = append(c.jobs, j)
			}
		case "ServiceMonitor":
			if o.APIVersion != "monitoring.coreos.com/v1" {
				c.problems = append(c.problems, "ServiceMonitor apiVersion "+o.APIVersion)
			}
			c.monitors = append(c.monitors, o.Doc)
		default:
			c.problems = append(c.problems, fmt.Sprintf("unexpected kind %s (%s)", o.Kind, o.Name))
		}
	}
	return c
}

func (c *chart) addWorkload(kind, name string, replicas *int32, sel *metav1.LabelSelector, pod corev1.PodTemplateSpec, recreate bool) {
	w := workload{kind: kind, name: name, pod: pod, recreate: recreate, replicas: 1}
	if replicas != nil {
		w.replicas = *replicas
	}
	if sel != nil {
		w.selector = sel.MatchLabels
	}
	component := pod.Labels["app.kubernetes.io/component"]
	if _, dup := c.workloads[component]; dup || component == "" {
		c.problems = append(c.problems, fmt.Sprintf("%s %s: component label %q missing or taken", kind, name, component))
	}
	c.workloads[component] = w
}

// checkPod reports the problems of a pod template: its image, environment, probes, port,
// resources and security context.
func checkPod(where string, pod corev1.PodSpec, b binary, probes bool) ([]string, []string) {
	var problems, secretNames []string
	if len(pod.Containers) != 1 {
		return []string{fmt.Sprintf("%s: %d containers, want 1", where, len(pod.Containers))}, nil
	}
	ct := pod.Containers[0]
	if why := pinned(ct.Image); why != "" {
		problems = append(problems, fmt.Sprintf("%s: image %q: %s", where, ct.Image, why))
	}
	if len(ct.Args) == 0 || !slices.Contains(b.commands, ct.Args[0]) {
		problems = append(problems, fmt.Sprintf("%s: args %v: not a command of the binary %v", where, ct.Args, b.commands))
	}
	if len(ct.Args) > 0 && ct.Args[0] == "poller" && (len(ct.Args) != 2 || !slices.Contains(b.providers, ct.Args[1])) {
		problems = append(problems, fmt.Sprintf("%s: args %v: not a provider of the binary %v", where, ct.Args, b.providers))
	}
	var env []envVar
	httpAddr := ""
	for _, e := range ct.Env {
		v := envVar{Name: e.Name}
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			v.SecretRef = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
			secretNames = append(secretNames, e.ValueFrom.SecretKeyRef.Name)
			if e.ValueFrom.SecretKeyRef.Key != e.Name {
				problems = append(problems, fmt.Sprintf("%s: env %s from Secret key %s", where, e.Name, e.ValueFrom.SecretKeyRef.Key))
			}
		} else if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			v.FieldRef = e.ValueFrom.FieldRef.FieldPath
		} else {
			val := e.Value
			v.Value = &val
		}
		if e.Name == "METERLINE_HTTP_ADDR" {
			httpAddr = e.Value
		}
		env = append(env, v)
	}
	problems = append(problems, checkEnv(where, env, b)...)
	for _, f := range ct.EnvFrom {
		problems = append(problems, fmt.Sprintf("%s: envFrom %v hides the setting names from this check", where, f))
	}
	if ct.Resources.Requests.Cpu().IsZero() || ct.Resources.Requests.Memory().IsZero() || ct.Resources.Limits.Memory().IsZero() {
		problems = append(problems, fmt.Sprintf("%s: resources %v: cpu and memory requests and a memory limit expected", where, ct.Resources))
	}
	if sc := ct.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		problems = append(problems, fmt.Sprintf("%s: container security context: read-only root and no privilege escalation expected", where))
	}
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		problems = append(problems, fmt.Sprintf("%s: pod security context: runAsNonRoot expected", where))
	}
	if !probes {
		return problems, secretNames
	}
	port := hostPort(httpAddr)
	if port == "" || !strings.HasPrefix(httpAddr, "0.0.0.0:") {
		problems = append(problems, fmt.Sprintf("%s: METERLINE_HTTP_ADDR %q: 0.0.0.0:<port> expected (reachable by probes)", where, httpAddr))
	}
	var httpPort int32
	for _, p := range ct.Ports {
		if p.Name == "http" {
			httpPort = p.ContainerPort
		}
	}
	if fmt.Sprint(httpPort) != port {
		problems = append(problems, fmt.Sprintf("%s: container port http %d is not the listener's %q", where, httpPort, httpAddr))
	}
	probe := func(kind string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || (p.HTTPGet.Port.String() != "http" && p.HTTPGet.Port.String() != port) {
			problems = append(problems, fmt.Sprintf("%s: %s probe: HTTP GET %s on the http port expected, got %+v", where, kind, path, p))
		}
	}
	probe("liveness", ct.LivenessProbe, "/healthz")
	probe("readiness", ct.ReadinessProbe, "/readyz")
	probe("startup", ct.StartupProbe, "/healthz")
	return problems, secretNames
}

// check reports every problem of the rendered chart; services are the components expected
// beside the five services (poller-nova...).
func (c *chart) check(b binary, pollers []string) []string {
	problems := slices.Clone(c.problems)
	want := append([]string{"collector", "sink", "processor", "reporting", "provisioning"}, pollers...)
	for _, comp := range want {
		w, ok := c.workloads[comp]
		if !ok {
			problems = append(problems, "no workload for "+comp)
			continue
		}
		where := w.kind + " " + w.name
		ps, secrets := checkPod(where, w.pod.Spec, b, true)
		problems = append(problems, ps...)
		for _, s := range secrets {
			c.secretNames[s] = true
		}
		if !containsAll(w.pod.Labels, w.selector) {
			problems = append(problems, where+": selector does not match the pod labels")
		}
		switch {
		case comp == "processor":
			if w.kind != "StatefulSet" {
				problems = append(problems, where+": the processor must be a StatefulSet (stable transactional ids)")
			}
			if !slices.ContainsFunc(w.pod.Spec.Containers[0].Env, func(e corev1.EnvVar) bool {
				return e.Name == "METERLINE_PROCESSOR_ID" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name"
			}) {
				problems = append(problems, where+": METERLINE_PROCESSOR_ID must be the pod's name")
			}
		case strings.HasPrefix(comp, "poller-"):
			if w.kind != "Deployment" || w.replicas != 1 || !w.recreate {
				problems = append(problems, where+": a poller is a Deployment of one replica, replaced with Recreate")
			}
			if args := w.pod.Spec.Containers[0].Args; len(args) != 2 || "poller-"+args[1] != comp {
				problems = append(problems, fmt.Sprintf("%s: args %v do not run its poller", where, args))
			}
		default:
			if w.kind != "Deployment" {
				problems = append(problems, where+": a Deployment expected")
			}
		}
		svc, ok := c.services[comp]
		if !ok || !containsAll(w.pod.Labels, svc.Spec.Selector) {
			problems = append(problems, where+": no Service selecting its pods")
		} else if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" {
			problems = append(problems, where+": its Service has no port named http")
		}
		if !slices.ContainsFunc(c.pdbs, func(p policyv1.PodDisruptionBudget) bool {
			return p.Spec.Selector != nil && containsAll(w.pod.Labels, p.Spec.Selector.MatchLabels) &&
				(p.Spec.MinAvailable == nil || p.Spec.MinAvailable.IntValue() < int(w.replicas))
		}) {
			problems = append(problems, where+": no PodDisruptionBudget that lets a drain evict one of its pods")
		}
	}
	for comp := range c.workloads {
		if !slices.Contains(want, comp) {
			problems = append(problems, "unexpected workload "+comp)
		}
	}
	if len(c.jobs) != 1 || len(c.jobs[0].Spec.Template.Spec.Containers) == 0 || !slices.Equal(c.jobs[0].Spec.Template.Spec.Containers[0].Args, []string{"migrate"}) {
		problems = append(problems, "one Job running `meterline migrate` expected")
	} else {
		ps, _ := checkPod("Job "+c.jobs[0].Name, c.jobs[0].Spec.Template.Spec, b, false)
		problems = append(problems, ps...)
		if c.jobs[0].Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
			problems = append(problems, "the migrate Job's pods must not restart in place")
		}
	}
	for name, s := range c.secrets {
		for _, key := range slices.Concat(sortedKeys(s.Data), sortedKeys(s.StringData)) {
			if !b.settings[key] || !credential.MatchString(key) {
				problems = append(problems, fmt.Sprintf("Secret %s: key %s is not a credential setting of the binary", name, key))
			}
		}
	}
	for _, m := range c.monitors {
		sel, _ := dig(m, "spec", "selector", "matchLabels").(map[string]any)
		labels := map[string]string{}
		for k, v := range sel {
			labels[k] = fmt.Sprint(v)
		}
		for comp, svc := range c.services {
			if !containsAll(svc.Labels, labels) {
				problems = append(problems, "the ServiceMonitor does not select the Service of "+comp)
			}
		}
		eps, _ := dig(m, "spec", "endpoints").([]any)
		if len(eps) != 1 || dig(eps[0], "port") != "http" || dig(eps[0], "path") != "/metrics" {
			problems = append(problems, fmt.Sprintf("ServiceMonitor endpoints %v: port http, path /metrics expected", eps))
		}
	}
	return problems
}

func TestChartRenders(t *testing.T) {
	b := meterline(t)
	for _, tc := range []struct {
		name    string
		files   []string
		pollers []string
		// secret: the chart makes its Secret; monitor: a ServiceMonitor is rendered.
		secret, monitor bool
	}{
		{name: "default", files: nil, secret: true},
		{name: "production", files: []string{"values-production.yaml"}, pollers: []string{"poller-cf", "poller-nova"}, monitor: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			manifest, err := render(t, tc.files, nil)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			c := parseChart(t, manifest)
			for _, p := range c.check(b, tc.pollers) {
				t.Error(p)
			}
			if got := len(c.secrets) == 1; got != tc.secret {
				t.Errorf("chart's Secret rendered: %v, want %v", got, tc.secret)
			}
			if got := len(c.monitors) == 1; got != tc.monitor {
				t.Errorf("ServiceMonitor rendered: %v, want %v", got, tc.monitor)
			}
			for name := range c.secretNames {
				if _, ours := c.secrets[name]; tc.secret != ours {
					t.Errorf("pods read Secret %s; chart makes it: %v, want %v", name, ours, tc.secret)
				}
			}
			if tc.secret {
				s := c.secrets["meterline"]
				if k := s.Data["METERLINE_AUTH_ADMIN_KEYS"]; len(k) < 32 {
					t.Errorf("generated admin key %q: 32 characters expected", k)
				}
			}
			t.Logf("objects by kind: %v", c.kinds)
		})
	}
}

// TestChartCatchesMistakes proves the checks fail: values that the chart refuses, and
// renderings whose problems the check finds.
func TestChartCatchesMistakes(t *testing.T) {
	b := meterline(t)
	for _, tc := range []struct {
		name string
		set  map[string]any
		// pollers are the poller components the values enable.
		pollers []string
		// refused: the error of the rendering; found: a problem the check reports.
		refused, found string
	}{
		{name: "inline credential", set: map[string]any{"config": map[string]any{"METERLINE_CLICKHOUSE_PASSWORD": "hunter2"}},
			refused: "METERLINE_CLICKHOUSE_PASSWORD is a credential"},
		{name: "credential in a poller's env", set: map[string]any{"pollers": map[string]any{"cf": map[string]any{"enabled": true,
			"env": map[string]any{"METERLINE_CF_CLIENT_SECRET": "s"}}}}, refused: "METERLINE_CF_CLIENT_SECRET is a credential"},
		{name: "latest", set: map[string]any{"image": map[string]any{"tag": "latest"}}, refused: "latest is not a pinned version"},
		{name: "not a setting name", set: map[string]any{"config": map[string]any{"LOG_LEVEL": "debug"}}, refused: "named METERLINE_"},
		{name: "set by the chart", set: map[string]any{"services": map[string]any{"sink": map[string]any{"env": map[string]any{"METERLINE_HTTP_ADDR": "0.0.0.0:9"}}}},
			refused: "METERLINE_HTTP_ADDR is set by the chart"},
		{name: "unknown setting", set: map[string]any{"config": map[string]any{"METERLINE_LOG_LEVLE": "debug"}},
			found: "env METERLINE_LOG_LEVLE is not a setting of the binary"},
		{name: "unknown provider", set: map[string]any{"pollers": map[string]any{"openstack": map[string]any{"enabled": true,
			"resources": map[string]any{"requests": map[string]any{"cpu": "1m", "memory": "1Mi"}, "limits": map[string]any{"memory": "1Mi"}}}}},
			pollers: []string{"poller-openstack"}, found: "not a provider of the binary"},
		{name: "no resources", set: map[string]any{"services": map[string]any{"collector": map[string]any{"resources": nil}}},
			found: "cpu and memory requests"},
		{name: "no disruption budget", set: map[string]any{"services": map[string]any{"sink": map[string]any{"pdb": map[string]any{"enabled": false}}}},
			found: "no PodDisruptionBudget"},
		{name: "budget blocking drains", set: map[string]any{"services": map[string]any{"sink": map[string]any{"pdb": map[string]any{"minAvailable": 1}}}},
			found: "no PodDisruptionBudget"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			manifest, err := render(t, nil, tc.set)
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("render error %v, want one containing %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			problems := parseChart(t, manifest).check(b, tc.pollers)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.found) }) {
				t.Errorf("problems %q: none contains %q", problems, tc.found)
			}
		})
	}
}

// TestChartLints runs Helm's own linter on the chart with each values file.
func TestChartLints(t *testing.T) {
	for _, files := range [][]string{nil, {"values-production.yaml"}} {
		vals := map[string]any{}
		for _, f := range files {
			v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, f))
			if err != nil {
				t.Fatal(err)
			}
			vals = v.AsMap()
		}
		lint := action.NewLint()
		lint.Strict = true
		lint.Namespace = "metering"
		res := lint.Run([]string{chartDir}, vals)
		for _, m := range res.Messages {
			t.Logf("lint %v: %s", files, m)
		}
		for _, err := range res.Errors {
			t.Errorf("lint %v: %v", files, err)
		}
	}
}
