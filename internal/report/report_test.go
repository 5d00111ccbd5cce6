package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/clock"
)

// atInstants runs f as a subtest at each of clock.Instants.
func atInstants(t *testing.T, f func(t *testing.T, at int64)) {
	t.Helper()
	for _, now := range clock.Instants {
		t.Run(now.Format("2006-01-02T15:04:05.000Z"), func(t *testing.T) { f(t, now.UnixMilli()) })
	}
}

const objectKey = "basic/basic-object-storage/object-rating-plan/object-pricing-basic"

func TestParseTime(t *testing.T) { atInstants(t, testParseTime) }

func testParseTime(t *testing.T, at int64) {
	r := &Reporter{Future: time.Minute, Clock: clock.NewManual(time.UnixMilli(at))}
	f := func(in string, want int64, wantErr string) {
		t.Helper()
		got, err := r.ParseTime(in)
		if wantErr != "" {
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.KindInvalid || fe.Problems[0].Field != "time" ||
				!strings.Contains(fe.Problems[0].Reason, wantErr) {
				t.Errorf("ParseTime(%q) = %v, want invalid time: %s", in, err, wantErr)
			}
			return
		}
		if err != nil || got != want {
			t.Errorf("ParseTime(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	f("", at, "")
	f("1435622400000", 1435622400000, "")
	f(time.UnixMilli(at-3600_000).UTC().Format(time.RFC3339Nano), at-3600_000, "")
	f(fmt.Sprint(at+60_000), at+60_000, "")
	f(fmt.Sprint(at+60_001), 0, "in the future")
	f("yesterday", 0, "not epoch milliseconds")
	f("-1", 0, "not between")
}

func TestSplitPlanKey(t *testing.T) {
	for k, want := range map[string]PlanIDs{
		objectKey:           {"basic", "basic-object-storage", "object-rating-plan", "object-pricing-basic"},
		"basic/m//":         {"basic", "m", "", ""},
		"gold/annual/m/r/p": {"gold/annual", "m", "r", "p"},
		"":                  {},
	} {
		if got := SplitPlanKey(k); got != want {
			t.Errorf("SplitPlanKey(%q) = %+v, want %+v", k, got, want)
		}
	}
}

func TestPlanIDsKey(t *testing.T) {
	for _, k := range []string{objectKey, "basic/m//", "gold/annual/m/r/p"} {
		if got := SplitPlanKey(k).Key(); got != k {
			t.Errorf("SplitPlanKey(%q).Key() = %q", k, got)
		}
	}
}

func TestValueJSON(t *testing.T) {
	f := func(v any, want string) {
		t.Helper()
		val, err := ValueOf(v)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(val)
		if err != nil || string(b) != want {
			t.Errorf("%v: %s %v, want %s", v, b, err, want)
		}
	}
	f(nil, "null")
	f(decimal.RequireFromString("1.0000000000005"), "1") // rounded half to even at 12 places
	f(decimal.RequireFromString("1.0000000000015"), "1.000000000002")
	f(map[string]any{"z": int64(3), "a": decimal.RequireFromString("0.50"), "m": map[string]any{"b": true}},
		`{"a":0.5,"m":{"b":true},"z":3}`)
	if _, err := ValueOf(map[string]any{"x": "text"}); err == nil || !strings.Contains(err.Error(), "x: ") {
		t.Errorf("a string in a map: %v, want an error naming x", err)
	}
}

func TestPeriods(t *testing.T) { atInstants(t, testPeriods) }

// testPeriods checks a report's periods at a pinned instant: at a month's first second, the
// month before is the previous calendar month, and the earliest period starts it.
func testPeriods(t *testing.T, at int64) {
	r := &Reporter{Slots: [5]int{1, 1, 1, 2, 2}}
	periods, start := r.Periods(at)
	tm := time.UnixMilli(at).UTC()
	month := time.Date(tm.Year(), tm.Month(), 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	before := time.Date(tm.Year(), tm.Month()-1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	day := time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, time.UTC).UnixMilli()
	got := fmt.Sprint(periods)
	want := fmt.Sprint([]Period{{0, at - at%1000}, {1, at - at%60_000}, {2, at - at%3600_000}, {3, day}, {3, day - 86_400_000},
		{4, month}, {4, before}})
	if got != want || start != before {
		t.Errorf("periods %s from %d, want %s from %d", got, start, want, before)
	}
	for i, p := range periods {
		c := Cell{Level: p.Level, From: p.From}
		if l, s, ok := r.Slot(&c, at); !ok || l != int(p.Level) || s != []int{0, 0, 0, 0, 1, 0, 1}[i] {
			t.Errorf("slot of %v: %d %d %v", p, l, s, ok)
		}
	}
}
