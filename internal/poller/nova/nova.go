// Package nova is the poller of OpenStack Nova's os-simple-tenant-usage API (seed 002): it
// reads every tenant's usage, one closed window (an hour by default) at a time, and turns
// each server's share of the window into one usage document of resource openstack-compute,
// plan = the server's flavor, organization = the tenant (project). docs/pollers.md tells the
// mapping and the guarantees.
//
// What it relies on and checks:
//   - Microversion 2.40 or later, asked for in every request and checked in every answer:
//     older microversions silently cut the list at the cloud's max_limit (1000 servers).
//   - All tenants, detailed=1, limit/marker paging: a window is read to its last page before
//     anything is built from it, and a tenant spread over pages is stitched from its servers;
//     Nova's per-page totals are only checked (a notice when they do not add up).
//   - Only closed windows: [H, H+W) is read once the clock has passed H+W plus the poll lag,
//     and an answer whose stop is before H+W (Nova's clock behind) is not used.
//   - Exact quantities: seconds recomputed as decimals from started_at and ended_at
//     (microseconds) clipped to the window, never Nova's float hours, which are only compared
//     (a notice when they differ by more than a millisecond's worth of hours).
//   - A marker Nova no longer knows (400: the server was archived while the window was read)
//     restarts the window from its first page.
//   - A server seen in the previous window, not ended, and absent from this one vanished
//     before its last window was read (archived or purged): a notice, never silence.
package nova

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/usage"
)

// Resource is the resource id of the documents: its type has the built-in plans.
const Resource = "openstack-compute"

// The measures of a document: seconds of the window the server existed, times its vCPUs, its
// memory (MB) and its local disk (GB: root plus ephemeral, as Nova counts it).
const (
	InstanceSeconds = "instance_seconds"
	VCPUSeconds     = "vcpu_seconds"
	MemoryMBSeconds = "memory_mb_seconds"
	LocalGBSeconds  = "local_gb_seconds"
)

// MinMicroversion is the oldest compute microversion that pages os-simple-tenant-usage.
const MinMicroversion = 40

// maxRestarts bounds how often one Poll starts a window again after an unknown marker.
const maxRestarts = 3

// Config configures a Provider.
type Config struct {
	// Cloud names the cloud in dedup ids (and, through Source, the poller's state).
	Cloud string
	// Window is the length of the windows read; it divides a day.
	Window time.Duration
	// Lag is how long a closed window waits before it is read.
	Lag time.Duration
	// PageLimit is the limit of each page.
	PageLimit int
	// Endpoint returns the compute endpoint (".../v2.1"): fixed, or from Keystone's catalog.
	Endpoint func(ctx context.Context) (string, error)
	// Client makes the requests (with the credentials).
	Client *poller.Client
}

// Source is the poller source of cloud: the source of its events and the key of its state.
func Source(cloud string) string { return usage.PollerSource("nova") + "/" + cloud }

// Provider reads one cloud's os-simple-tenant-usage; it is a poller.Provider.
type Provider struct {
	cfg Config
	// partial is the window being read when a page failed: the next Poll of the same window
	// goes on from the failed page rather than from the first, so that faults spread over a
	// window's many pages (429s, 5xx, timeouts) do not make it unreadable. Nothing is built
	// from it before its last page is read.
	partial *window
}

var _ poller.Provider = (*Provider)(nil)

// New returns the provider of cfg.
func New(cfg Config) *Provider { return &Provider{cfg: cfg} }

// state is what the poller keeps between windows (JSON in the state topic).
type state struct {
	// Next is the start of the next window to read.
	Next time.Time `json:"next"`
	// Servers are the servers seen in the last window read that had not ended by its end:
	// each must be in the next window too.
	Servers map[string]tracked `json:"servers,omitempty"`
}

type tracked struct {
	Tenant string `json:"tenant"`
	Flavor string `json:"flavor"`
}

// Initial starts at the first window that begins at or after start.
func (p *Provider) Initial(start time.Time) ([]byte, error) {
	first := start.UTC().Truncate(p.cfg.Window)
	if first.Before(start) {
		first = first.Add(p.cfg.Window)
	}
	return json.Marshal(state{Next: first})
}

// Poll reads the next window once it is closed and its lag has passed.
func (p *Provider) Poll(ctx context.Context, raw []byte, now time.Time) (poller.Batch, error) {
	var st state
	if err := json.Unmarshal(raw, &st); err != nil {
		return poller.Batch{}, fmt.Errorf("nova poller state %q: %w", raw, err)
	}
	from, to := st.Next.UTC(), st.Next.UTC().Add(p.cfg.Window)
	if due := to.Add(p.cfg.Lag); now.Before(due) {
		return poller.Batch{Idle: true, Next: due, Through: from}, nil
	}
	var (
		w        window
		err      error
		notices  []poller.Notice
		restarts int
	)
	for {
		w, err = p.read(ctx, from, to)
		var se *poller.StatusError
		if errors.As(err, &se) && se.Status == http.StatusBadRequest && w.marker != "" && restarts < maxRestarts {
			restarts++
			p.partial = nil
			notices = append(notices, poller.Notice{Kind: "marker_restart",
				Detail: fmt.Sprintf("window %s: marker %s unknown to Nova (%v); the window is read again from its first page", from.Format(time.RFC3339), w.marker, err)})
			continue
		}
		if err != nil {
			return poller.Batch{}, err
		}
		break
	}
	docs, next, more := p.build(st, w, from, to)
	out, err := json.Marshal(next)
	if err != nil {
		return poller.Batch{}, err
	}
	return poller.Batch{Docs: docs, State: out, Through: to, Notices: append(notices, more...)}, nil
}

// serverUsage is one entry of server_usages. Numbers stay json.Number: hours are only
// compared, and the integers are read exactly.
type serverUsage struct {
	InstanceID string      `json:"instance_id"`
	Name       string      `json:"name"`
	TenantID   string      `json:"tenant_id"`
	Flavor     string      `json:"flavor"`
	Hours      json.Number `json:"hours"`
	VCPUs      json.Number `json:"vcpus"`
	MemoryMB   json.Number `json:"memory_mb"`
	LocalGB    json.Number `json:"local_gb"`
	StartedAt  string      `json:"started_at"`
	EndedAt    *string     `json:"ended_at"`
	State      string      `json:"state"`
}

type tenantUsage struct {
	TenantID     string        `json:"tenant_id"`
	Start        string        `json:"start"`
	Stop         string        `json:"stop"`
	TotalHours   json.Number   `json:"total_hours"`
	ServerUsages []serverUsage `json:"server_usages"`
}

type page struct {
	TenantUsages []tenantUsage `json:"tenant_usages"`
	Links        []struct {
		Href string `json:"href"`
		Rel  string `json:"rel"`
	} `json:"tenant_usages_links"`
}

// server is a server's usage in a window, decoded and checked.
type server struct {
	id, name, tenant, flavor string
	vcpus, memoryMB, localGB decimal.Decimal
	started                  time.Time
	ended                    *time.Time
	hours                    decimal.Decimal // Nova's
}

// window is a window read to its last page, or to the page that failed.
type window struct {
	from    time.Time
	servers []server
	seen    map[string]bool
	// totals are Nova's total_hours per tenant, summed over the pages.
	totals map[string]decimal.Decimal
	marker string // the marker of the next page to read (of the request that failed)
}

// read reads every page of [from, to), going on from the partial read of the same window.
func (p *Provider) read(ctx context.Context, from, to time.Time) (window, error) {
	base, err := p.cfg.Endpoint(ctx)
	if err != nil {
		return window{}, err
	}
	w := window{from: from, totals: map[string]decimal.Decimal{}, seen: map[string]bool{}}
	if p.partial != nil && p.partial.from.Equal(from) {
		w = *p.partial
	}
	p.partial = nil
	seen := w.seen
	header := http.Header{
		"Openstack-Api-Version":        {fmt.Sprintf("compute 2.%d", MinMicroversion)},
		"X-Openstack-Nova-Api-Version": {fmt.Sprintf("2.%d", MinMicroversion)},
		"Accept":                       {"application/json"},
	}
	marker := w.marker
	for {
		q := url.Values{"start": {novaTime(from)}, "end": {novaTime(to)}, "detailed": {"1"}, "limit": {strconv.Itoa(p.cfg.PageLimit)}}
		if marker != "" {
			q.Set("marker", marker)
		}
		u := strings.TrimSuffix(base, "/") + "/os-simple-tenant-usage?" + q.Encode()
		ans, err := p.cfg.Client.Get(ctx, u, header)
		if err != nil {
			w.marker = marker
			if poller.KindOf(err) != poller.KindClient {
				p.partial = &w // a transient failure: the next Poll goes on from this page
			}
			return w, err
		}
		if err := checkMicroversion(ans.Header); err != nil {
			return w, err
		}
		var pg page
		dec := json.NewDecoder(bytes.NewReader(ans.Body))
		dec.UseNumber()
		if err := dec.Decode(&pg); err != nil {
			return w, &poller.DecodeError{Request: "GET " + u, Payload: ans.Body, Err: err}
		}
		if pg.TenantUsages == nil {
			return w, &poller.DecodeError{Request: "GET " + u, Payload: ans.Body, Err: errors.New("no tenant_usages")}
		}
		last := ""
		for _, tu := range pg.TenantUsages {
			if stop, err := parseTime(tu.Stop); err != nil || stop.Before(to) {
				return w, &poller.ProviderError{Msg: fmt.Sprintf("nova answered window %s–%s with stop %q: its clock has not passed the window's end yet",
					novaTime(from), novaTime(to), tu.Stop)}
			}
			th, err := number(tu.TotalHours)
			if err != nil {
				return w, &poller.DecodeError{Request: "GET " + u, Payload: ans.Body, Err: fmt.Errorf("tenant %s: total_hours: %w", tu.TenantID, err)}
			}
			w.totals[tu.TenantID] = w.totals[tu.TenantID].Add(th)
			for _, su := range tu.ServerUsages {
				s, err := decodeServer(su, tu.TenantID)
				if err != nil {
					return w, &poller.DecodeError{Request: "GET " + u, Payload: ans.Body, Err: err}
				}
				last = s.id
				if seen[s.id] {
					continue // paging never repeats a server; if it did, the first copy counts
				}
				seen[s.id] = true
				w.servers = append(w.servers, s)
			}
		}
		next := nextMarker(pg.Links)
		if next == "" {
			return w, nil
		}
		if next == marker || last == "" {
			return w, &poller.DecodeError{Request: "GET " + u, Payload: ans.Body, Err: fmt.Errorf("the next link repeats marker %q", next)}
		}
		marker = next
	}
}

// build makes the documents of a window and the state past it.
func (p *Provider) build(st state, w window, from, to time.Time) ([]usage.Document, state, []poller.Notice) {
	var notices []poller.Notice
	next := state{Next: to, Servers: map[string]tracked{}}
	present := map[string]bool{}
	sums := map[string]decimal.Decimal{}
	slices.SortFunc(w.servers, func(a, b server) int {
		return strings.Compare(a.tenant+"\x00"+a.id, b.tenant+"\x00"+b.id)
	})
	var docs []usage.Document
	hour := decimal.NewFromInt(3600)
	for _, s := range w.servers {
		present[s.id] = true
		if old, ok := st.Servers[s.id]; ok && old.Flavor != s.flavor {
			notices = append(notices, poller.Notice{Kind: "flavor_changed", Detail: fmt.Sprintf("server %s: flavor %s, %s in the window before (Nova reports the current flavor for the whole life)", s.id, s.flavor, old.Flavor)})
		}
		if s.ended == nil || s.ended.After(to) {
			next.Servers[s.id] = tracked{Tenant: s.tenant, Flavor: s.flavor}
		}
		start, end := later(s.started, from), to
		if s.ended != nil && s.ended.Before(end) {
			end = *s.ended
		}
		secs := decimal.Zero
		if end.After(start) {
			secs = decimal.New(end.Sub(start).Microseconds(), -6)
		}
		sums[s.tenant] = sums[s.tenant].Add(s.hours)
		if diff := secs.Div(hour).Sub(s.hours).Abs(); diff.GreaterThan(decimal.New(1, -6)) {
			notices = append(notices, poller.Notice{Kind: "hours_mismatch", Detail: fmt.Sprintf("server %s in window %s: Nova says %s hours, started_at and ended_at give %s seconds",
				s.id, from.Format(time.RFC3339), s.hours, secs)})
		}
		if !secs.IsPositive() {
			continue
		}
		docs = append(docs, usage.Document{
			Start:              start.UnixMilli(),
			End:                to.UnixMilli() - 1,
			OrganizationID:     s.tenant,
			SpaceID:            s.tenant,
			ResourceID:         Resource,
			PlanID:             s.flavor,
			ResourceInstanceID: s.id,
			DedupID:            fmt.Sprintf("nova:%s:%s:%s", p.cfg.Cloud, s.id, from.Format(time.RFC3339)),
			MeasuredUsage: []usage.Measure{
				{Measure: InstanceSeconds, Quantity: secs},
				{Measure: VCPUSeconds, Quantity: secs.Mul(s.vcpus)},
				{Measure: MemoryMBSeconds, Quantity: secs.Mul(s.memoryMB)},
				{Measure: LocalGBSeconds, Quantity: secs.Mul(s.localGB)},
			},
		})
	}
	for _, tenant := range sortedKeys(w.totals) {
		if d := w.totals[tenant].Sub(sums[tenant]).Abs(); d.GreaterThan(decimal.New(1, -6)) {
			notices = append(notices, poller.Notice{Kind: "totals_mismatch", Detail: fmt.Sprintf("tenant %s in window %s: total_hours over the pages %s, its servers' hours %s",
				tenant, from.Format(time.RFC3339), w.totals[tenant], sums[tenant])})
		}
	}
	for _, id := range sortedKeys(st.Servers) {
		if !present[id] {
			notices = append(notices, poller.Notice{Kind: "server_vanished", Detail: fmt.Sprintf("server %s of tenant %s (flavor %s) ran until the window before %s and is gone from it: archived or purged before its last window was read; its usage from then on is unknown",
				id, st.Servers[id].Tenant, st.Servers[id].Flavor, from.Format(time.RFC3339))})
		}
	}
	if len(next.Servers) == 0 {
		next.Servers = nil
	}
	return docs, next, notices
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// decodeServer checks an entry of server_usages.
func decodeServer(su serverUsage, tenant string) (server, error) {
	s := server{id: su.InstanceID, name: su.Name, tenant: su.TenantID, flavor: su.Flavor}
	var errs []error
	if s.id == "" {
		errs = append(errs, errors.New("a server without instance_id"))
	}
	if s.tenant == "" {
		s.tenant = tenant
	}
	var err error
	for _, f := range []struct {
		name string
		n    json.Number
		into *decimal.Decimal
	}{{"vcpus", su.VCPUs, &s.vcpus}, {"memory_mb", su.MemoryMB, &s.memoryMB}, {"local_gb", su.LocalGB, &s.localGB}, {"hours", su.Hours, &s.hours}} {
		if *f.into, err = number(f.n); err != nil || f.into.IsNegative() {
			errs = append(errs, fmt.Errorf("server %s: %s %q is not a number at least 0", s.id, f.name, f.n))
		}
	}
	if s.started, err = parseTime(su.StartedAt); err != nil {
		errs = append(errs, fmt.Errorf("server %s: started_at: %w", s.id, err))
	}
	if su.EndedAt != nil {
		e, err := parseTime(*su.EndedAt)
		if err != nil {
			errs = append(errs, fmt.Errorf("server %s: ended_at: %w", s.id, err))
		}
		s.ended = &e
	}
	return s, errors.Join(errs...)
}

func number(n json.Number) (decimal.Decimal, error) {
	if n == "" {
		return decimal.Zero, errors.New("missing")
	}
	return decimal.NewFromString(n.String())
}

// checkMicroversion refuses an answer given at a microversion older than 2.40.
func checkMicroversion(h http.Header) error {
	v := h.Get("Openstack-Api-Version")
	if v == "" {
		v = "compute " + h.Get("X-Openstack-Nova-Api-Version")
	}
	ver := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), "compute"))
	major, minor, ok := strings.Cut(ver, ".")
	n, err := strconv.Atoi(minor)
	if !ok || major != "2" || err != nil || n < MinMicroversion {
		return &poller.ProviderError{Msg: fmt.Sprintf("nova answered at microversion %q; the poller needs 2.%d or later (older ones cut the list at max_limit without saying so)",
			ver, MinMicroversion)}
	}
	return nil
}

// nextMarker returns the marker of the rel=next link, "" when there is none.
func nextMarker(links []struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}) string {
	for _, l := range links {
		if l.Rel != "next" {
			continue
		}
		u, err := url.Parse(l.Href)
		if err != nil {
			return ""
		}
		return u.Query().Get("marker")
	}
	return ""
}

// novaTime formats t as Nova's start and end parameters want it: UTC, no zone.
func novaTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000") }

// parseTime reads Nova's times: ISO 8601 with a 'T' or a space, optional fraction and an
// optional zone (UTC when none).
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", time.RFC3339Nano, "2006-01-02T15:04:05.999999999-07:00"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time", s)
}
