// Package cf is the poller of Cloud Foundry's Cloud Controller usage events (seed 000): the
// app and service usage event streams of /v3 (or /v2 on a foundation without them), turned
// into documents of the linux-container, cf-task, cf-staging and cf-service resources.
// docs/pollers.md tells the mapping and the guarantees.
//
// What it relies on and how it handles Cloud Controller's traps:
//   - Events are read by keyset (after_guid) in id order, and only once they are older than
//     MinAge by Cloud Controller's own Date header: younger ones may sit beside transactions
//     that are still open.
//   - Each read starts again from an anchor about Overlap before the newest event applied
//     and skips the events it has applied since (kept in the state), so a row committed late
//     with a lower id is still counted, and none twice.
//   - Previous values come from the poller's state, never from the event; BUILDPACK_SET
//     counts nothing (unless it shows a process the state does not know runs); the events of
//     one process in one second are folded into one document.
//   - A first start takes a snapshot of what runs now (/v3/apps, /v3/processes,
//     /v3/service_instances) instead of replaying 31 days of events.
//   - A cursor Cloud Controller no longer knows (v3 422, v2 400 code 10005) and a
//     purge-and-reseed (seeded events, guid = process guid) are reconciled against a new
//     snapshot: what stopped meanwhile stops, what started starts, the rest is unchanged.
//   - An empty event stream while processes run is a token without global read: an error of
//     kind misconfigured, never "no usage".
package cf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/usage"
)

// The resources of the documents; each has built-in plans (internal/plans/builtin/cf).
const (
	ResourceApp     = "linux-container"
	ResourceTask    = "cf-task"
	ResourceStaging = "cf-staging"
	ResourceService = "cf-service"
	// Plan is the plan id of every document.
	Plan = "standard"
)

// maxSeen bounds the guids kept for the overlap re-read.
const maxSeen = 20000

// Config configures a Provider.
type Config struct {
	// Foundation names the foundation in dedup ids and the poller's source.
	Foundation string
	// API is Cloud Controller's URL (https://api.sys.example.com).
	API string
	// MinAge is how old an event must be, by Cloud Controller's Date, to be read.
	MinAge time.Duration
	// Overlap is how far back each read starts again, for rows committed late.
	Overlap time.Duration
	// PerPage is the page size of the event lists (v3 at most 5000, v2 service events 100).
	PerPage int
	// MaxPages bounds the pages one Poll reads per stream.
	MaxPages int
	// Client makes the requests (with the credentials).
	Client *poller.Client
}

// Source is the poller source of foundation.
func Source(foundation string) string { return usage.PollerSource("cf") + "/" + foundation }

// Provider reads one foundation's usage events; it is a poller.Provider.
type Provider struct{ cfg Config }

var _ poller.Provider = (*Provider)(nil)

// New returns the provider of cfg, with defaults for what is not set.
func New(cfg Config) *Provider {
	if cfg.PerPage <= 0 {
		cfg.PerPage = 1000
	}
	if cfg.MaxPages <= 0 {
		cfg.MaxPages = 20
	}
	if cfg.Overlap <= 0 {
		cfg.Overlap = 15 * time.Minute
	}
	if cfg.Foundation == "" {
		cfg.Foundation = FoundationOf(cfg.API)
	}
	cfg.API = strings.TrimSuffix(cfg.API, "/")
	return &Provider{cfg: cfg}
}

// FoundationOf is the default foundation name: the host of the API URL.
func FoundationOf(api string) string {
	u, err := url.Parse(api)
	if err != nil || u.Hostname() == "" {
		return "default"
	}
	return u.Hostname()
}

// Initial is a state without a snapshot: the first Poll takes it (start is not used: what
// ran before the snapshot is not replayed).
func (p *Provider) Initial(time.Time) ([]byte, error) { return json.Marshal(state{}) }

// ErrMisconfigured is the error of settings that cannot work (a token without global read).
var ErrMisconfigured = errors.New("misconfigured")

// Poll reads both streams past the state.
func (p *Provider) Poll(ctx context.Context, raw []byte, now time.Time) (poller.Batch, error) {
	var st state
	if err := json.Unmarshal(raw, &st); err != nil {
		return poller.Batch{}, fmt.Errorf("cf poller state %q: %w", raw, err)
	}
	if st.Running == nil {
		st.Running = map[string]footprint{}
	}
	if st.Instances == nil {
		st.Instances = map[string]instance{}
	}
	if !st.Ready {
		return p.bootstrap(ctx, st, nil)
	}
	var (
		docs    []usage.Document
		notices []poller.Notice
		through time.Time
		changed bool
	)
	for _, services := range []bool{false, true} {
		r, err := p.readStream(ctx, &st, services)
		var gone *cursorGone
		if errors.As(err, &gone) || (err == nil && r.reseeded) {
			why := "purge and reseed: seeded events in the stream"
			if gone != nil {
				why = gone.Error()
			}
			return p.bootstrap(ctx, st, &poller.Notice{Kind: "discontinuity", Detail: why + "; reconciled against a snapshot of what runs"})
		}
		if err != nil {
			return poller.Batch{}, err
		}
		ds, ns := p.apply(&st, r.events, services)
		docs, notices = append(docs, ds...), append(notices, ns...)
		s := &st.Apps
		if services {
			s = &st.Services
		}
		if len(r.events) > 0 {
			s.advance(r.events, p.cfg.Overlap)
			changed = true
		}
		if through.IsZero() || r.through.Before(through) {
			through = r.through
		}
	}
	if !changed {
		return poller.Batch{Idle: true, Next: now.Add(time.Hour), Through: through}, nil
	}
	out, err := json.Marshal(st)
	if err != nil {
		return poller.Batch{}, err
	}
	return poller.Batch{Docs: docs, State: out, Through: through, Notices: notices}, nil
}

// read is what readStream read of one stream.
type read struct {
	events   []event   // new, mature events in stream order
	through  time.Time // how far the stream is read: Date − MinAge, or the last event's time
	reseeded bool      // seeded events of a purge-and-reseed were met
}

// cursorGone is Cloud Controller's refusal of an after_guid it no longer knows.
type cursorGone struct{ err error }

func (c *cursorGone) Error() string {
	return "the cursor is unknown to Cloud Controller: " + c.err.Error()
}
func (c *cursorGone) Unwrap() error { return c.err }

// readStream reads the mature events after the stream's anchor that were not applied yet.
func (p *Provider) readStream(ctx context.Context, st *state, services bool) (read, error) {
	s := &st.Apps
	if services {
		s = &st.Services
	}
	seenSet := s.seenSet()
	var r read
	full := false
	for page := 1; page <= p.cfg.MaxPages; page++ {
		u := p.eventsURL(st.API, services, s.Anchor, page)
		ans, err := p.cfg.Client.Get(ctx, u, http.Header{"Accept": {"application/json"}})
		if err != nil {
			var se *poller.StatusError
			if errors.As(err, &se) && s.Anchor != "" && (se.Status == http.StatusUnprocessableEntity ||
				(se.Status == http.StatusBadRequest && strings.Contains(string(se.Body), "10005"))) {
				return r, &cursorGone{err: err}
			}
			return r, err
		}
		cut, err := p.matureBefore(ans.Header)
		if err != nil {
			return r, err
		}
		r.through = cut
		decode := decodeV3
		if st.API == "v2" {
			decode = decodeV2
		}
		evs, more, err := decode(ans.Body, services)
		if err != nil {
			return r, &poller.DecodeError{Request: "GET " + u, Payload: ans.Body, Err: err}
		}
		young := false
		for _, e := range evs {
			if e.at.After(cut) {
				young = true
				break
			}
			if seenSet[e.guid] {
				continue
			}
			if e.seeded() && e.state != "BUILDPACK_SET" && len(st.Running)+len(st.Instances) > 0 {
				r.reseeded = true
				return r, nil
			}
			seenSet[e.guid] = true
			r.events = append(r.events, e)
		}
		if young || !more || len(evs) == 0 {
			return r, nil
		}
		full = page == p.cfg.MaxPages
	}
	// The page budget ended inside the stream: the last second's events wait for the next
	// Poll, so that a fold never splits a second differently when read again.
	if full && len(r.events) > 0 {
		last := r.events[len(r.events)-1].at
		i := len(r.events)
		for i > 0 && r.events[i-1].at.Equal(last) {
			i--
		}
		if i > 0 {
			r.events = r.events[:i]
		}
		r.through = r.events[len(r.events)-1].at
	}
	return r, nil
}

func (p *Provider) eventsURL(api string, services bool, after string, page int) string {
	kind := "app_usage_events"
	if services {
		kind = "service_usage_events"
	}
	q := url.Values{}
	if after != "" {
		q.Set("after_guid", after)
	}
	if api == "v2" {
		q.Set("results-per-page", strconv.Itoa(min(p.cfg.PerPage, v2Max(services))))
		q.Set("order-direction", "asc")
		q.Set("page", strconv.Itoa(page))
		return p.cfg.API + "/v2/" + kind + "?" + q.Encode()
	}
	q.Set("per_page", strconv.Itoa(min(p.cfg.PerPage, 5000)))
	q.Set("page", strconv.Itoa(page))
	return p.cfg.API + "/v3/" + kind + "?" + q.Encode()
}

func v2Max(services bool) int {
	if services {
		return 100
	}
	return 10000
}

// matureBefore is the newest created_at that may be read: Cloud Controller's Date less
// MinAge (our own clock is not Cloud Controller's).
func (p *Provider) matureBefore(h http.Header) (time.Time, error) {
	d, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return time.Time{}, &poller.ProviderError{Msg: fmt.Sprintf("cloud controller answered without a Date header (%q): the minimum age of events cannot be told", h.Get("Date"))}
	}
	return d.UTC().Add(-p.cfg.MinAge), nil
}
