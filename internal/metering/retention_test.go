package metering_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/metering"
)

// heavy returns the organization's heavy_api_calls cell of level l for usage ending at end,
// nil when cells holds none.
func heavy(cells *metering.Cells, l metering.Level, end int64) any {
	plan := metering.PlanKey("basic", "basic-object-storage", "object-rating-plan", "object-pricing-basic")
	return cells.Get(orgCell("heavy_api_calls", l, end, plan))
}

// processedAt returns the processing time whose horizon is h.
func processedAt(a metering.Acceptance, h int64) int64 {
	return h + a.Slack.Milliseconds() + a.Future.Milliseconds()
}

// TestRetention: a second (minute) cell takes late usage until its period ended a minute (an
// hour) before the horizon of the usage's processing time, to the millisecond, and not from
// then on, while the coarser levels still take it; the cell is dropped by the first Expire at
// or after the end of the minute that holds its expiry, never before its expiry; and once
// dropped it is not made again, even by usage whose own processing time is earlier. Hour, day
// and month cells take usage for the whole slack. At each pinned instant, month and year ends
// included (the last millisecond of a year: every level's period ends at the same time).
func TestRetention(t *testing.T) {
	f := func(t *testing.T, end int64) {
		for _, l := range []metering.Level{metering.Second, metering.Minute} {
			retention(t, l, end)
		}
		keptForTheSlack(t, end)
	}
	t.Run("year end", func(t *testing.T) { f(t, time.Date(2026, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()) })
	atInstants(t, f)
}

func retention(t *testing.T, l metering.Level, end int64) {
	t.Helper()
	a := metering.DefaultAcceptance
	_, to := l.Period(end)
	expires := a.Expires(l, to)
	if want := to - (a.Slack - a.Kept(l)).Milliseconds(); expires != want || a.Kept(l) != metering.DefaultRetention[l] {
		t.Fatalf("%s: expires %d, kept %s; want %d, %s", l, expires, a.Kept(l), want, metering.DefaultRetention[l])
	}
	p := &metering.Engine{Plans: builtinCatalog(t), Acceptance: a}
	cells := metering.NewCells()
	cells.SetRetention(a)
	process := func(now int64) {
		t.Helper()
		if _, err := p.Process(objectDoc("i", end), now, cells); err != nil {
			t.Fatalf("%s: processed at %d: %v", l, now, err)
		}
		cells.Commit()
	}
	hundreds := func(n int64) any { return decimal.NewFromInt(100 * n) }
	check := func(what string, want ...any) {
		t.Helper()
		for i, w := range want {
			got := heavy(cells, metering.Level(i), end)
			if (got == nil) != (w == nil) || (got != nil && !got.(decimal.Decimal).Equal(w.(decimal.Decimal))) {
				t.Errorf("%s, %s: %s cell %v, want %v", l, what, metering.Level(i), got, w)
			}
		}
	}
	process(end)
	// The last processing time within the retention: every level takes the usage.
	process(processedAt(a, expires-1))
	// Finer levels (the second cells, when l is minutes) are past their own retention.
	var want [metering.Levels]any
	for i := range want {
		if want[i] = hundreds(2); metering.Level(i) < l {
			want[i] = hundreds(1)
		}
	}
	check("within the retention", want[:]...)
	// From the retention's end on, the level (and the finer ones) keeps its value.
	process(processedAt(a, expires))
	for i := range want {
		if metering.Level(i) > l {
			want[i] = hundreds(3)
		}
	}
	check("past the retention", want[:]...)
	// The cell stays until the minute holding its expiry is over, then is dropped.
	bucketEnd := expires - mod(expires, 60_000) + 59_999
	for _, h := range []int64{expires - 1, bucketEnd - 1} {
		cells.Expire(h)
		if heavy(cells, l, end) == nil {
			t.Errorf("%s: dropped by Expire(%d), before the end of the minute holding its expiry %d", l, h, expires)
		}
	}
	var expiring bool
	cells.Expiring(bucketEnd, func(c *metering.Cell) { expiring = expiring || c.Key().Level == l })
	cells.Expire(bucketEnd)
	if !expiring || heavy(cells, l, end) != nil {
		t.Errorf("%s: not dropped by Expire(%d) (listed by Expiring: %v)", l, bucketEnd, expiring)
	}
	// A dropped cell is not made again from nothing, even by usage processed at an earlier
	// time (stored times need not grow).
	process(processedAt(a, expires-1))
	if v := heavy(cells, l, end); v != nil {
		t.Errorf("%s: a dropped cell was made again: %v", l, v)
	}
}

// keptForTheSlack: hour, day and month cells take usage up to the slack, which rejects older
// usage as too late.
func keptForTheSlack(t *testing.T, end int64) {
	t.Helper()
	a := metering.DefaultAcceptance
	p := &metering.Engine{Plans: builtinCatalog(t), Acceptance: a}
	cells := metering.NewCells()
	cells.SetRetention(a)
	last := end + a.Slack.Milliseconds()
	for _, now := range []int64{end, last} {
		if _, err := p.Process(objectDoc("i", end), now, cells); err != nil {
			t.Fatal(err)
		}
		cells.Commit()
	}
	for _, l := range []metering.Level{metering.Hour, metering.Day, metering.Month} {
		if v, ok := heavy(cells, l, end).(decimal.Decimal); !ok || !v.Equal(decimal.NewFromInt(200)) {
			t.Errorf("%s cell %v after usage processed a slack late, want 200", l, heavy(cells, l, end))
		}
	}
	if _, err := p.Process(objectDoc("i", end), last+1, cells); !errors.Is(err, metering.ErrTooLate) {
		t.Errorf("usage processed past the slack: %v, want too late", err)
	}
}

// TestRetentionValidate: hour, day and month cells may not go before the slack.
func TestRetentionValidate(t *testing.T) {
	slack := 48 * time.Hour
	for _, c := range []struct {
		r  metering.Retention
		ok bool
	}{
		{metering.DefaultRetention, true},
		{metering.Retention{}, true},
		{metering.Retention{time.Second, time.Minute, slack, 100 * time.Hour, 0}, true},
		{metering.Retention{-time.Second}, false},
		{metering.Retention{0, 0, time.Hour}, false},
		{metering.Retention{0, 0, 0, 0, slack - 1}, false},
	} {
		if err := c.r.Validate(slack); (err == nil) != c.ok {
			t.Errorf("Validate(%v) = %v, want ok %v", c.r, err, c.ok)
		}
	}
	// More than the slack is the slack.
	a := metering.Acceptance{Slack: slack, Retention: metering.Retention{100 * time.Hour}}
	if a.Kept(metering.Second) != slack || a.Kept(metering.Minute) != slack {
		t.Errorf("kept %s and %s, want the slack", a.Kept(metering.Second), a.Kept(metering.Minute))
	}
}

func mod(a, b int64) int64 { return ((a % b) + b) % b }
