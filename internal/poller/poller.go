// Package poller is the core of Meterline's pollers: the loop that reads a provider's usage
// API period after period and publishes what it read, with the poller's new state, in one
// Kafka transaction. A provider (internal/poller/<provider>) only says how to read the next
// period and how to turn it into usage documents; this package schedules it, retries it
// (backoff with jitter, Retry-After on 429, re-authentication on 401 through Client), sets
// undecodable payloads aside to the rejects topic, validates every document with the
// collector's own rules (usage.NewEvent), and keeps the metrics.
//
// Exactly once rests on three things. A provider's Poll is a pure function of the state it
// is given and of what the provider answers, so a period read again gives the same documents
// (same ids, dropped downstream). The documents of a period and the state that moves past it
// are committed together (Publisher), so a crash leaves both or neither, and a restart polls
// again from the last committed state. And a second instance of the same source fences the
// first (kafka.ErrFenced): Run then stops with that error rather than publish beside it.
package poller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/metadata"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// Provider reads one provider API. Its methods are called from one goroutine.
type Provider interface {
	// Initial returns the state of a first run that starts at start (a period boundary is
	// the provider's to choose: it starts at the first period that begins at or after start).
	Initial(start time.Time) ([]byte, error)
	// Poll reads the next period after state at now. It returns the documents of that period
	// and the state past it; or, when no period is due yet, a Batch with Idle set and Next
	// the time the next one is. The documents must depend only on state and on what the
	// provider answered, never on now: a period read twice gives the same documents. An
	// error leaves the state as it was: the same period is read again after a pause (see
	// Run for how errors are told apart).
	Poll(ctx context.Context, state []byte, now time.Time) (Batch, error)
}

// Batch is what one Poll read.
type Batch struct {
	// Idle says no period was due: nothing is published, Next is when one is and Through
	// how far the state has read.
	Idle bool
	Next time.Time
	// Docs are the usage documents of the period, in the order they are published.
	Docs []usage.Document
	// State is the poller's state past the period; it is committed with Docs.
	State []byte
	// Through is the end of the period read: how far the poller has read (its lag is now
	// minus Through).
	Through time.Time
	// Rejects are payloads that were read but could not be used, committed with the batch.
	Rejects []Reject
	// Notices are findings about the provider's data that are no error (a server gone before
	// its last period was read, totals that do not add up): logged and counted by kind.
	Notices []Notice
	// Metadata is what the period's read told of the provider's entities (package metadata),
	// committed with the batch; a Publisher that is no MetadataPublisher cannot take it.
	Metadata []metadata.Record
}

// Reject is a payload set aside to the rejects topic.
type Reject struct {
	Request string // what was read
	Reason  string // why it was set aside
	Payload []byte // as read
}

// Notice is a finding about a provider's data.
type Notice struct {
	Kind   string // a short name, the label of meterline_poller_notices_total
	Detail string // for people
}

// Publisher commits a batch: its events and rejects and the new state, in one transaction
// (kafka.TxPublisher is one, through the adapter of internal/app).
type Publisher interface {
	Publish(ctx context.Context, events []*meterlinev1.UsageEvent, rejects []Reject, state []byte) error
	// LastState returns the last committed state; ok is false on a first run.
	LastState(ctx context.Context) (state []byte, ok bool, err error)
}

// ErrFenced, in a Publish error, says another instance of the source took over: Run stops.
var ErrFenced = errors.New("fenced by another instance of the source")

// Config configures Run.
type Config struct {
	// Source is the poller's source (usage.PollerSource plus the provider's own identity,
	// "poller:nova/<cloud>"): the source of its events and the key of its state.
	Source string
	// Interval is how often Run looks for a due period once it has caught up; it also bounds
	// how long it waits for the next period.
	Interval time.Duration
	// Start is where a first run starts; the zero value is FirstStart's default.
	Start time.Time
	// Slack is the metering slack: usage that ends longer ago than this when it is published
	// is rejected as too late. The lag metrics are shares of it.
	Slack time.Duration
	// Backoff paces the retries after failures.
	Backoff Backoff
	// Clock tells the time; nil is the wall clock.
	Clock clock.Clock
	// Sleep waits d or until ctx ends; nil waits on a timer. Tests pass one that moves a
	// manual clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// Metrics receives what Run does; nil counts nothing.
	Metrics *Metrics
}

// startMargin is how far inside the slack a first run starts by default: the time it has to
// catch up before the documents of its first period fall beyond the slack.
const startMargin = time.Hour

// FirstStart returns where a first run at now starts: start when given, else as far back as
// the slack allows less startMargin.
func FirstStart(now, start time.Time, slack time.Duration) time.Time {
	if !start.IsZero() {
		return start
	}
	return now.Add(-slack + startMargin)
}

// Run polls p until ctx ends or the source is fenced, publishing through pub. It starts from
// pub's last committed state, or from p.Initial on a first run.
//
// After a failed Poll the same period is read again: after the Retry-After of a 429 or 503
// (RetryAfter), else after Backoff's next pause (with jitter), which grows with each failure
// in a row and resets on success. A payload that does not decode (a *DecodeError) is set
// aside to the rejects topic, in a transaction with the unchanged state, before the pause;
// the same payload met again in a row is not set aside twice. After a failed Publish the
// state is read again from pub (the commit may have happened) and polling goes on from it:
// the documents read again are the same, so they count once. A Publish fenced by another
// instance ends Run with the error.
func Run(ctx context.Context, cfg Config, p Provider, pub Publisher, log *zap.Logger) error {
	clk := clock.Or(cfg.Clock)
	sleep := cfg.Sleep
	if sleep == nil {
		sleep = sleepTimer
	}
	m := cfg.Metrics.source(cfg.Source)
	var state []byte
	// A first run's start is fixed once: a publish that fails before the first commit reads
	// no state again and must start where it did, not an hour later.
	start := FirstStart(clk.Now(), cfg.Start, cfg.Slack)
	load := func() error {
		for attempt := 0; ; attempt++ {
			st, ok, err := pub.LastState(ctx)
			if err == nil && !ok {
				log.Info("first run", zap.Time("start", start))
				st, err = p.Initial(start)
			}
			if err == nil {
				state = st
				return nil
			}
			m.failed(KindState)
			log.Warn("reading the poller state", zap.Error(err))
			if serr := sleep(ctx, cfg.Backoff.Pause(attempt)); serr != nil {
				return serr
			}
		}
	}
	if err := load(); err != nil {
		return err
	}
	failures := 0
	var lastReject string
	pause := func(kind string, err error, wait time.Duration) error {
		m.failed(kind)
		if wait <= 0 {
			wait = cfg.Backoff.Pause(failures)
		}
		failures++
		log.Warn("poll failed", zap.String("kind", kind), zap.Duration("retry_in", wait), zap.Error(err))
		return sleep(ctx, wait)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := clk.Now()
		b, err := p.Poll(ctx, state, now)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var de *DecodeError
			if errors.As(err, &de) {
				if key := de.Request + "\x00" + string(de.Payload); key != lastReject {
					rj := Reject{Request: de.Request, Reason: de.Err.Error(), Payload: de.Payload}
					if perr := pub.Publish(ctx, nil, []Reject{rj}, state); perr != nil {
						if errors.Is(perr, ErrFenced) {
							return perr
						}
						log.Warn("setting a payload aside", zap.Error(perr))
					} else {
						lastReject = key
						m.rejected(1)
					}
				}
			}
			if serr := pause(KindOf(err), err, RetryAfterOf(err)); serr != nil {
				return serr
			}
			continue
		}
		if b.Idle {
			m.observe(now, b.Through, cfg.Slack, false)
			wait := min(max(b.Next.Sub(now), 0), cfg.Interval)
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		events, rejects := make([]*meterlinev1.UsageEvent, 0, len(b.Docs)), b.Rejects
		for _, d := range b.Docs {
			ev, err := usage.NewEvent(d, cfg.Source, now, "")
			if err != nil {
				js, _ := d.MarshalJSON()
				rejects = append(rejects, Reject{Request: "document " + d.DedupID, Reason: err.Error(), Payload: js})
				continue
			}
			events = append(events, ev)
		}
		began := time.Now() // a duration, not a time the pipeline records: the wall clock
		err = publish(ctx, pub, events, rejects, b.Metadata, b.State)
		m.transaction(time.Since(began), err == nil)
		if err != nil {
			if errors.Is(err, ErrFenced) {
				m.failed(KindFenced)
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if serr := pause(KindPublish, err, 0); serr != nil {
				return serr
			}
			if lerr := load(); lerr != nil {
				return lerr
			}
			continue
		}
		state, failures, lastReject = b.State, 0, ""
		for _, n := range b.Notices {
			m.notice(n.Kind)
			log.Warn("provider notice", zap.String("kind", n.Kind), zap.String("detail", n.Detail))
		}
		m.published(len(events), len(rejects))
		m.observe(now, b.Through, cfg.Slack, true)
	}
}

func sleepTimer(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// DecodeError is a provider answer that does not decode: Run sets its payload aside.
type DecodeError struct {
	Request string
	Payload []byte
	Err     error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%s: undecodable answer: %v", e.Request, e.Err)
}
func (e *DecodeError) Unwrap() error { return e.Err }
