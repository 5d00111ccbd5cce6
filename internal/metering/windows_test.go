package metering_test

import (
	"testing"
	"time"

	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
)

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func TestPeriod(t *testing.T) {
	f := func(l metering.Level, at, from, to string) {
		t.Helper()
		gf, gt := l.Period(ms(at))
		if gf != ms(from) || gt != ms(to) {
			t.Errorf("%s period of %s = [%s, %s), want [%s, %s)", l, at,
				time.UnixMilli(gf).UTC().Format(time.RFC3339Nano), time.UnixMilli(gt).UTC().Format(time.RFC3339Nano), from, to)
		}
	}
	f(metering.Second, "2026-11-30T23:59:59.999Z", "2026-11-30T23:59:59Z", "2026-12-01T00:00:00Z")
	f(metering.Minute, "2026-11-30T23:59:59.999Z", "2026-11-30T23:59:00Z", "2026-12-01T00:00:00Z")
	f(metering.Hour, "2026-11-30T23:00:00Z", "2026-11-30T23:00:00Z", "2026-12-01T00:00:00Z")
	f(metering.Day, "2026-11-30T23:59:59.999Z", "2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z")
	f(metering.Month, "2026-11-30T23:59:59.999Z", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
	f(metering.Month, "2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z") // never the month before
	f(metering.Month, "2028-02-29T12:00:00Z", "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z")
	f(metering.Day, "1969-12-31T23:00:00Z", "1969-12-31T00:00:00Z", "1970-01-01T00:00:00Z") // before the epoch
}

func TestSlots(t *testing.T) {
	now := ms("2026-12-01T10:30:00Z")
	f := func(l metering.Level, periodStart string, wantSlot int, wantOK bool) {
		t.Helper()
		slot, ok := metering.DefaultSlots.Slot(l, now, ms(periodStart))
		if slot != wantSlot || ok != wantOK {
			t.Errorf("%s slot of %s at %s = %d, %v; want %d, %v", l, periodStart, "2026-12-01T10:30Z", slot, ok, wantSlot, wantOK)
		}
	}
	f(metering.Month, "2026-12-01T00:00:00Z", 0, true)
	f(metering.Month, "2026-11-01T00:00:00Z", 1, true)
	f(metering.Month, "2026-10-01T00:00:00Z", 0, false) // beyond the 2 month slots
	f(metering.Day, "2026-11-30T00:00:00Z", 1, true)
	f(metering.Day, "2026-12-02T00:00:00Z", 0, false) // after the report time
	f(metering.Hour, "2026-12-01T10:00:00Z", 0, true)
	f(metering.Hour, "2026-12-01T09:00:00Z", 0, false)
	if err := (metering.Slots{1, 1, 1, 0, 2}).Validate(); err == nil {
		t.Error("0 day slots validated")
	}
}

// TestSlotsAtInstants: at any instant, the period holding it is slot 0 at every level, the one
// before it slot 1 where the level has two slots, and the one after it is in no slot.
func TestSlotsAtInstants(t *testing.T) {
	atInstants(t, func(t *testing.T, now int64) {
		for l := metering.Level(0); l < metering.Levels; l++ {
			from, to := l.Period(now)
			if from > now || now >= to {
				t.Errorf("%s period [%d, %d) does not hold %d", l, from, to, now)
			}
			if slot, ok := metering.DefaultSlots.Slot(l, now, from); slot != 0 || !ok {
				t.Errorf("%s: the current period is slot %d, %v; want 0", l, slot, ok)
			}
			prev, prevTo := l.Shift(from, 1)
			if slot, ok := metering.DefaultSlots.Slot(l, now, prev); prevTo != from || ok != (metering.DefaultSlots[l] > 1) || (ok && slot != 1) {
				t.Errorf("%s: the previous period [%d, %d) is slot %d, %v", l, prev, prevTo, slot, ok)
			}
			if _, ok := metering.DefaultSlots.Slot(l, now, to); ok {
				t.Errorf("%s: the next period is in a slot", l)
			}
		}
	})
}

// atInstants runs test as a subtest at each of clock.Instants, now being the instant (epoch
// ms): the tests of windows, slack and boundaries hold at any time of any day.
func atInstants(t *testing.T, test func(t *testing.T, now int64)) {
	for _, at := range clock.Instants {
		t.Run(at.Format(time.RFC3339Nano), func(t *testing.T) { test(t, at.UnixMilli()) })
	}
}
