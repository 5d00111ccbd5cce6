// Package ebsim is a simulator of ElasticBox's reporting API for tests and demos: a real HTTP
// server that plays a scripted fleet of service instances going up and down over days and
// answers GET /services/organizations/{organization}/report/{start}/{end} (JSON) and
// .../csv/{start}/{end} (all 21 columns of the CSV header) in the shapes of the recorded
// samples (shared/upstream-samples/elasticbox), with faults on demand: 429 with Retry-After,
// 5xx, slow answers, and JSON reports that are broken on given days (so that a client falls
// back to the CSV).
package ebsim

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/poller/nova/novasim"
)

// DayLayout and TimeLayout are ElasticBox's formats of days and times (UTC).
const (
	DayLayout  = "2006-01-02"
	TimeLayout = "2006-01-02 15:04:05.000000"
)

// Script is a fleet and its faults.
type Script struct {
	// Token is the ElasticBox-Token the simulator accepts; "" accepts any.
	Token string `json:"token,omitempty"`
	// Organizations are the organizations known (also those without instances).
	Organizations []string   `json:"organizations"`
	Instances     []Instance `json:"instances"`
	Faults        Faults     `json:"faults"`
}

// Instance is a service instance of the fleet.
type Instance struct {
	ID           string     `json:"id"`
	Organization string     `json:"organization"`
	ProviderID   string     `json:"provider_id"`
	Flavor       string     `json:"flavor"`
	Location     string     `json:"location"`
	Type         string     `json:"type"`
	CPU          int64      `json:"cpu"`
	MemoryGiB    int64      `json:"memory_gib"`
	DiskGB       int64      `json:"disk_gb"`
	Created      time.Time  `json:"created"`
	Deleted      *time.Time `json:"deleted,omitempty"`
	// CentsPerHour is what an hour up costs; a day costs its up-time at that rate, in whole
	// cents rounded down (DayCost).
	CentsPerHour int64 `json:"cents_per_hour"`
	// History is the instance's states in order: each until the next one starts (or until
	// Completed, or the deletion).
	History []State `json:"state_history"`
}

// State is one entry of the state history.
type State struct {
	State     string     `json:"state"` // up or down
	Started   time.Time  `json:"started"`
	Completed *time.Time `json:"completed,omitempty"`
}

// Faults are injected by request count (every Nth request; 0 never) and by day.
type Faults struct {
	RateLimitEvery   int      `json:"rate_limit_every,omitempty"`
	RetryAfter       int      `json:"retry_after,omitempty"` // seconds
	ServerErrorEvery int      `json:"server_error_every,omitempty"`
	SlowEvery        int      `json:"slow_every,omitempty"`
	Slow             Duration `json:"slow,omitempty"`
	// BrokenJSONDays are days (YYYY-MM-DD) whose JSON reports are cut short: undecodable.
	BrokenJSONDays []string `json:"broken_json_days,omitempty"`
}

// Duration is a time.Duration written as "300ms" in a script (the Nova simulator's).
type Duration = novasim.Duration

// Sim serves a script.
type Sim struct {
	sc    Script
	clk   clock.Clock
	mu    sync.Mutex
	count int
	// Requests counts the answers by status, for tests.
	requests map[int]int
}

// New returns the simulator of sc on clk.
func New(sc Script, clk clock.Clock) *Sim {
	return &Sim{sc: sc, clk: clock.Or(clk), requests: map[int]int{}}
}

// UpSeconds returns the microsecond-exact seconds inst was up in [from, to), as of now.
func UpSeconds(inst Instance, from, to, now time.Time) time.Duration {
	var up time.Duration
	for i, h := range inst.History {
		if h.State != "up" {
			continue
		}
		a, b := h.Started, end(inst, i, now)
		a, b = maxT(a, from), minT(b, to)
		if b.After(a) {
			up += b.Sub(a)
		}
	}
	return up
}

// DayCost returns inst's cost on the day that starts at day, in cents: its up-time that day
// at CentsPerHour, rounded down.
func DayCost(inst Instance, day, now time.Time) int64 {
	up := UpSeconds(inst, day, day.AddDate(0, 0, 1), now)
	return int64(up/time.Microsecond) * inst.CentsPerHour / int64(time.Hour/time.Microsecond)
}

// end is when the i-th state of inst ended: Completed, the next state's start, the deletion
// or now.
func end(inst Instance, i int, now time.Time) time.Time {
	h := inst.History[i]
	e := now
	if h.Completed != nil {
		e = *h.Completed
	} else if i+1 < len(inst.History) {
		e = inst.History[i+1].Started
	} else if inst.Deleted != nil {
		e = *inst.Deleted
	}
	return minT(e, now)
}

func maxT(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minT(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Handler serves the API at the root of its listener.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /services/organizations/{organization}/report/{start}/{end}", func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, false)
	})
	mux.HandleFunc("GET /services/organizations/{organization}/csv/{start}/{end}", func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, true)
	})
	return mux
}

func (s *Sim) answer(w http.ResponseWriter, status int, ctype string, body []byte) {
	s.mu.Lock()
	s.requests[status]++
	s.mu.Unlock()
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Sim) fail(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"message": msg})
	s.answer(w, status, "application/json", b)
}

func (s *Sim) serve(w http.ResponseWriter, r *http.Request, asCSV bool) {
	s.mu.Lock()
	s.count++
	n := s.count
	s.mu.Unlock()
	f := s.sc.Faults
	if f.SlowEvery > 0 && n%f.SlowEvery == 0 {
		select {
		case <-time.After(time.Duration(f.Slow)):
		case <-r.Context().Done():
			return
		}
	}
	if s.sc.Token != "" && r.Header.Get("ElasticBox-Token") != s.sc.Token {
		s.fail(w, http.StatusUnauthorized, "invalid token")
		return
	}
	if f.RateLimitEvery > 0 && n%f.RateLimitEvery == 0 {
		w.Header().Set("Retry-After", strconv.Itoa(max(f.RetryAfter, 0)))
		s.fail(w, http.StatusTooManyRequests, "too many requests")
		return
	}
	if f.ServerErrorEvery > 0 && n%f.ServerErrorEvery == 0 {
		s.fail(w, http.StatusBadGateway, "upstream unavailable")
		return
	}
	org := r.PathValue("organization")
	from, err1 := time.ParseInLocation(DayLayout, r.PathValue("start"), time.UTC)
	to, err2 := time.ParseInLocation(DayLayout, r.PathValue("end"), time.UTC)
	if err1 != nil || err2 != nil || to.Before(from) {
		s.fail(w, http.StatusBadRequest, "Wrong date format: start and end are days YYYY-MM-DD, end not before start")
		return
	}
	if !slices.Contains(s.sc.Organizations, org) {
		s.fail(w, http.StatusNotFound, "Organization not found")
		return
	}
	now := s.clk.Now()
	insts := s.instances(org, from, to.AddDate(0, 0, 1))
	if asCSV {
		s.answer(w, http.StatusOK, "text/csv", CSV(insts, from, to, now))
		return
	}
	body := JSON(insts, from, to, now)
	for _, d := range f.BrokenJSONDays {
		day, err := time.ParseInLocation(DayLayout, d, time.UTC)
		if err == nil && !day.Before(from) && !day.After(to) {
			body = body[:len(body)/2]
		}
	}
	s.answer(w, http.StatusOK, "application/json", body)
}

// instances returns org's instances that existed in [from, to), by id.
func (s *Sim) instances(org string, from, to time.Time) []Instance {
	var out []Instance
	for _, in := range s.sc.Instances {
		if in.Organization == org && in.Created.Before(to) && (in.Deleted == nil || !in.Deleted.Before(from)) {
			out = append(out, in)
		}
	}
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func days(from, to time.Time) []time.Time {
	var out []time.Time
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		out = append(out, d)
	}
	return out
}

func ts(t time.Time) string { return t.UTC().Format(TimeLayout) }

// JSON is the JSON report of insts for the days from..to, as of now, in the sample's shape.
func JSON(insts []Instance, from, to, now time.Time) []byte {
	type entry struct {
		Cost    []int64        `json:"cost"`
		Service map[string]any `json:"service"`
	}
	out := struct {
		Cost []entry `json:"cost"`
	}{Cost: []entry{}}
	for _, in := range insts {
		e := entry{Service: service(in, now)}
		for _, d := range days(from, to) {
			e.Cost = append(e.Cost, DayCost(in, d, now))
		}
		out.Cost = append(out.Cost, e)
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	return b
}

func service(in Instance, now time.Time) map[string]any {
	var hist []map[string]any
	for i, h := range in.History {
		if h.Started.After(now) {
			break
		}
		st := map[string]any{"started": ts(h.Started), "state": h.State}
		if e := end(in, i, now); e.Before(now) {
			st["completed"] = ts(e)
		}
		hist = append(hist, st)
	}
	state, op := "done", "deploy"
	if in.Deleted != nil && !in.Deleted.After(now) {
		op = "terminate"
	}
	svc := map[string]any{
		"profile": map[string]any{"subnet": in.Location + "a", "cloud": "EC2", "image": "ami-a8d3d4ed", "elastic_ip": true, "instances": 1,
			"keypair": "None", "role": "None", "location": in.Location, "volumes": []any{}, "flavor": in.Flavor, "security_groups": []any{},
			"schema": "http://elasticbox.net/schemas/aws/ec2/profile"},
		"schema": "http://elasticbox.net/schemas/service", "provider_id": in.ProviderID, "tags": []any{}, "variables": []any{},
		"created": ts(in.Created), "state_history": hist, "updated": ts(in.Created), "token": "tok-" + in.ID, "state": state,
		"organization": in.Organization, "operation": op, "type": in.Type, "id": in.ID, "icon": "images/platform/linux.png",
		"machines": []any{map[string]any{"name": in.ID + "-1", "token": "m-" + in.ID, "state": "processing",
			"address": map[string]any{"public": "54.241.36.174", "private": "10.251.133.133"}, "external_id": "i-" + strings.TrimPrefix(in.ID, "eb-"),
			"schema": "http://elasticbox.net/schemas/aws/service-machine"}},
	}
	if in.Deleted != nil && !in.Deleted.After(now) {
		svc["deleted"] = ts(*in.Deleted)
	}
	return svc
}

// CSVHeader is the 21 columns of ElasticBox's CSV report.
var CSVHeader = []string{"SERVICE_ID", "DAY (in Date Range)", "SIZE", "REGION", "PROVIDER_TYPE", "PROVIDER_ID", "PROFILE_SCHEMA",
	"CREATED (UTC)", "TYPE", "COST (cents of $)", "EVENT_TYPE", "INSTANCES", "SIZE.CPU", "SIZE.MEMORY", "SIZE.DISK", "CPU UNIT",
	"MEMORY UNIT", "DISK UNIT", "ALLOCATED.CPU (Max.)", "ALLOCATED.MEMORY (Max.)", "ALLOCATED.DISK (Max.)"}

// CSV is the CSV report of insts for the days from..to, as of now: one row per instance and
// day, every column filled.
func CSV(insts []Instance, from, to, now time.Time) []byte {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write(CSVHeader)
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	for _, in := range insts {
		for _, d := range days(from, to) {
			up := UpSeconds(in, d, d.AddDate(0, 0, 1), now) > 0
			event, alloc := "down", int64(0)
			if up {
				event, alloc = "up", 1
			}
			_ = cw.Write([]string{in.ID, d.Format(DayLayout), in.Flavor, in.Location, "Amazon Web Services", in.ProviderID,
				"http://elasticbox.net/schemas/aws/ec2/profile", ts(in.Created), in.Type, i64(DayCost(in, d, now)), event, "1",
				i64(in.CPU), i64(in.MemoryGiB), i64(in.DiskGB), "vCPU", "GiB", "GB", i64(alloc * in.CPU), i64(alloc * in.MemoryGiB), i64(alloc * in.DiskGB)})
		}
	}
	cw.Flush()
	return buf.Bytes()
}

// DemoScript is a small fleet over the three days before now, for `meterline dev`.
func DemoScript(now time.Time) Script {
	d0 := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -3)
	at := func(h float64) time.Time { return d0.Add(time.Duration(h * float64(time.Hour))) }
	mk := func(id, org, flavor string, cents int64, states ...State) Instance {
		return Instance{ID: id, Organization: org, ProviderID: "5908ee9b-0c0a-4af6-8eef-2dc9f95d033a", Flavor: flavor, Location: "us-west-1",
			Type: "Linux Compute", CPU: 1, MemoryGiB: 1, DiskGB: 8, Created: states[0].Started.Add(-time.Minute), CentsPerHour: cents, History: states}
	}
	return Script{Organizations: []string{"elasticbox"}, Instances: []Instance{
		mk("eb-demo1", "elasticbox", "t1.micro", 2, State{State: "up", Started: at(1)}),
		mk("eb-demo2", "elasticbox", "m1.small", 6, State{State: "up", Started: at(5)}, State{State: "down", Started: at(30)}, State{State: "up", Started: at(50)}),
	}}
}
