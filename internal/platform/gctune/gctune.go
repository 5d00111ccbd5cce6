// Package gctune sets the garbage collector of a process whose heap is mostly long-lived
// state: the metering processor, whose cells live for their retention. At Go's default
// (GOGC=100) a collection starts each time the heap doubles, and every collection marks
// all of that state again; at Percent it starts when the heap is Percent/100 + 1 times what
// was live, a fifth as often, which measured 15 % less CPU per document
// (docs/benchmarks.md, "Processor fast paths and encoders"). The heap may then grow to five
// times the live state, so the higher percent is only taken under a memory limit, which
// makes the collector work harder as the heap nears it instead of letting it grow past the
// container's memory.
package gctune

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Percent is the GOGC a long-lived heap runs at under a memory limit.
const Percent = 400

// The heap is held to limitShare (4/5) of a cgroup's memory limit when GOMEMLIMIT is not
// set: the rest is for what the Go runtime does not count (the binary, the OS's buffers).
const limitNum, limitDen = 4, 5

// Setting is what Tune decided: the GC percent and the memory limit in effect, and why.
type Setting struct {
	Percent int
	Limit   int64 // bytes; math.MaxInt64 for none
	Reason  string
}

// Decide returns the setting for a process whose GOGC environment variable is gogc, whose
// memory limit is limit (debug.SetMemoryLimit(-1): math.MaxInt64 unless GOMEMLIMIT set
// one) and whose cgroup allows cgroup bytes (0: none known).
func Decide(gogc string, limit, cgroup int64) Setting {
	switch {
	case gogc != "":
		return Setting{Percent: -1, Limit: limit, Reason: "GOGC is set: left as it is"}
	case limit != math.MaxInt64:
		return Setting{Percent: Percent, Limit: limit, Reason: "GOMEMLIMIT bounds the heap"}
	case cgroup > 0:
		return Setting{Percent: Percent, Limit: cgroup / limitDen * limitNum, Reason: "80 % of the cgroup's memory limit bounds the heap"}
	}
	return Setting{Percent: 100, Limit: limit, Reason: "no memory limit is known: Go's default kept"}
}

// Tune decides for this process and applies the decision.
func Tune() Setting {
	s := Decide(os.Getenv("GOGC"), debug.SetMemoryLimit(-1), CgroupLimit())
	if s.Percent > 0 {
		debug.SetGCPercent(s.Percent)
		debug.SetMemoryLimit(s.Limit)
	}
	return s
}

// CgroupLimit returns the memory limit of this process's cgroup (v2 memory.max, else v1
// memory.limit_in_bytes), 0 when there is none or it cannot be read.
func CgroupLimit() int64 {
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(path); err == nil {
			return ParseLimit(string(b))
		}
	}
	return 0
}

// ParseLimit reads a cgroup memory limit file's content: "max" (v2) or a value of 2^60 bytes
// or more (v1's way of saying none) is no limit (0).
func ParseLimit(s string) int64 {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= 1<<60 {
		return 0
	}
	return n
}
