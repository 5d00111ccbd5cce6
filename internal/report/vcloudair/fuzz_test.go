package vcloudair

import (
	"errors"
	"net/url"
	"testing"

	"github.com/meterline/meterline/internal/fault"
)

// FuzzParams: any query string is either valid parameters (a span of whole hours, start before
// end, at most MaxSpan) or fault.Invalid naming at least one problem; never a panic.
func FuzzParams(f *testing.F) {
	for _, s := range []string{"", "duration=BillToDate", "start=2026-12-01T10:00:00.000Z&end=2026-12-01T12:00:00.000Z",
		"start=2026-12-01T00:00:00Z&duration=P1M2DT3H", "month=12&year=2026&level=one&rollup=hour", "month=0&year=x&rollup=week",
		"start=2026-12-01T00:30:00Z&end=2025-01-01T00:00:00Z&duration=P", "end=2026-12-01T00:00:00Z"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, raw string, billable bool) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := ParseParams(q, billable)
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.KindInvalid || len(fe.Problems) == 0 {
				t.Fatalf("%q: %v", raw, err)
			}
			return
		}
		if p.HasSpan && (!p.End.After(p.Start) || p.End.Sub(p.Start) > MaxSpan || !p.Start.Equal(p.Start.Truncate(3600e9))) {
			t.Fatalf("%q: bad span %v – %v", raw, p.Start, p.End)
		}
	})
}
