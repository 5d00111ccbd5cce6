package report

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/usage"
)

// FuzzParseTime feeds the report time (the :time segment of the report routes and, through
// GraphQL, the time argument) any text. Its seeds are in testdata/fuzz/FuzzParseTime: epoch
// milliseconds and RFC 3339 times at the edges (0, the last millisecond of 2106, the present
// and a minute later), and hostile ones (900,000 digits, 1e400, invalid UTF-8, NUL, ".", "..").
//
// A time either parses to epoch milliseconds between 0 and usage.MaxMillis, not beyond the
// present and the future tolerance, which parse back to themselves in both forms; or it is
// refused with a fault.Error of kind invalid whose every problem names the field time, a
// reason and a short echo of the text.
func FuzzParseTime(f *testing.F) {
	maxEcho := len(usage.Echo(strings.Repeat("9", 1000)).(string)) // a prefix and "…"
	now := clock.Instants[0]
	r := &Reporter{Future: time.Minute, Clock: clock.NewManual(now)}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := r.ParseTime(s)
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.KindInvalid || len(fe.Problems) == 0 {
				t.Fatalf("ParseTime(%q): %v, want an invalid-input fault", s, err)
			}
			for _, p := range fe.Problems {
				_, err := json.Marshal(p.Value)
				if e, _ := p.Value.(string); p.Field != "time" || p.Reason == "" || err != nil || len(e) > maxEcho {
					t.Errorf("problem %+v: want the field time, a reason and a short echo", p)
				}
			}
			return
		}
		if got < 0 || got > usage.MaxMillis || got > now.UnixMilli()+time.Minute.Milliseconds() {
			t.Fatalf("ParseTime(%q) = %d: not a time a report may be of", s, got)
		}
		if n, err := strconv.ParseInt(s, 10, 64); (s == "" && got != now.UnixMilli()) || (err == nil && n != got) {
			t.Fatalf("ParseTime(%q) = %d, want the time written", s, got)
		}
		for _, again := range []string{strconv.FormatInt(got, 10), time.UnixMilli(got).UTC().Format(time.RFC3339Nano)} {
			if back, err := r.ParseTime(again); err != nil || back != got {
				t.Fatalf("ParseTime(%q) = %d, but ParseTime(%q) = %d, %v", s, got, again, back, err)
			}
		}
	})
}
