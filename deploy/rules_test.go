package deploy

import (
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

var promql = parser.NewParser(parser.Options{})

// names returns the metric names expr selects; a selector without one is an error.
func names(t *testing.T, where, expr string) []string {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return nil
	}
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if vs.Name == "" {
				t.Errorf("%s: a selector without a metric name in %q", where, expr)
			}
			out = append(out, vs.Name)
		}
		return nil
	})
	if len(out) == 0 {
		t.Errorf("%s: %q names no metric", where, expr)
	}
	return out
}

// TestRules: the rules file parses and validates as `promtool check rules` does (YAML, rule
// names, PromQL, templates), holds the four alerts issue 13 asks for, and every metric its
// expressions name is one Meterline registers or one of its recording rules.
func TestRules(t *testing.T) {
	const file = "prometheus/meterline-rules.yml"
	groups, errs := rulefmt.ParseFile(file, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil {
		t.FailNow()
	}
	known := exported(t)
	recorded := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
		}
	}
	alerts := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			where := file + ": " + r.Record + r.Alert
			alerts[r.Alert] = r.Alert != ""
			for _, n := range names(t, where, r.Expr) {
				if !known[n] && !recorded[n] {
					t.Errorf("%s: %s is no metric Meterline exports", where, n)
				}
			}
			if r.Alert != "" && (r.Annotations["summary"] == "" || r.Labels["severity"] == "") {
				t.Errorf("%s: an alert needs a summary and a severity", where)
			}
		}
	}
	for _, a := range []string{"MeterlineConsumerLagGrowing", "MeterlineSinkStalled", "MeterlinePollerNearSlack", "MeterlineRejectionsSpiking"} {
		if !alerts[a] {
			t.Errorf("no alert %s", a)
		}
	}
}

// TestRulesCheckCatchesMistakes: the checks above fail on a bad expression and on a metric no
// one exports (the test could not pass over a broken file).
func TestRulesCheckCatchesMistakes(t *testing.T) {
	bad := []byte("groups:\n- name: x\n  rules:\n  - alert: A\n    expr: rate(meterline_x_total[5m] > 1\n")
	if _, errs := rulefmt.Parse(bad, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler)); len(errs) == 0 {
		t.Error("an expression that does not parse passed")
	}
	if known := exported(t); known["meterline_no_such_metric_total"] || !known["meterline_kafka_consumer_lag_records"] || !known["go_goroutines"] {
		t.Error("the exported names are wrong")
	}
}

// TestDashboard: the Grafana dashboard is valid JSON, takes its Prometheus datasource from a
// template variable (every panel and query uses it), and every query parses as PromQL and
// names only metrics Meterline exports.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/meterline.json")
	if err != nil {
		t.Fatal(err)
	}
	type ds struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	var d struct {
		Title      string `json:"title"`
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query string `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title      string `json:"title"`
			Datasource ds     `json:"datasource"`
			Targets    []struct {
				Expr       string `json:"expr"`
				Datasource ds     `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("grafana/meterline.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatal("a dashboard needs a title, a uid and panels")
	}
	variable := ""
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Query == "prometheus" {
			variable = "${" + v.Name + "}"
		}
	}
	if variable == "" {
		t.Fatal("no Prometheus datasource template variable")
	}
	known := exported(t)
	for _, p := range d.Panels {
		if p.Datasource.UID != variable || p.Datasource.Type != "prometheus" {
			t.Errorf("panel %q: datasource %+v, want the variable %s", p.Title, p.Datasource, variable)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if q.Datasource.UID != variable {
				t.Errorf("panel %q: a query's datasource %+v, want the variable %s", p.Title, q.Datasource, variable)
			}
			for _, n := range names(t, "panel "+p.Title, q.Expr) {
				if !known[n] {
					t.Errorf("panel %q: %s is no metric Meterline exports", p.Title, n)
				}
			}
		}
	}
}
