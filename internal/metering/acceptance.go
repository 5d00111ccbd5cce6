package metering

import (
	"errors"
	"fmt"
	"time"
)

// Errors of Accept: the reasons usage is rejected for its time.
var (
	ErrTooLate = errors.New("usage is older than the slack allows")
	ErrFuture  = errors.New("usage ends in the future")
)

// Acceptance decides whether usage is processed given its end time, the processing time and
// the floor: it is the one home of "too late".
type Acceptance struct {
	// Slack is how late usage may arrive: usage whose end is more than Slack before the time
	// it is processed is rejected, so that the cells it would change are settled.
	Slack time.Duration
	// Future is how far ahead of the processing time usage may end (clock skew).
	Future time.Duration
}

// DefaultAcceptance takes usage up to two days late, as Abacus' default slack did, and up to
// a minute in the future.
var DefaultAcceptance = Acceptance{Slack: 48 * time.Hour, Future: time.Minute}

// Accept returns nil when usage ending at end (epoch ms) is processed at now, else an error
// wrapping ErrTooLate or ErrFuture with the times.
func (a Acceptance) Accept(end, now int64) error {
	switch {
	case end < now-a.Slack.Milliseconds():
		return fmt.Errorf("%w: it ended at %s, %s before it was processed (slack %s)", ErrTooLate,
			time.UnixMilli(end).UTC().Format(time.RFC3339Nano), time.Duration(now-end)*time.Millisecond, a.Slack)
	case end > now+a.Future.Milliseconds():
		return fmt.Errorf("%w: it ends at %s, after the processing time %s", ErrFuture,
			time.UnixMilli(end).UTC().Format(time.RFC3339Nano), time.UnixMilli(now).UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// Settled returns nil when usage ending at end (epoch ms) lies at or after floor, else an
// error wrapping ErrTooLate. The floor is a partition's pruning horizon: the ids of documents
// and the cells of periods that ended before it are deleted, so usage that ended before it is
// too late whatever its processing time (processing times come from the collectors' clocks
// and need not grow); counting it would count a copy twice or into a cell rebuilt from
// nothing. A floor of 0 or below settles nothing after the epoch.
func (a Acceptance) Settled(end, floor int64) error {
	if end < floor {
		return fmt.Errorf("%w: it ended at %s, before %s, up to which this partition's usage is settled and pruned",
			ErrTooLate, time.UnixMilli(end).UTC().Format(time.RFC3339Nano), time.UnixMilli(floor).UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// Horizon returns the time (epoch ms) before which nothing usage processed at now or later
// can change has ended: usage that old is too late (beyond the slack), even when it ends as
// far ahead of its processing time as Future allows. It is where pruning may start; the
// processor never lets its floor go back below an earlier horizon.
func (a Acceptance) Horizon(now int64) int64 {
	return now - a.Slack.Milliseconds() - a.Future.Milliseconds()
}
