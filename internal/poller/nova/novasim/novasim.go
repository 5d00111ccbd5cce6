// Package novasim is a simulated OpenStack cloud for the Nova poller's tests and for
// `meterline dev`: a real HTTP server that plays a scripted fleet (servers launched, resized,
// terminated, archived) on an injected clock and answers Nova's os-simple-tenant-usage as
// Nova does (the shapes of the recorded answers in testdata/, from openstack/nova's API
// samples), with a Keystone v3 token endpoint whose tokens expire, and faults on demand:
// 429 with Retry-After, 5xx, slow answers, a marker it no longer knows, and 401 once a token
// has expired.
//
// What it reproduces of Nova (nova/api/openstack/compute/simple_tenant_usage.py): a server is
// listed in [start, end) when it was launched before end and not terminated by start; end is
// clipped to the present; hours are a float of the clipped seconds; the flavor is the current
// one for the whole life; below microversion 2.40 the list is cut at max_limit (1000) without
// a link; from 2.40 limit and marker page it, a full page carrying a next link whose marker is
// the last server's uuid, and an unknown marker is a 400.
package novasim

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meterline/meterline/internal/platform/clock"
)

// Flavor is a server size.
type Flavor struct {
	Name     string `json:"name"`
	VCPUs    int    `json:"vcpus"`
	MemoryMB int    `json:"memory_mb"`
	DiskGB   int    `json:"disk_gb"` // root plus ephemeral
}

// Server is one server of the fleet and its life.
type Server struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Tenant     string     `json:"tenant_id"`
	Flavor     string     `json:"flavor"`
	Launched   time.Time  `json:"launched_at"`
	Terminated *time.Time `json:"terminated_at,omitempty"`
	// Resizes change the flavor at their times; Nova then reports the new flavor for the
	// server's whole life.
	Resizes []Resize `json:"resizes,omitempty"`
	// Archived, when set, is when its database row is archived: from then on it is listed in
	// no window (nova-manage db archive_deleted_rows).
	Archived *time.Time `json:"archived_at,omitempty"`
}

// Resize is a flavor change.
type Resize struct {
	At     time.Time `json:"at"`
	Flavor string    `json:"flavor"`
}

// Faults are the failures the simulator injects, counted over the usage requests (the n-th
// request from 1): every RateLimitEvery-th is a 429 with Retry-After RetryAfter seconds, every
// ServerErrorEvery-th a 500, every SlowEvery-th waits Slow first, every UnknownMarkerEvery-th
// request with a marker a 400 for it. Tokens expire TokenTTL after they are issued (0: never).
type Faults struct {
	RateLimitEvery     int      `json:"rate_limit_every,omitempty"`
	RetryAfter         int      `json:"retry_after,omitempty"`
	ServerErrorEvery   int      `json:"server_error_every,omitempty"`
	SlowEvery          int      `json:"slow_every,omitempty"`
	Slow               Duration `json:"slow,omitempty"`
	UnknownMarkerEvery int      `json:"unknown_marker_every,omitempty"`
	TokenTTL           Duration `json:"token_ttl,omitempty"`
}

// Duration is a time.Duration written as "1.5s" in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "1.5s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// Script is a fleet and its faults: the simulator's whole input.
type Script struct {
	Flavors []Flavor `json:"flavors"`
	Servers []Server `json:"servers"`
	Faults  Faults   `json:"faults"`
	// Users are the Keystone credentials accepted ("name" → "password"); none accepts any.
	Users map[string]string `json:"users,omitempty"`
	// Projects are the project ids a token may be scoped to; none accepts any.
	Projects []string `json:"projects,omitempty"`
}

// Flavor returns the flavor named name.
func (s *Script) Flavor(name string) (Flavor, bool) {
	i := slices.IndexFunc(s.Flavors, func(f Flavor) bool { return f.Name == name })
	if i < 0 {
		return Flavor{}, false
	}
	return s.Flavors[i], true
}

// FlavorAt returns the server's flavor as Nova reports it at now: the last resize done by then.
func (sv *Server) FlavorAt(now time.Time) string {
	f := sv.Flavor
	for _, r := range sv.Resizes {
		if !r.At.After(now) {
			f = r.Flavor
		}
	}
	return f
}

// maxLimit is Nova's [api] max_limit: the page size without a limit, and the silent cut
// below microversion 2.40.
const maxLimit = 1000

// Sim is the simulator. It is safe for concurrent use.
type Sim struct {
	clock clock.Clock

	mu       sync.Mutex
	script   Script
	requests int // usage requests so far
	tokens   map[string]time.Time
	issued   int
	base     string // the URL the simulator is reached at, for the catalog and links
}

// New returns a simulator of script on clk.
func New(script Script, clk clock.Clock) *Sim {
	return &Sim{script: script, clock: clock.Or(clk), tokens: map[string]time.Time{}}
}

// SetFaults replaces the faults (faults on demand; also POST /sim/faults).
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script.Faults = f
}

// Handler serves the simulator under base (its URL as clients reach it, no trailing slash):
// /identity/v3/auth/tokens, /compute/v2.1/os-simple-tenant-usage and POST /sim/faults.
func (s *Sim) Handler(base string) http.Handler {
	s.mu.Lock()
	s.base = strings.TrimSuffix(base, "/")
	s.mu.Unlock()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /identity/v3/auth/tokens", s.authTokens)
	mux.HandleFunc("GET /compute/v2.1/os-simple-tenant-usage", s.usage)
	mux.HandleFunc("POST /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			fault(w, http.StatusBadRequest, "badRequest", err.Error())
			return
		}
		s.SetFaults(f)
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// ComputeURL is the compute endpoint under base.
func ComputeURL(base string) string { return strings.TrimSuffix(base, "/") + "/compute/v2.1" }

// AuthURL is the Keystone v3 endpoint under base.
func AuthURL(base string) string { return strings.TrimSuffix(base, "/") + "/identity/v3" }

func (s *Sim) issue() string {
	s.issued++
	tok := fmt.Sprintf("gAAAAA-sim-token-%d", s.issued)
	exp := time.Time{}
	if ttl := time.Duration(s.script.Faults.TokenTTL); ttl > 0 {
		exp = s.clock.Now().Add(ttl)
	}
	s.tokens[tok] = exp
	return tok
}

func (s *Sim) authTokens(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Auth struct {
			Identity struct {
				Methods  []string `json:"methods"`
				Password struct {
					User struct {
						Name     string `json:"name"`
						ID       string `json:"id"`
						Password string `json:"password"`
					} `json:"user"`
				} `json:"password"`
				ApplicationCredential struct {
					ID     string `json:"id"`
					Secret string `json:"secret"`
				} `json:"application_credential"`
			} `json:"identity"`
			Scope struct {
				Project struct {
					ID   string `json:"id"`
					Name string `json:"name"`
				} `json:"project"`
			} `json:"scope"`
		} `json:"auth"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fault(w, http.StatusBadRequest, "error", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := req.Auth.Identity
	user, secret := id.Password.User.Name+id.Password.User.ID, id.Password.User.Password
	if slices.Contains(id.Methods, "application_credential") {
		user, secret = id.ApplicationCredential.ID, id.ApplicationCredential.Secret
	}
	if want, ok := s.script.Users[user]; len(s.script.Users) > 0 && (!ok || want != secret) {
		fault(w, http.StatusUnauthorized, "error", "The request you have made requires authentication.")
		return
	}
	project := req.Auth.Scope.Project.ID + req.Auth.Scope.Project.Name
	if len(s.script.Projects) > 0 && !slices.Contains(s.script.Projects, project) {
		fault(w, http.StatusUnauthorized, "error", "unknown project "+project)
		return
	}
	tok := s.issue()
	now := s.clock.Now().UTC()
	exp := s.tokens[tok]
	if exp.IsZero() {
		exp = now.Add(24 * time.Hour)
	}
	w.Header().Set("X-Subject-Token", tok)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"token": map[string]any{
		"methods":    id.Methods,
		"expires_at": exp.Format("2006-01-02T15:04:05.000000Z"),
		"issued_at":  now.Format("2006-01-02T15:04:05.000000Z"),
		"project":    map[string]any{"id": project, "name": project, "domain": map[string]any{"id": "default", "name": "Default"}},
		"roles":      []map[string]any{{"id": "r1", "name": "reader"}},
		"catalog": []map[string]any{{
			"type": "compute", "name": "nova", "id": "c1",
			"endpoints": []map[string]any{{"id": "e1", "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": ComputeURL(s.base)}},
		}},
	}})
}

// fault writes a Nova-style error body.
func fault(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{kind: map[string]any{"code": status, "message": msg}})
}

// every reports whether the n-th request is one of every k-th.
func every(n, k int) bool { return k > 0 && n%k == 0 }

func (s *Sim) usage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	n, f := s.requests, s.script.Faults
	exp, known := s.tokens[r.Header.Get("X-Auth-Token")]
	now := s.clock.Now().UTC()
	s.mu.Unlock()
	if every(n, f.SlowEvery) {
		select {
		case <-time.After(time.Duration(f.Slow)):
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case !known || (!exp.IsZero() && !now.Before(exp)):
		fault(w, http.StatusUnauthorized, "error", "The request you have made requires authentication.")
		return
	case every(n, f.RateLimitEvery):
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		fault(w, http.StatusTooManyRequests, "overLimit", "This request was rate-limited.")
		return
	case every(n, f.ServerErrorEvery):
		fault(w, http.StatusInternalServerError, "computeFault", "Unexpected API Error.")
		return
	}
	q := r.URL.Query()
	minor := microversion(r.Header)
	if minor < 0 {
		fault(w, http.StatusNotAcceptable, "computeFault", "Version not supported")
		return
	}
	start, err1 := parseNovaTime(q.Get("start"))
	end, err2 := parseNovaTime(q.Get("end"))
	if err1 != nil || err2 != nil {
		fault(w, http.StatusBadRequest, "badRequest", "Invalid start time or end time.")
		return
	}
	if end.After(now) {
		end = now // Nova clips the end to the present
	}
	if !start.Before(end) {
		fault(w, http.StatusBadRequest, "badRequest", "Invalid start time. The start time cannot occur after the end time.")
		return
	}
	limit, marker := maxLimit, ""
	if minor >= 40 {
		if v := q.Get("limit"); v != "" {
			l, err := strconv.Atoi(v)
			if err != nil || l < 0 {
				fault(w, http.StatusBadRequest, "badRequest", "Invalid input for query parameters limit.")
				return
			}
			limit = min(l, maxLimit)
		}
		marker = q.Get("marker")
	}
	s.mu.Lock()
	list := s.listed(start, end, now)
	s.mu.Unlock()
	from := 0
	if marker != "" {
		i := slices.IndexFunc(list, func(sv Server) bool { return sv.ID == marker })
		if i < 0 || every(n, f.UnknownMarkerEvery) {
			fault(w, http.StatusBadRequest, "badRequest", fmt.Sprintf("marker [%s] not found", marker))
			return
		}
		from = i + 1
	}
	pageOf := list[from:min(len(list), from+limit)]
	body := s.render(pageOf, start, end, now, q.Get("detailed") == "1")
	if minor >= 40 && len(pageOf) == limit && limit > 0 {
		next := url.Values{"start": {q.Get("start")}, "end": {q.Get("end")}, "limit": {strconv.Itoa(limit)}, "marker": {pageOf[len(pageOf)-1].ID}}
		if q.Get("detailed") != "" {
			next.Set("detailed", q.Get("detailed"))
		}
		body["tenant_usages_links"] = []map[string]string{{"href": ComputeURL(s.base) + "/os-simple-tenant-usage?" + next.Encode(), "rel": "next"}}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("OpenStack-API-Version", fmt.Sprintf("compute 2.%d", minor))
	w.Header().Set("X-OpenStack-Nova-API-Version", fmt.Sprintf("2.%d", minor))
	w.Header().Set("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version")
	_ = json.NewEncoder(w).Encode(body)
}

// microversion reads the requested compute microversion: 1 (2.1) when none, -1 when it is
// beyond what the simulator serves (2.96).
func microversion(h http.Header) int {
	v := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(h.Get("OpenStack-API-Version")), "compute"))
	if v == "" {
		v = strings.TrimSpace(h.Get("X-OpenStack-Nova-API-Version"))
	}
	if v == "" {
		return 1
	}
	if v == "latest" {
		return 96
	}
	major, minor, ok := strings.Cut(v, ".")
	m, err := strconv.Atoi(minor)
	if !ok || major != "2" || err != nil || m < 1 || m > 96 {
		return -1
	}
	return m
}

// listed returns the servers Nova lists for [start, end) at now, in its order (by launch,
// then uuid).
func (s *Sim) listed(start, end, now time.Time) []Server {
	var out []Server
	for _, sv := range s.script.Servers {
		if sv.Launched.After(now) || !sv.Launched.Before(end) {
			continue
		}
		if sv.Terminated != nil && !sv.Terminated.After(start) {
			continue
		}
		if sv.Archived != nil && !sv.Archived.After(now) {
			continue
		}
		out = append(out, sv)
	}
	slices.SortFunc(out, func(a, b Server) int {
		if c := a.Launched.Compare(b.Launched); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// render writes a page as Nova does: tenants in the order of their first server, with the
// totals of the page.
func (s *Sim) render(list []Server, start, end, now time.Time, detailed bool) map[string]any {
	type tenant struct {
		id                   string
		hours, gb, mb, vcpus float64
		servers              []map[string]any
	}
	var tenants []*tenant
	byID := map[string]*tenant{}
	for _, sv := range list {
		t := byID[sv.Tenant]
		if t == nil {
			t = &tenant{id: sv.Tenant}
			byID[sv.Tenant] = t
			tenants = append(tenants, t)
		}
		fl, _ := s.script.Flavor(sv.FlavorAt(now))
		from, to := sv.Launched, end
		if start.After(from) {
			from = start
		}
		if sv.Terminated != nil && sv.Terminated.Before(to) {
			to = *sv.Terminated
		}
		hours := float64(to.Sub(from).Microseconds()) / 3600e6
		upTo := now
		state, ended := "active", any(nil)
		if sv.Terminated != nil && !sv.Terminated.After(now) {
			upTo, state, ended = *sv.Terminated, "terminated", novaTime(*sv.Terminated)
		}
		t.hours += hours
		t.gb += hours * float64(fl.DiskGB)
		t.mb += hours * float64(fl.MemoryMB)
		t.vcpus += hours * float64(fl.VCPUs)
		t.servers = append(t.servers, map[string]any{
			"ended_at": ended, "flavor": fl.Name, "hours": hours, "instance_id": sv.ID, "local_gb": fl.DiskGB,
			"memory_mb": fl.MemoryMB, "name": sv.Name, "started_at": novaTime(sv.Launched), "state": state,
			"tenant_id": sv.Tenant, "uptime": int64(math.Floor(upTo.Sub(sv.Launched).Seconds())), "vcpus": fl.VCPUs,
		})
	}
	out := []map[string]any{}
	for _, t := range tenants {
		tu := map[string]any{"start": novaTime(start), "stop": novaTime(end), "tenant_id": t.id, "total_hours": t.hours,
			"total_local_gb_usage": t.gb, "total_memory_mb_usage": t.mb, "total_vcpus_usage": t.vcpus}
		if detailed {
			tu["server_usages"] = t.servers
		}
		out = append(out, tu)
	}
	return map[string]any{"tenant_usages": out}
}

func novaTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000") }

func parseNovaTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05.999999", "2006-01-02 15:04:05.999999", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a Nova time", s)
}
