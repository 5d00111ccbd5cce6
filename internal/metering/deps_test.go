package metering_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoAdapters: the domain imports no adapter, directly or through another package: no
// Kafka client, no ClickHouse driver, no HTTP, no logger. A change that drags one in (a port
// asserted here instead of beside its implementation, say) fails here.
func TestNoAdapters(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "net/http" || strings.Contains(pkg, "franz-go") || strings.Contains(pkg, "clickhouse") || strings.HasPrefix(pkg, "go.uber.org/zap") {
			t.Errorf("internal/metering depends on %s", pkg)
		}
	}
}
