package report_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoreImportsNoAdapter keeps the core below the adapters and the views: the report core
// links no ClickHouse, Kafka, HTTP or logging package and none of its views, so that every
// view and every store can import it.
func TestCoreImportsNoAdapter(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/meterline/meterline/internal/report").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case strings.Contains(dep, "clickhouse"), strings.Contains(dep, "franz-go"), dep == "net/http",
			strings.HasPrefix(dep, "go.uber.org/zap"), strings.HasPrefix(dep, "github.com/meterline/meterline/internal/report/"):
			t.Errorf("internal/report imports %s", dep)
		}
	}
}
