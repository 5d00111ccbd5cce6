package metering_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
)

func TestAccept(t *testing.T) { atInstants(t, testAccept) }

func testAccept(t *testing.T, now int64) {
	a := metering.DefaultAcceptance
	if err := a.Accept(now-a.Slack.Milliseconds(), now); err != nil {
		t.Errorf("usage exactly at the slack: %v", err)
	}
	if err := a.Accept(now-a.Slack.Milliseconds()-1, now); !errors.Is(err, metering.ErrTooLate) {
		t.Errorf("usage beyond the slack: %v, want metering.ErrTooLate", err)
	}
	if err := a.Accept(now+a.Future.Milliseconds()+1, now); !errors.Is(err, metering.ErrFuture) {
		t.Errorf("usage from the future: %v, want metering.ErrFuture", err)
	}
	if err := a.Accept(now-1000, now); err != nil {
		t.Errorf("usage a second old: %v", err)
	}
	// The floor: a partition's usage before it is settled, whatever the processing time.
	if err := a.Settled(now, now); err != nil {
		t.Errorf("usage ending at the floor: %v", err)
	}
	if err := a.Settled(now-1, now); !errors.Is(err, metering.ErrTooLate) {
		t.Errorf("usage before the floor: %v, want metering.ErrTooLate", err)
	}
	if h := a.Horizon(now); !errors.Is(a.Accept(h-1, now), metering.ErrTooLate) || h != now-(a.Slack+a.Future).Milliseconds() {
		t.Errorf("horizon %d: usage before it is accepted at %d", h, now)
	}
}

// TestCodeOf: every rejection has its code, wrapped or not; other errors have none.
func TestCodeOf(t *testing.T) {
	f := func(err error, want metering.RejectCode, wantOK bool) {
		t.Helper()
		if code, ok := metering.CodeOf(err); code != want || ok != wantOK {
			t.Errorf("CodeOf(%v) = %q, %v; want %q, %v", err, code, ok, want, wantOK)
		}
	}
	f(fmt.Errorf("document x: %w", metering.ErrTooLate), metering.RejectTooLate, true)
	f(metering.DefaultAcceptance.Settled(0, 1), metering.RejectTooLate, true)
	f(metering.ErrFuture, metering.RejectFuture, true)
	f(&metering.Rejection{Reason: "no plan", Err: metering.ErrNoPlan}, metering.RejectNoPlan, true)
	f(metering.ErrNoPrice, metering.RejectNoPrice, true)
	f(fmt.Errorf("rating: %w", &plans.EvalError{Plan: "p"}), metering.RejectFormulaError, true)
	f(errors.New("broker down"), "", false)
}
