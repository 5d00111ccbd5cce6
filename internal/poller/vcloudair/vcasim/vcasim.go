// Package vcasim is a simulated vCloud Air OnDemand for the vCloud Air poller's tests and for
// `meterline dev`: a real HTTP server that plays a scripted set of service groups, service
// instances, L2 entities (virtual data centers) and L1 entities (VMs, gateways) over hours on
// an injected clock, in the shapes of shared/upstream-samples/vcloud-air (seed 004, the
// metering.xsd's lowerCamelCase JSON), with faults on demand: 429 with Retry-After, 5xx, slow
// answers, a lastUpdateTime lagging behind the clock, and 401 once a token has expired.
//
// What it answers:
//   - POST /api/iam/login (Basic): a token in the vchs-authorization header.
//   - GET /api/billing/service-groups, /api/sc/instances.
//   - GET /api/metering/service-group/{id}/billable-costs: lastUpdateTime, the last whole hour
//     metered (less the Lag fault).
//   - GET /api/metering/service-instance/{sid}/billable-usage?start=&end=: one entity per L2
//     with its own usage plus the roll-up of its L1s; /l2/{id}/billable-usage: its L1s;
//     /l1/{id}/billable-usage: the one L1. Only hours up to lastUpdateTime are metered.
//   - GET /api/billing/service-group/{id}/billed-usage?month=&year= and billed-costs: the
//     usage of a closed billing month (from the group's anniversary day), per L1 and L2.
//   - GET /sim/stats (no token: the simulator's own, for tests): the faults injected so far
//     (Stats), so that a test can tell each fault was met.
package vcasim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/platform/clock"
)

// Script is the simulated company.
type Script struct {
	Groups    []Group    `json:"service_groups"`
	Instances []Instance `json:"service_instances"`
	Faults    Faults     `json:"faults,omitempty"`
	// Users are the accepted user names and passwords (none: any).
	Users map[string]string `json:"users,omitempty"`
	// BilledExtra, per service group id, is usage vCloud Air bills on top of what it metered
	// (a billing error the reconciliation must show): billable name to quantity per month.
	BilledExtra map[string]map[string]decimal.Decimal `json:"billed_extra,omitempty"`
	// BilledCosts, per service group id, are the cost items of every billed month (costs.go).
	BilledCosts map[string][]CostItem `json:"billed_costs,omitempty"`
}

// Group is a service group: the billing account.
type Group struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Currency string `json:"currency"`
	// Anniversary is the day of the month a billing month starts (1-28).
	Anniversary int `json:"anniversary"`
}

// Instance is a service instance of a group.
type Instance struct {
	ID    string `json:"id"`
	Group string `json:"service_group"`
	Name  string `json:"name"`
	L2s   []L2   `json:"l2"`
}

// L2 is a virtual data center; Own is usage of its own per hour (storage, IPs).
type L2 struct {
	ID  string   `json:"id"`
	Own []Usage  `json:"own,omitempty"`
	L1s []Entity `json:"l1"`
}

// Entity is an L1 entity (a VM or a gateway) and the usage it meters while it exists.
type Entity struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Type  string  `json:"type"` // vm, gateway
	Usage []Usage `json:"usage"`
}

// Usage is a billable metered per hour from From (an hour) to To (an hour, nil: on).
type Usage struct {
	Billable string          `json:"billable"`
	Unit     string          `json:"unit"`
	PerHour  decimal.Decimal `json:"per_hour"`
	Rate     decimal.Decimal `json:"rate"`
	From     time.Time       `json:"from"`
	To       *time.Time      `json:"to,omitempty"`
}

// Faults are the failures injected, counted over the API requests after login (the n-th from
// 1): every RateLimitEvery-th is a 429 with Retry-After RetryAfter seconds, every
// ServerErrorEvery-th a 503 without it, every SlowEvery-th waits Slow first. Lag holds
// lastUpdateTime back behind the clock; tokens expire after TokenUses requests (0: never).
type Faults struct {
	RateLimitEvery   int           `json:"rate_limit_every,omitempty"`
	RetryAfter       int           `json:"retry_after,omitempty"`
	ServerErrorEvery int           `json:"server_error_every,omitempty"`
	SlowEvery        int           `json:"slow_every,omitempty"`
	Slow             time.Duration `json:"slow,omitempty"`
	Lag              time.Duration `json:"lag,omitempty"`
	TokenUses        int           `json:"token_uses,omitempty"`
}

// Sim is the simulator.
type Sim struct {
	clk clock.Clock

	mu       sync.Mutex
	sc       Script
	tokens   map[string]int // uses left (-1: no limit)
	issued   int
	requests int
	logins   int
	stats    Stats
}

// Stats counts what the simulator answered: logins, API requests, and each fault injected.
type Stats struct {
	Logins       int `json:"logins"`
	Requests     int `json:"requests"`
	Unauthorized int `json:"unauthorized"` // 401s: a token expired (TokenUses) or unknown
	RateLimited  int `json:"rate_limited"` // 429s with Retry-After
	ServerErrors int `json:"server_errors"`
	Slow         int `json:"slow"`
	// Lagging counts the lastUpdateTime answers the Lag fault held back behind the last
	// whole hour.
	Lagging int `json:"lagging"`
}

// Stats returns the counts so far.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Logins, st.Requests = s.logins, s.requests
	return st
}

// New returns a simulator of sc on clk.
func New(sc Script, clk clock.Clock) *Sim {
	return &Sim{clk: clock.Or(clk), sc: sc, tokens: map[string]int{}}
}

// SetFaults changes the faults from the next request on.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sc.Faults = f
}

// Logins is how many logins succeeded.
func (s *Sim) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// ExpireTokens makes every token issued so far invalid (the next request is a 401).
func (s *Sim) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// LastUpdate is the metering watermark at now: the last whole hour, less the Lag fault.
func (s *Sim) LastUpdate(now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastUpdate(now)
}

func (s *Sim) lastUpdate(now time.Time) time.Time {
	return now.Add(-s.sc.Faults.Lag).UTC().Truncate(time.Hour)
}

// Handler serves the API.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/iam/login", s.login)
	mux.HandleFunc("GET /api/billing/service-groups", s.api(s.groups))
	mux.HandleFunc("GET /api/sc/instances", s.api(s.instances))
	mux.HandleFunc("GET /api/metering/service-group/{id}/billable-costs", s.api(s.billableCosts))
	mux.HandleFunc("GET /api/metering/service-instance/{sid}/billable-usage", s.api(s.usageOf("")))
	mux.HandleFunc("GET /api/metering/service-instance/{sid}/l2/{id}/billable-usage", s.api(s.usageOf("l2")))
	mux.HandleFunc("GET /api/metering/service-instance/{sid}/l1/{id}/billable-usage", s.api(s.usageOf("l1")))
	mux.HandleFunc("GET /api/billing/service-group/{id}/billed-usage", s.api(s.billedUsage))
	mux.HandleFunc("GET /api/billing/service-group/{id}/billed-costs", s.api(s.billedCosts))
	mux.HandleFunc("GET /sim/stats", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Stats()) })
	return mux
}

func (s *Sim) login(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	s.mu.Lock()
	defer s.mu.Unlock()
	if want, known := s.sc.Users[user]; !ok || (len(s.sc.Users) > 0 && (!known || want != pass)) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "bad credentials"})
		return
	}
	s.logins++
	w.Header().Set("vchs-authorization", s.issue())
	writeJSON(w, http.StatusCreated, map[string]any{"serviceGroupIds": map[string]any{"serviceGroupId": s.groupIDs()}})
}

// issue returns a new token; s.mu is held.
func (s *Sim) issue() string {
	s.issued++
	tok := fmt.Sprintf("vca-token-%d", s.issued)
	uses := s.sc.Faults.TokenUses
	if uses <= 0 {
		uses = -1
	}
	s.tokens[tok] = uses
	return tok
}

// IssueToken returns a new valid token (for a client given a static token).
func (s *Sim) IssueToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issue()
}

func (s *Sim) groupIDs() []string {
	ids := make([]string, len(s.sc.Groups))
	for i, g := range s.sc.Groups {
		ids[i] = g.ID
	}
	return ids
}

// api checks the token, injects the faults and answers with fn's body under s.mu.
func (s *Sim) api(fn func(r *http.Request, now time.Time) (int, any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		uses, ok := s.tokens[tok]
		if !ok || uses == 0 {
			s.stats.Unauthorized++
			s.mu.Unlock()
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "token expired or invalid"})
			return
		}
		if uses > 0 {
			s.tokens[tok] = uses - 1
		}
		s.requests++
		n, f := s.requests, s.sc.Faults
		var slow time.Duration
		if f.SlowEvery > 0 && n%f.SlowEvery == 0 {
			slow = f.Slow
		}
		switch {
		case f.RateLimitEvery > 0 && n%f.RateLimitEvery == 0:
			s.stats.RateLimited++
			s.mu.Unlock()
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "rate limited"})
			return
		case f.ServerErrorEvery > 0 && n%f.ServerErrorEvery == 0:
			s.stats.ServerErrors++
			s.mu.Unlock()
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "try again"})
			return
		}
		status, body := fn(r, s.clk.Now())
		if slow > 0 {
			s.stats.Slow++
		}
		s.mu.Unlock()
		if slow > 0 {
			select {
			case <-time.After(slow):
			case <-r.Context().Done():
				return
			}
		}
		writeJSON(w, status, body)
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json;version=5.7")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func msg(status int, format string, args ...any) (int, any) {
	return status, map[string]string{"message": fmt.Sprintf(format, args...)}
}

func (s *Sim) groups(*http.Request, time.Time) (int, any) {
	out := make([]map[string]any, len(s.sc.Groups))
	for i, g := range s.sc.Groups {
		out[i] = map[string]any{"id": g.ID, "displayName": g.Name, "billingCurrency": g.Currency,
			"billingAttributes": map[string]any{"attribute": []map[string]any{{"name": "anniversaryDate", "value": strconv.Itoa(g.Anniversary)}}}}
	}
	return http.StatusOK, map[string]any{"companyId": "sim", "serviceGroupList": map[string]any{"serviceGroup": out}}
}

func (s *Sim) instances(*http.Request, time.Time) (int, any) {
	out := make([]map[string]any, len(s.sc.Instances))
	for i, in := range s.sc.Instances {
		out[i] = map[string]any{"id": in.ID, "name": in.Name, "serviceGroupId": in.Group}
	}
	return http.StatusOK, map[string]any{"instances": out}
}

func (s *Sim) group(id string) (Group, bool) {
	for _, g := range s.sc.Groups {
		if g.ID == id {
			return g, true
		}
	}
	return Group{}, false
}

func (s *Sim) billableCosts(r *http.Request, now time.Time) (int, any) {
	g, ok := s.group(r.PathValue("id"))
	if !ok {
		return msg(http.StatusNotFound, "no service group %s", r.PathValue("id"))
	}
	if s.lastUpdate(now).Before(now.UTC().Truncate(time.Hour)) {
		s.stats.Lagging++
	}
	return http.StatusOK, map[string]any{"currency": g.Currency, "lastUpdateTime": s.lastUpdate(now).Format("2006-01-02T15:04:05.000Z"),
		"cost": []map[string]any{{"type": "Support Cost", "amount": 0}}}
}

func (s *Sim) instance(id string) (Instance, bool) {
	for _, in := range s.sc.Instances {
		if in.ID == id {
			return in, true
		}
	}
	return Instance{}, false
}

// billable is one entry of a billableList.
type billable struct {
	Name     string `json:"name"`
	Usage    number `json:"usage"`
	Unit     string `json:"unit"`
	Rate     number `json:"rate"`
	Cost     number `json:"cost"`
	Currency string `json:"currency"`
}

// number is a decimal written as a JSON number, as the samples have it (decimal.Decimal
// writes a string).
type number struct{ decimal.Decimal }

// MarshalJSON writes the decimal unquoted.
func (n number) MarshalJSON() ([]byte, error) { return []byte(n.String()), nil }

type entity struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	EntityType   string `json:"entityType"`
	BillableList struct {
		Billable []billable `json:"billable"`
	} `json:"billableList"`
}

// metered sums us over the whole hours of [from, to).
func metered(us []Usage, from, to time.Time, currency string, into map[string]billable) {
	for _, u := range us {
		start, end := later(u.From, from), to
		if u.To != nil && u.To.Before(end) {
			end = *u.To
		}
		if !end.After(start) {
			continue
		}
		hours := decimal.NewFromInt(int64(end.Sub(start) / time.Hour))
		b := into[u.Billable]
		b.Name, b.Unit, b.Rate, b.Currency = u.Billable, u.Unit, number{u.Rate}, currency
		q := u.PerHour.Mul(hours)
		b.Usage = number{b.Usage.Add(q)}
		b.Cost = number{b.Cost.Add(q.Mul(u.Rate))}
		into[u.Billable] = b
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func entityOf(id, name, typ string, bs map[string]billable) entity {
	e := entity{ID: id, Name: name, EntityType: typ}
	names := make([]string, 0, len(bs))
	for n := range bs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		e.BillableList.Billable = append(e.BillableList.Billable, bs[n])
	}
	if e.BillableList.Billable == nil {
		e.BillableList.Billable = []billable{}
	}
	return e
}

// l2Usage is an L2's own usage plus its L1s' over [from, to).
func l2Usage(l2 L2, from, to time.Time, currency string) map[string]billable {
	bs := map[string]billable{}
	metered(l2.Own, from, to, currency, bs)
	for _, l1 := range l2.L1s {
		metered(l1.Usage, from, to, currency, bs)
	}
	return bs
}

func parseHour(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, err
	}
	if !t.Equal(t.Truncate(time.Hour)) {
		return time.Time{}, fmt.Errorf("%s is not a whole hour", v)
	}
	return t.UTC(), nil
}

func (s *Sim) usageOf(level string) func(r *http.Request, now time.Time) (int, any) {
	return func(r *http.Request, now time.Time) (int, any) {
		in, ok := s.instance(r.PathValue("sid"))
		if !ok {
			return msg(http.StatusNotFound, "no service instance %s", r.PathValue("sid"))
		}
		g, _ := s.group(in.Group)
		q := r.URL.Query()
		if q.Get("duration") != "" && (q.Has("start") || q.Has("end")) {
			return msg(http.StatusBadRequest, "duration and start/end are mutually exclusive")
		}
		from, err1 := parseHour(q.Get("start"))
		to, err2 := parseHour(q.Get("end"))
		if err1 != nil || err2 != nil || !to.After(from) {
			return msg(http.StatusBadRequest, "start and end must be whole hours, start before end")
		}
		if lu := s.lastUpdate(now); to.After(lu) {
			to = lu // only metered hours are answered
		}
		if !to.After(from) {
			to = from
		}
		body := map[string]any{"startTime": from.Format("2006-01-02T15:04:05.000Z"), "endTime": to.Format("2006-01-02T15:04:05.000Z")}
		var ents []entity
		for _, l2 := range in.L2s {
			switch level {
			case "":
				ents = append(ents, entityOf(l2.ID, l2.ID, "vdc", l2Usage(l2, from, to, g.Currency)))
			case "l2":
				if l2.ID != r.PathValue("id") {
					continue
				}
				for _, l1 := range l2.L1s {
					bs := map[string]billable{}
					metered(l1.Usage, from, to, g.Currency, bs)
					ents = append(ents, entityOf(l1.ID, l1.Name, l1.Type, bs))
				}
				body["entity"] = nonNil(ents)
				return http.StatusOK, body
			case "l1":
				for _, l1 := range l2.L1s {
					if l1.ID == r.PathValue("id") {
						bs := map[string]billable{}
						metered(l1.Usage, from, to, g.Currency, bs)
						body["entity"] = []entity{entityOf(l1.ID, l1.Name, l1.Type, bs)}
						return http.StatusOK, body
					}
				}
			}
		}
		if level != "" {
			return msg(http.StatusNotFound, "no %s entity %s in service instance %s", level, r.PathValue("id"), in.ID)
		}
		body["entity"] = nonNil(ents)
		return http.StatusOK, body
	}
}

func nonNil(es []entity) []entity {
	if es == nil {
		return []entity{}
	}
	return es
}

// BillingMonth is the billing month (year, month) of group g: from its anniversary day of that
// month to the same day of the next, UTC.
func BillingMonth(anniversary, year, month int) (time.Time, time.Time) {
	day := max(anniversary, 1)
	start := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 1, 0)
}

func monthOf(r *http.Request) (int, int, error) {
	y, err1 := strconv.Atoi(r.URL.Query().Get("year"))
	m, err2 := strconv.Atoi(r.URL.Query().Get("month"))
	if err1 != nil || err2 != nil || m < 1 || m > 12 {
		return 0, 0, fmt.Errorf("month and year are required")
	}
	return y, m, nil
}

// billedMonth checks a billing request: the group and the month, and whether it is billed;
// a non-zero status is the answer to give instead.
func (s *Sim) billedMonth(r *http.Request, now time.Time) (g Group, y, m int, from, to time.Time, status int, body any) {
	g, ok := s.group(r.PathValue("id"))
	if !ok {
		status, body = msg(http.StatusNotFound, "no service group %s", r.PathValue("id"))
		return
	}
	y, m, err := monthOf(r)
	if err != nil {
		status, body = msg(http.StatusBadRequest, "%v", err)
		return
	}
	from, to = BillingMonth(g.Anniversary, y, m)
	if s.lastUpdate(now).Before(to) {
		status, body = http.StatusOK, map[string]any{"status": "not billed yet"}
	}
	return
}

func (s *Sim) billedUsage(r *http.Request, now time.Time) (int, any) {
	g, y, m, from, to, status, body := s.billedMonth(r, now)
	if status != 0 {
		return status, body
	}
	var ents []map[string]any
	for _, in := range s.sc.Instances {
		if in.Group != g.ID {
			continue
		}
		for _, l2 := range in.L2s {
			for _, l1 := range l2.L1s {
				bs := map[string]billable{}
				metered(l1.Usage, from, to, g.Currency, bs)
				ents = append(ents, billedEntity(in.ID, l2.ID, entityOf(l1.ID, l1.Name, l1.Type, bs)))
			}
			bs := map[string]billable{}
			metered(l2.Own, from, to, g.Currency, bs)
			ents = append(ents, billedEntity(in.ID, l2.ID, entityOf(l2.ID, l2.ID, "vdc", bs)))
		}
	}
	if extra := s.sc.BilledExtra[g.ID]; len(extra) > 0 {
		bs := map[string]billable{}
		for n, q := range extra {
			bs[n] = billable{Name: n, Usage: number{q}, Currency: g.Currency}
		}
		ents = append(ents, billedEntity("", "", entityOf(g.ID, g.Name, "serviceGroup", bs)))
	}
	return http.StatusOK, map[string]any{"month": m, "year": y, "startTime": from.Format(time.RFC3339), "endTime": to.Format(time.RFC3339), "entity": ents}
}

func billedEntity(sid, l2 string, e entity) map[string]any {
	return map[string]any{"id": e.ID, "name": e.Name, "entityType": e.EntityType, "serviceInstanceId": sid, "l2Id": l2, "billableList": e.BillableList}
}
