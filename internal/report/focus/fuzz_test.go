package focus

import (
	"errors"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report"
)

// FuzzParams feeds ParseParams arbitrary query strings: it never panics, and it either
// returns parameters that hold together (a month's period that starts by the export's time,
// exactly one scope of at most 256 bytes, a known format) or an invalid or too-large error
// naming at least one problem.
func FuzzParams(f *testing.F) {
	for _, s := range []string{"", "billing_period=2026-11&organization_id=o", "billing_period=2026-11&account_id=a&format=parquet",
		"billing_period=1969-12&organization_id=o", "billing_period=2026-11&organization_id=%ff", "time=-1&x=1&x=2",
		"billing_period=2026-11&organization_id=o&time=2026-11-20T12:00:00Z", "%zz", "billing_period=9999-12&account_id=a"} {
		f.Add(s)
	}
	r := &report.Reporter{Future: time.Minute, Clock: clock.NewManual(time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC))}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := ParseParams(raw, r)
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || (fe.Kind != fault.KindInvalid && fe.Kind != fault.KindTooLarge) || len(fe.Problems) == 0 {
				t.Fatalf("%q: %v, want an invalid or too-large error with problems", raw, err)
			}
			return
		}
		if (p.Organization == "") == (p.Account == "") || len(p.Organization) > maxIDBytes || len(p.Account) > maxIDBytes ||
			(p.Format != FormatCSV && p.Format != FormatParquet) || p.Start.UnixMilli() > p.AsOf ||
			!p.End.Equal(p.Start.AddDate(0, 1, 0)) || p.Start.Day() != 1 {
			t.Fatalf("%q: accepted %+v", raw, p)
		}
	})
}
