// Package cfsim is a simulated Cloud Foundry foundation for the cf poller's tests and for
// `meterline dev`: a real HTTP server with a UAA token endpoint and Cloud Controller's v3 and
// v2 usage events, apps, processes, spaces and service instances (the shapes of the recorded
// answers in ../shared/upstream-samples/cf-v3 and cf-v2), playing a scripted fleet on an
// injected clock: apps started, scaled, restaged and stopped, tasks and staging, services
// created, updated (plan or name) and deleted. Faults on demand: a pruned stream (the
// cursor becomes unknown), purge and reseed, rows committed late, 429 with Retry-After, 5xx,
// slow answers, and a weak token that sees apps but an empty event list; GET /sim/stats counts
// the faults met (stats.go). It also serves the
// Usage Service's app and service usages of the same runs (usage.go), optionally skewed.
package cfsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meterline/meterline/internal/platform/clock"
)

// Action is one step of the script, played once the clock reaches At.
type Action struct {
	At time.Time `json:"at"`
	// Kind: start, scale, restage, stop (App, Process, Org, Space, MemoryMB, Instances);
	// task (App, Task, MemoryMB, Duration); staging (App, Duration); create_service,
	// update_service (Plan changes the plan, only Name renames), delete_service (Instance,
	// Plan, Name); purge (purge and reseed); prune (drop all events but the newest).
	Kind      string        `json:"kind"`
	Org       string        `json:"org,omitempty"`
	Space     string        `json:"space,omitempty"`
	App       string        `json:"app,omitempty"`
	Process   string        `json:"process,omitempty"`
	MemoryMB  int64         `json:"memory_mb,omitempty"`
	Instances int64         `json:"instances,omitempty"`
	Task      string        `json:"task,omitempty"`
	Duration  time.Duration `json:"duration,omitempty"`
	Instance  string        `json:"instance,omitempty"`
	Plan      string        `json:"plan,omitempty"`
	Name      string        `json:"name,omitempty"`
	// CommitDelay hides the action's events for this long after At, with the ids they got at
	// At: a row committed late.
	CommitDelay time.Duration `json:"commit_delay,omitempty"`
}

// Script is the fleet the simulator plays.
type Script struct {
	Actions []Action `json:"actions"`
	// V2Only answers 404 on the v3 usage events and lists, as a foundation older than CAPI
	// 1.95 (the v2 lists are served either way).
	V2Only bool `json:"v2_only,omitempty"`
	// Faults are played over the whole run (the e2e tests' script files).
	Faults EveryFaults `json:"faults,omitempty"`
	// UsageSkew lengthens every Usage Service entry of an organization (by org guid) with
	// usage in the asked period by this much (whole seconds): the Usage Service then reports
	// more than Cloud Controller's events show, as a reconciliation should notice.
	UsageSkew map[string]time.Duration `json:"usage_skew,omitempty"`
	// Metadata names the fleet's organizations, quotas and buildpacks (metadata.go).
	Metadata MetaScript `json:"metadata,omitempty"`
}

// EveryFaults are failures counted over the guarded Cloud Controller requests (the n-th from
// 1): every RateLimitEvery-th is a 429 with Retry-After: 1, every ServerErrorEvery-th a 503.
type EveryFaults struct {
	RateLimitEvery   int `json:"rate_limit_every,omitempty"`
	ServerErrorEvery int `json:"server_error_every,omitempty"`
}

// Event is a usage event in the simulator's table.
type Event struct {
	ID        int
	GUID      string
	CreatedAt time.Time
	Visible   time.Time // when its transaction committed
	Service   bool
	State     string
	PrevState string
	Org       string
	Space     string
	App       string
	Process   string
	Task      string
	MemoryMB  int64
	Instances int64
	PrevMem   int64
	PrevInst  int64
	Instance  string
	Plan      string
	Name      string
}

type process struct {
	org, space, app string
	mem, inst       int64
}

type serviceInstance struct {
	org, space, plan, name string
}

// Sim is the simulated foundation.
type Sim struct {
	clk    clock.Clock
	script Script

	mu        sync.Mutex
	played    int
	nextID    int
	events    []Event
	running   map[string]process // by process guid
	apps      map[string]process // started apps, by app guid
	spaces    map[string]string  // space → org
	instances map[string]serviceInstance
	pending   []Action       // task and staging ends
	runs      []run          // what ran, for the Usage Service (usage.go)
	open      map[string]int // the open run of each process ("p:") and service instance ("s:")

	faults   Faults
	requests int // guarded requests, for the script's EveryFaults
	tokens   map[string]bool
	tokenSeq int
	stats    Stats // the faults met (stats.go)
}

// Faults are injected on demand.
type Faults struct {
	// TooMany answers the next n requests 429 with Retry-After: 1.
	TooMany int
	// Errors answers the next n requests 503 without Retry-After.
	Errors int
	// Slow delays every answer (the clock is not moved).
	Slow time.Duration
	// ExpireTokens makes every token issued so far answer 401.
	ExpireTokens bool
}

// Client credentials the UAA endpoint accepts: Client gets global read, WeakClient sees apps
// but an empty event list (a token without admin_read_only or global_auditor).
const (
	Client     = "meterline"
	Secret     = "dev"
	WeakClient = "weak"
)

// New returns a simulator playing script on clk.
func New(script Script, clk clock.Clock) *Sim {
	slices.SortStableFunc(script.Actions, func(a, b Action) int { return a.At.Compare(b.At) })
	return &Sim{clk: clk, script: script, running: map[string]process{}, apps: map[string]process{}, spaces: map[string]string{},
		instances: map[string]serviceInstance{}, tokens: map[string]bool{}}
}

// Inject sets faults.
func (s *Sim) Inject(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	if f.ExpireTokens {
		for t := range s.tokens {
			s.tokens[t] = false
		}
		s.faults.ExpireTokens = false
	}
}

// Play adds actions to the script (played once the clock reaches them).
func (s *Sim) Play(actions ...Action) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rest := append(slices.Clone(s.script.Actions[s.played:]), actions...)
	slices.SortStableFunc(rest, func(a, b Action) int { return a.At.Compare(b.At) })
	s.script.Actions = append(s.script.Actions[:s.played], rest...)
}

// Events returns the event table as it stands (for tests).
func (s *Sim) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	return slices.Clone(s.events)
}

func guidOf(prefix string, n int) string {
	return fmt.Sprintf("%08x-5ca1-4e00-8000-%012x", crc(prefix), n)
}

func crc(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// advance plays every action due by the clock. Callers hold mu.
func (s *Sim) advance() {
	now := s.clk.Now()
	for {
		var a Action
		pi := -1
		for i, p := range s.pending {
			if !p.At.After(now) && (pi < 0 || p.At.Before(s.pending[pi].At)) {
				pi = i
			}
		}
		next := s.played < len(s.script.Actions) && !s.script.Actions[s.played].At.After(now)
		switch {
		case pi >= 0 && (!next || !s.script.Actions[s.played].At.Before(s.pending[pi].At)):
			a = s.pending[pi]
			s.pending = slices.Delete(s.pending, pi, pi+1)
		case next:
			a = s.script.Actions[s.played]
			s.played++
		default:
			return
		}
		s.do(a)
	}
}

func (s *Sim) add(a Action, e Event) {
	s.nextID++
	e.ID = s.nextID
	if e.GUID == "" {
		e.GUID = guidOf("event", e.ID)
	}
	e.CreatedAt = a.At.UTC().Truncate(time.Second)
	e.Visible = a.At.Add(a.CommitDelay)
	s.events = append(s.events, e)
}

func (s *Sim) do(a Action) {
	if a.Space != "" {
		s.spaces[a.Space] = a.Org
	}
	proc := a.Process
	if proc == "" {
		proc = a.App // the web process's guid is the app's
	}
	switch a.Kind {
	case "start", "scale":
		old, was := s.running[proc]
		p := process{org: a.Org, space: a.Space, app: a.App, mem: a.MemoryMB, inst: a.Instances}
		if was {
			p.org, p.space, p.app = old.org, old.space, old.app
			if p.mem == 0 {
				p.mem = old.mem
			}
			if p.inst == 0 {
				p.inst = old.inst
			}
		}
		s.running[proc], s.apps[p.app] = p, p
		s.spaces[p.space] = p.org
		s.add(a, Event{State: "STARTED", PrevState: stateOf(was), Org: p.org, Space: p.space, App: p.app, Process: proc,
			MemoryMB: p.mem, Instances: p.inst, PrevMem: old.mem, PrevInst: old.inst})
	case "restage":
		p, ok := s.running[proc]
		if !ok {
			return
		}
		s.stats.Restaged++
		s.add(a, Event{State: "STAGING_STARTED", Org: p.org, Space: p.space, App: p.app, MemoryMB: 1024, Instances: 1})
		s.add(a, Event{State: "STAGING_STOPPED", Org: p.org, Space: p.space, App: p.app, MemoryMB: 1024, Instances: 1})
		s.add(a, Event{State: "BUILDPACK_SET", PrevState: "STARTED", Org: p.org, Space: p.space, App: p.app, Process: proc,
			MemoryMB: p.mem, Instances: p.inst, PrevMem: p.mem, PrevInst: p.inst})
	case "stop":
		p, ok := s.running[proc]
		if !ok {
			return
		}
		delete(s.running, proc)
		delete(s.apps, p.app)
		s.add(a, Event{State: "STOPPED", PrevState: "STARTED", Org: p.org, Space: p.space, App: p.app, Process: proc,
			MemoryMB: p.mem, Instances: p.inst, PrevMem: p.mem, PrevInst: p.inst})
	case "task", "staging":
		state := "TASK_STARTED"
		mem := a.MemoryMB
		if a.Kind == "staging" {
			state, mem = "STAGING_STARTED", 1024
		}
		s.add(a, Event{State: state, Org: a.Org, Space: a.Space, App: a.App, Task: a.Task, MemoryMB: mem, Instances: 1})
		end := a
		end.Kind, end.At, end.MemoryMB, end.CommitDelay = a.Kind+"_end", a.At.Add(a.Duration), mem, 0
		s.pending = append(s.pending, end)
	case "task_end", "staging_end":
		state := "TASK_STOPPED"
		if a.Kind == "staging_end" {
			state = "STAGING_STOPPED"
		}
		s.add(a, Event{State: state, PrevState: "STARTED", Org: a.Org, Space: a.Space, App: a.App, Task: a.Task, MemoryMB: a.MemoryMB, Instances: 1})
	case "create_service":
		s.instances[a.Instance] = serviceInstance{org: a.Org, space: a.Space, plan: a.Plan, name: a.Name}
		s.add(a, Event{Service: true, State: "CREATED", Org: a.Org, Space: a.Space, Instance: a.Instance, Plan: a.Plan, Name: a.Name})
	case "update_service":
		in, ok := s.instances[a.Instance]
		if !ok {
			return
		}
		if a.Plan != "" {
			in.plan = a.Plan
		}
		if a.Name != "" {
			in.name = a.Name
		}
		s.instances[a.Instance] = in
		s.add(a, Event{Service: true, State: "UPDATED", Org: in.org, Space: in.space, Instance: a.Instance, Plan: in.plan, Name: in.name})
	case "delete_service":
		in, ok := s.instances[a.Instance]
		if !ok {
			return
		}
		delete(s.instances, a.Instance)
		s.add(a, Event{Service: true, State: "DELETED", Org: in.org, Space: in.space, Instance: a.Instance, Plan: in.plan, Name: in.name})
	case "prune":
		s.stats.Pruned++
		s.stats.FaultReads = 0
		if n := len(s.events); n > 1 {
			s.events = slices.Clone(s.events[n-1:])
		}
	case "purge":
		s.stats.Purged++
		s.stats.FaultReads = 0
		s.events = nil
		for _, guid := range sortedKeys(s.running) {
			p := s.running[guid]
			s.add(a, Event{GUID: guid, State: "STARTED", PrevState: "STARTED", Org: p.org, Space: p.space, App: p.app, Process: guid,
				MemoryMB: p.mem, Instances: p.inst, PrevMem: p.mem, PrevInst: p.inst})
		}
		for _, guid := range sortedKeys(s.instances) {
			in := s.instances[guid]
			s.add(a, Event{GUID: guid, Service: true, State: "CREATED", Org: in.org, Space: in.space, Instance: guid, Plan: in.plan, Name: in.name})
		}
	}
	s.record(a, proc)
}

func stateOf(running bool) string {
	if running {
		return "STARTED"
	}
	return "STOPPED"
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Handler serves the foundation: UAA under /uaa, the Usage Service under /app-usage, Cloud
// Controller at the root.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /uaa/oauth/token", s.token)
	for _, v := range []string{"v2", "v3"} {
		for _, kind := range []string{"app_usage_events", "service_usage_events"} {
			mux.HandleFunc("GET /"+v+"/"+kind, s.guard(s.eventsHandler(v, kind == "service_usage_events")))
		}
	}
	for _, kind := range []string{"organizations", "spaces", "apps", "processes", "service_instances"} {
		mux.HandleFunc("GET /v3/"+kind, s.guard(s.listHandler(kind)))
	}
	for _, kind := range []string{"organizations", "spaces", "apps", "service_instances"} {
		mux.HandleFunc("GET /v2/"+kind, s.guard(s.v2ListHandler(kind)))
	}
	mux.HandleFunc("GET /app-usage/organizations/{org}/app_usages", s.guard(s.usageHandler(false)))
	mux.HandleFunc("GET /app-usage/organizations/{org}/service_usages", s.guard(s.usageHandler(true)))
	mux.HandleFunc("GET /app-usage/organizations/{org}/task_usages", s.guard(s.taskHandler))
	s.metadataRoutes(mux)
	s.statsRoute(mux)
	return mux
}

// UAAURL and APIURL are the simulator's endpoints when it is served at base.
func UAAURL(base string) string { return strings.TrimSuffix(base, "/") + "/uaa" }

// APIURL is Cloud Controller's URL when the simulator is served at base.
func APIURL(base string) string { return strings.TrimSuffix(base, "/") }

func (s *Sim) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || (id != Client && id != WeakClient) || secret != Secret {
		writeJSON(w, s.clk.Now(), http.StatusUnauthorized, map[string]string{"error": "unauthorized", "error_description": "Bad credentials"})
		return
	}
	s.mu.Lock()
	s.tokenSeq++
	tok := fmt.Sprintf("%s-token-%d", id, s.tokenSeq)
	s.tokens[tok] = true
	s.mu.Unlock()
	writeJSON(w, s.clk.Now(), http.StatusOK, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": 599,
		"scope": map[bool]string{true: "cloud_controller.global_auditor", false: "cloud_controller.read"}[id == Client], "jti": tok})
}

// guard checks the token and plays the faults; it returns weak for a token without global read.
func (s *Sim) guard(h func(w http.ResponseWriter, r *http.Request, weak bool)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(strings.TrimPrefix(r.Header.Get("Authorization"), "bearer "), "Bearer ")
		s.mu.Lock()
		valid := s.tokens[tok]
		slow := s.faults.Slow
		s.requests++
		n, every := s.requests, s.script.Faults
		var status int
		switch {
		case !valid:
			status = http.StatusUnauthorized
			s.stats.Unauthorized++
		case s.faults.TooMany > 0:
			s.faults.TooMany--
			status = http.StatusTooManyRequests
			s.stats.RateLimited++
		case s.faults.Errors > 0:
			s.faults.Errors--
			status = http.StatusServiceUnavailable
			s.stats.ServerErrors++
		case every.RateLimitEvery > 0 && n%every.RateLimitEvery == 0:
			status = http.StatusTooManyRequests
			s.stats.RateLimited++
		case every.ServerErrorEvery > 0 && n%every.ServerErrorEvery == 0:
			status = http.StatusServiceUnavailable
			s.stats.ServerErrors++
		}
		s.mu.Unlock()
		if slow > 0 {
			time.Sleep(slow)
		}
		now := s.clk.Now()
		switch status {
		case http.StatusUnauthorized:
			writeJSON(w, now, status, cfError(1000, "CF-InvalidAuthToken", "Invalid Auth Token"))
			return
		case http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "1")
			writeJSON(w, now, status, cfError(10013, "CF-RateLimitExceeded", "Rate Limit Exceeded"))
			return
		case http.StatusServiceUnavailable:
			writeJSON(w, now, status, cfError(10015, "CF-ServiceUnavailable", "Service Unavailable"))
			return
		}
		h(w, r, strings.HasPrefix(tok, WeakClient+"-"))
	}
}

func cfError(code int, title, detail string) map[string]any {
	return map[string]any{"errors": []map[string]any{{"code": code, "title": title, "detail": detail}}}
}

func writeJSON(w http.ResponseWriter, now time.Time, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Sim) eventsHandler(version string, services bool) func(http.ResponseWriter, *http.Request, bool) {
	return func(w http.ResponseWriter, r *http.Request, weak bool) {
		now := s.clk.Now()
		if version == "v3" && s.script.V2Only {
			writeJSON(w, now, http.StatusNotFound, cfError(10000, "CF-NotFound", "Unknown request"))
			return
		}
		q := r.URL.Query()
		perKey, maxPer := "per_page", 5000
		if version == "v2" {
			perKey, maxPer = "results-per-page", 10000
			if services {
				maxPer = 100
			}
		}
		per, err := strconv.Atoi(q.Get(perKey))
		if q.Get(perKey) == "" {
			per, err = 50, nil
		}
		page, perr := strconv.Atoi(q.Get("page"))
		if q.Get("page") == "" {
			page, perr = 1, nil
		}
		if err != nil || per < 1 || per > maxPer || perr != nil || page < 1 {
			writeJSON(w, now, http.StatusBadRequest, cfError(10005, "CF-BadQueryParameter", "The query parameter is invalid: "+perKey+" or page"))
			return
		}
		s.mu.Lock()
		s.advance()
		s.stats.EventReads++
		if s.stats.Pruned+s.stats.Purged > 0 {
			s.stats.FaultReads++
		}
		var list []Event
		for _, e := range s.events {
			if e.Service == services && !e.Visible.After(now) {
				list = append(list, e)
			}
		}
		s.mu.Unlock()
		if weak {
			list = nil
		}
		if after := q.Get("after_guid"); after != "" {
			i := slices.IndexFunc(list, func(e Event) bool { return e.GUID == after })
			if i < 0 {
				s.mu.Lock()
				s.stats.UnknownCursor++
				s.mu.Unlock()
				if version == "v2" {
					writeJSON(w, now, http.StatusBadRequest, cfError(10005, "CF-BadQueryParameter", "The query parameter is invalid: after_guid"))
				} else {
					writeJSON(w, now, http.StatusUnprocessableEntity, map[string]any{"errors": []map[string]any{{"code": 10008, "title": "CF-UnprocessableEntity",
						"detail": "After guid filter must be a valid app usage event guid."}}})
				}
				return
			}
			list = list[i+1:]
		}
		if q.Get("order_by") == "-created_at" || q.Get("order-direction") == "desc" {
			list = slices.Clone(list)
			slices.Reverse(list)
		}
		total := len(list)
		from := min((page-1)*per, total)
		to := min(from+per, total)
		more := to < total
		if version == "v2" {
			writeJSON(w, now, http.StatusOK, v2Page(list[from:to], total, per, page, more, r.URL.Path))
			return
		}
		writeJSON(w, now, http.StatusOK, v3Page(list[from:to], total, per, page, more, r))
	}
}

func ref(guid, name string) map[string]string { return map[string]string{"guid": guid, "name": name} }

func v3Page(list []Event, total, per, page int, more bool, r *http.Request) map[string]any {
	var next any
	if more {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(page+1))
		next = map[string]string{"href": "https://api.example.org" + r.URL.Path + "?" + q.Encode()}
	}
	res := make([]map[string]any, 0, len(list))
	for _, e := range list {
		at := e.CreatedAt.Format(time.RFC3339)
		m := map[string]any{"guid": e.GUID, "created_at": at, "updated_at": at,
			"space": ref(e.Space, "space-"+e.Space), "organization": map[string]string{"guid": e.Org}}
		if e.Service {
			m["state"] = e.State
			m["service_instance"] = map[string]string{"guid": e.Instance, "name": e.Name, "type": "managed_service_instance"}
			m["service_plan"] = ref(e.Plan, "plan-"+e.Plan)
			m["service_offering"] = ref("offering-"+e.Plan, "postgres")
			m["service_broker"] = ref("broker", "broker")
		} else {
			var prev any
			if e.PrevState != "" {
				prev = e.PrevState
			}
			m["state"] = map[string]any{"current": e.State, "previous": prev}
			m["app"] = ref(e.App, "app-"+e.App)
			if e.Process != "" {
				m["process"] = map[string]string{"guid": e.Process, "type": "web"}
			} else {
				m["process"] = map[string]any{"guid": nil, "type": nil}
			}
			if e.Task != "" {
				m["task"] = ref(e.Task, "task-"+e.Task)
			} else {
				m["task"] = map[string]any{"guid": nil, "name": nil}
			}
			m["buildpack"] = ref("buildpack", "go_buildpack")
			m["memory_in_mb_per_instance"] = map[string]any{"current": e.MemoryMB, "previous": e.PrevMem}
			m["instance_count"] = map[string]any{"current": e.Instances, "previous": e.PrevInst}
		}
		res = append(res, m)
	}
	pages := (total + per - 1) / per
	return map[string]any{"pagination": map[string]any{"total_results": total, "total_pages": pages, "next": next, "previous": nil},
		"resources": res}
}

func v2Page(list []Event, total, per, page int, more bool, path string) map[string]any {
	var next any
	if more {
		next = fmt.Sprintf("%s?page=%d&results-per-page=%d", path, page+1, per)
	}
	res := make([]map[string]any, 0, len(list))
	for _, e := range list {
		md := map[string]any{"guid": e.GUID, "url": path + "/" + e.GUID, "created_at": e.CreatedAt.Format(time.RFC3339)}
		var en map[string]any
		if e.Service {
			en = map[string]any{"state": e.State, "org_guid": e.Org, "space_guid": e.Space, "space_name": "space-" + e.Space,
				"service_instance_guid": e.Instance, "service_instance_name": e.Name, "service_instance_type": "managed_service_instance",
				"service_plan_guid": e.Plan, "service_plan_name": "plan-" + e.Plan, "service_guid": "offering-" + e.Plan, "service_label": "postgres"}
		} else {
			appGUID := e.Process // v2's app_guid is the process
			if e.Task != "" || strings.HasPrefix(e.State, "STAGING") {
				appGUID = ""
			}
			en = map[string]any{"state": e.State, "previous_state": e.PrevState, "org_guid": e.Org, "space_guid": e.Space,
				"app_guid": appGUID, "parent_app_guid": e.App, "process_type": "web", "task_guid": e.Task,
				"memory_in_mb_per_instance": e.MemoryMB, "previous_memory_in_mb_per_instance": e.PrevMem,
				"instance_count": e.Instances, "previous_instance_count": e.PrevInst}
		}
		res = append(res, map[string]any{"metadata": md, "entity": en})
	}
	return map[string]any{"total_results": total, "total_pages": (total + per - 1) / per, "prev_url": nil, "next_url": next, "resources": res}
}

func (s *Sim) listHandler(kind string) func(http.ResponseWriter, *http.Request, bool) {
	return func(w http.ResponseWriter, r *http.Request, _ bool) {
		now := s.clk.Now()
		if s.script.V2Only {
			writeJSON(w, now, http.StatusNotFound, cfError(10000, "CF-NotFound", "Unknown request"))
			return
		}
		s.mu.Lock()
		s.advance()
		rel := func(name, guid string) map[string]any {
			return map[string]any{name: map[string]any{"data": map[string]string{"guid": guid}}}
		}
		var res []map[string]any
		switch kind {
		case "organizations":
			for _, g := range s.organizations() {
				if g != "" {
					res = append(res, s.organizationJSON(g))
				}
			}
		case "spaces":
			for _, g := range sortedKeys(s.spaces) {
				res = append(res, map[string]any{"guid": g, "name": "space-" + g, "relationships": rel("organization", s.spaces[g])})
			}
		case "apps":
			for _, g := range sortedKeys(s.apps) {
				res = append(res, map[string]any{"guid": g, "name": "app-" + g, "state": "STARTED", "relationships": rel("space", s.apps[g].space)})
			}
		case "processes":
			for _, g := range sortedKeys(s.running) {
				p := s.running[g]
				res = append(res, map[string]any{"guid": g, "type": "web", "instances": p.inst, "memory_in_mb": p.mem, "disk_in_mb": 1024,
					"relationships": rel("app", p.app)})
			}
		case "service_instances":
			for _, g := range sortedKeys(s.instances) {
				in := s.instances[g]
				m := rel("space", in.space)
				m["service_plan"] = map[string]any{"data": map[string]string{"guid": in.plan}}
				res = append(res, map[string]any{"guid": g, "name": in.name, "type": "managed", "relationships": m})
			}
		}
		s.mu.Unlock()
		if res == nil {
			res = []map[string]any{}
		}
		writeJSON(w, now, http.StatusOK, map[string]any{"pagination": map[string]any{"total_results": len(res), "total_pages": 1, "next": nil}, "resources": res})
	}
}
