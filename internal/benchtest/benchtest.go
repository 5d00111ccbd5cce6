// Package benchtest holds what benchmarks of several packages share: how their sizes are
// read from the environment.
package benchtest

import (
	"os"
	"strconv"
	"testing"
)

// EnvInt is the positive whole number the environment variable name holds, or def when it
// is unset; anything else fails the benchmark.
func EnvInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q is not a positive whole number", name, v)
	}
	return n
}
