package gctune

import (
	"math"
	"testing"
)

func TestDecide(t *testing.T) {
	const gib = 1 << 30
	for _, c := range []struct {
		gogc          string
		limit, cgroup int64
		want          Setting
	}{
		{"", math.MaxInt64, 4 * gib, Setting{Percent: 400, Limit: 16 * gib / 5}},
		{"", 3 * gib, 4 * gib, Setting{Percent: 400, Limit: 3 * gib}},
		{"", math.MaxInt64, 0, Setting{Percent: 100, Limit: math.MaxInt64}},
		{"200", math.MaxInt64, 4 * gib, Setting{Percent: -1, Limit: math.MaxInt64}},
		{"off", 2 * gib, 0, Setting{Percent: -1, Limit: 2 * gib}},
	} {
		got := Decide(c.gogc, c.limit, c.cgroup)
		if got.Percent != c.want.Percent || got.Limit != c.want.Limit || got.Reason == "" {
			t.Errorf("Decide(%q, %d, %d) = %+v, want %+v", c.gogc, c.limit, c.cgroup, got, c.want)
		}
	}
}

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]int64{
		"max\n": 0, "4294967296\n": 4294967296, "9223372036854771712\n": 0, "": 0, "-1": 0, "x": 0, "536870912": 536870912,
	} {
		if got := ParseLimit(in); got != want {
			t.Errorf("ParseLimit(%q) = %d, want %d", in, got, want)
		}
	}
}
