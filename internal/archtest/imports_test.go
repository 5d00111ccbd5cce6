package archtest

import (
	"bufio"
	"bytes"
	"os/exec"
	"path"
	"strings"
	"testing"
)

const module = "github.com/meterline/meterline"

// domain are the packages of the domain: pure logic, no I/O.
var domain = []string{"internal/usage", "internal/plans", "internal/metering", "internal/catalog", "internal/platform/clock",
	"internal/metadata", "internal/metadata/ebdetails", "internal/metadata/cfmeta"}

// forbidden are the import paths the domain may not depend on, even indirectly: an external
// package when it is the path or the path is below it, Meterline's own adapters likewise.
var forbidden = []string{
	"github.com/twmb/franz-go",
	"github.com/ClickHouse/clickhouse-go",
	"github.com/ClickHouse/ch-go",
	"net/http",
	"go.uber.org/zap",
	"github.com/prometheus/client_golang",
	module + "/internal/kafka",
	module + "/internal/clickhouse",
	module + "/internal/collector",
	module + "/internal/processor",
	module + "/internal/provisioning",
	module + "/internal/sink",
	module + "/internal/report",
	module + "/internal/poller",
	module + "/internal/app",
	module + "/internal/auth",
	module + "/internal/platform/web",
	module + "/internal/platform/logging",
	module + "/internal/platform/metrics",
}

func below(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }

// goList runs `go list` with args and returns its lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestDomainImportsNoAdapter: no domain package depends, directly or not, on Kafka,
// ClickHouse, HTTP, logging or metrics packages, or on an adapter of Meterline's own.
func TestDomainImportsNoAdapter(t *testing.T) {
	for _, d := range domain {
		for _, dep := range goList(t, "-deps", module+"/"+d) {
			for _, f := range forbidden {
				if below(dep, f) {
					t.Errorf("%s depends on %s", d, dep)
				}
			}
		}
	}
}

// imports returns every package of the module with its direct imports.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, l := range goList(t, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"/...") {
		f := strings.Fields(l)
		out[f[0]] = f[1:]
	}
	return out
}

// TestSiblingsDoNotImportEachOther: a report view imports the core, never another view; a
// poller imports the poller core and the intake, never another poller or the HTTP collector.
// Shared test helpers (reporttest, pollertest) are not siblings.
func TestSiblingsDoNotImportEachOther(t *testing.T) {
	f := func(parent string, alsoForbidden ...string) {
		t.Helper()
		root := module + "/" + parent
		for pkg, deps := range imports(t) {
			if !below(pkg, root) || pkg == root {
				continue
			}
			own := root + "/" + strings.Split(strings.TrimPrefix(pkg, root+"/"), "/")[0]
			for _, dep := range deps {
				sibling := path.Dir(dep) == root && !below(dep, own) && !strings.HasSuffix(dep, "test")
				if sibling {
					t.Errorf("%s imports %s, a sibling under %s", pkg, dep, parent)
				}
				for _, a := range alsoForbidden {
					if below(dep, module+"/"+a) {
						t.Errorf("%s imports %s", pkg, dep)
					}
				}
			}
		}
	}
	f("internal/report", "internal/collector", "internal/processor")
	f("internal/poller", "internal/collector", "internal/report")
}
