package nova

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/clock"
)

// Base is where the view is mounted: Nova's compute API root.
const Base = "/openstack/compute/v2.1"

// MaxLimit is Nova's [api] max_limit: the page size without a limit, the largest limit, and the
// silent cut below microversion 2.40.
const MaxLimit = 1000

// Microversions served: 2.1 to MaxMinor (Nova's maximum as of 2024.2).
const MaxMinor = 96

// Headers of a truncated answer below 2.40, where Nova cuts the list at max_limit without a
// sign: Meterline says so.
const (
	MaxLimitHeader  = "Meterline-Max-Limit"
	TruncatedHeader = "Meterline-Truncated"
)

// maxIDBytes bounds a tenant id or a marker, as the collector bounds ids.
const maxIDBytes = 256

// API serves GET {Base}/os-simple-tenant-usage and {Base}/os-simple-tenant-usage/{tenant_id}.
// The list needs a principal that reads some organization and shows only the tenants it may
// read whole (an admin: every tenant); a tenant's usage needs a principal that may read that
// whole organization (else 403, in Nova's error body).
type API struct {
	store Store
	clock clock.Clock
	log   *zap.Logger
}

// NewAPI returns the view over store.
func NewAPI(store Store, clk clock.Clock, log *zap.Logger) *API {
	return &API{store: store, clock: clock.Or(clk), log: log}
}

// Register adds the view's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Base+"/os-simple-tenant-usage", a.list)
	mux.HandleFunc("GET "+Base+"/os-simple-tenant-usage/{tenant}", a.show)
}

// ServerUsage is one entry of server_usages.
type ServerUsage struct {
	EndedAt    *string `json:"ended_at"`
	Flavor     string  `json:"flavor"`
	Hours      float64 `json:"hours"`
	InstanceID string  `json:"instance_id"`
	LocalGB    int64   `json:"local_gb"`
	MemoryMB   int64   `json:"memory_mb"`
	Name       string  `json:"name"`
	StartedAt  string  `json:"started_at"`
	State      string  `json:"state"`
	TenantID   string  `json:"tenant_id"`
	Uptime     int64   `json:"uptime"`
	VCPUs      int64   `json:"vcpus"`
}

// TenantUsage is one tenant's usage; ServerUsages is nil unless detailed.
type TenantUsage struct {
	ServerUsages       []ServerUsage `json:"server_usages,omitempty"`
	Start              string        `json:"start"`
	Stop               string        `json:"stop"`
	TenantID           string        `json:"tenant_id"`
	TotalHours         float64       `json:"total_hours"`
	TotalLocalGBUsage  float64       `json:"total_local_gb_usage"`
	TotalMemoryMBUsage float64       `json:"total_memory_mb_usage"`
	TotalVCPUsUsage    float64       `json:"total_vcpus_usage"`
}

// Link is a next link.
type Link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

// TimeFormat is Nova's: UTC, naive, microseconds.
const TimeFormat = "2006-01-02T15:04:05.000000"

// request is a parsed request.
type request struct {
	minor         int
	start, stop   time.Time
	detailed      bool
	limit         int
	marker        string
	limitGiven    bool
	paged         bool // 2.40 and later
	nowForUptime  time.Time
	requestParams url.Values
}

// novaError writes Nova's error body {"<kind>": {"code", "message"}}.
func novaError(w http.ResponseWriter, status int, msg string) {
	kind := map[int]string{400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
		503: "serviceUnavailable"}[status]
	if kind == "" {
		kind = "computeFault"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{kind: map[string]any{"code": status, "message": msg}})
}

// microversion reads the requested compute microversion (minor of 2.x): 1 without a header.
// A malformed one is 400, one outside 2.1–2.MaxMinor 406, as Nova answers.
func microversion(h http.Header) (int, int, string) {
	v := ""
	if s := strings.TrimSpace(h.Get("OpenStack-API-Version")); s != "" {
		service, ver, _ := strings.Cut(s, " ")
		if strings.EqualFold(service, "compute") {
			v = strings.TrimSpace(ver)
		}
	}
	if v == "" {
		v = strings.TrimSpace(h.Get("X-OpenStack-Nova-API-Version"))
	}
	if v == "" {
		return 1, 0, ""
	}
	if strings.EqualFold(v, "latest") {
		return MaxMinor, 0, ""
	}
	major, minor, ok := strings.Cut(v, ".")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if len(v) > 16 || !ok || err1 != nil || err2 != nil || ma < 0 || mi < 0 {
		return 0, http.StatusBadRequest, fmt.Sprintf("API Version String %s is of invalid format. Must be of format MajorNum.MinorNum.", truncate(v))
	}
	if ma != 2 || mi < 1 || mi > MaxMinor {
		return 0, http.StatusNotAcceptable, fmt.Sprintf("Version %s is not supported by the API. Minimum is 2.1 and maximum is 2.%d.", v, MaxMinor)
	}
	return mi, 0, ""
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// parseTime reads Nova's formats; "" is now.
func parseTime(s string, now time.Time) (time.Time, bool) {
	if s == "" {
		return now, true
	}
	if len(s) > 64 {
		return time.Time{}, false
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04:05.999999", "2006-01-02 15:04:05.999999"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parse reads a request as Nova does, writing the error itself when it fails: the
// microversion first, then the policy (allowed), then the query.
func (a *API) parse(w http.ResponseWriter, req *http.Request, allowed func() error) (request, bool) {
	minor, status, msg := microversion(req.Header)
	if status != 0 {
		novaError(w, status, msg)
		return request{}, false
	}
	setVersionHeaders(w, minor)
	if err := allowed(); err != nil {
		a.denied(w, err)
		return request{}, false
	}
	q := req.URL.Query()
	now := a.clock.Now().UTC().Truncate(time.Microsecond)
	r := request{minor: minor, paged: minor >= 40, limit: MaxLimit, nowForUptime: now, requestParams: q}
	var ok1, ok2 bool
	r.start, ok1 = parseTime(q.Get("start"), now)
	r.stop, ok2 = parseTime(q.Get("end"), now)
	if !ok1 || !ok2 {
		novaError(w, http.StatusBadRequest, "Invalid datetime string: Datetime is in invalid format")
		return request{}, false
	}
	if r.stop.After(now) {
		r.stop = now // Nova clips the end to its present
	}
	if !r.start.Before(r.stop) {
		novaError(w, http.StatusBadRequest, "Invalid start time. The start time cannot occur after the end time.")
		return request{}, false
	}
	r.detailed = q.Get("detailed") == "1"
	if r.paged {
		if v, given := q["limit"]; given {
			l, err := strconv.Atoi(v[0])
			if err != nil || l < 0 {
				novaError(w, http.StatusBadRequest, fmt.Sprintf("Invalid input for query parameters limit. Value: %s. %q is not a valid non-negative integer.", truncate(v[0]), truncate(v[0])))
				return request{}, false
			}
			r.limit, r.limitGiven = min(l, MaxLimit), true
		}
		r.marker = q.Get("marker")
		if len(r.marker) > maxIDBytes {
			novaError(w, http.StatusBadRequest, fmt.Sprintf("Marker %s could not be found.", truncate(r.marker)))
			return request{}, false
		}
	}
	return r, true
}

func setVersionHeaders(w http.ResponseWriter, minor int) {
	w.Header().Set("OpenStack-API-Version", fmt.Sprintf("compute 2.%d", minor))
	w.Header().Set("X-OpenStack-Nova-API-Version", fmt.Sprintf("2.%d", minor))
	w.Header().Set("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version")
}

// page reads the servers of the request's period that readable allows, from the marker's
// on, and cuts the page. The store pages in SQL: the view asks for a page and one more (to
// know whether a next page exists), and again after the last row it got while rows it drops
// (no usage in the period, or not readable) leave the page short.
func (a *API) page(w http.ResponseWriter, req *http.Request, r request, tenant string, readable func(string) bool) ([]Server, bool, bool) {
	base := Query{Tenant: tenant, From: r.start.UnixMilli(), To: r.stop.Add(time.Millisecond - time.Nanosecond).UnixMilli()}
	read := func(q Query) ([]ServerRow, []Server, bool) {
		rows, err := a.store.Servers(req.Context(), q)
		if err != nil {
			a.fail(w, err)
			return nil, nil, false
		}
		rows = window(rows, q)
		all, err := servers(rows, r.start, r.stop)
		if err != nil {
			a.fail(w, err)
			return nil, nil, false
		}
		var list []Server
		for _, s := range all {
			if readable(s.Tenant) {
				list = append(list, s)
			}
		}
		return rows, list, true
	}
	var after *Cursor
	if r.marker != "" {
		q := base
		q.Instance = r.marker
		_, found, ok := read(q)
		if !ok {
			return nil, false, false
		}
		if len(found) == 0 {
			novaError(w, http.StatusBadRequest, fmt.Sprintf("Marker %s could not be found.", r.marker))
			return nil, false, false
		}
		after = &Cursor{found[0].Started.UnixMilli(), found[0].Instance, found[0].Tenant}
	}
	want := r.limit + 1
	var list []Server
	for {
		q := base
		q.After, q.Limit = after, want
		rows, got, ok := read(q)
		if !ok {
			return nil, false, false
		}
		list = append(list, got...)
		if len(list) >= want || len(rows) < want {
			break
		}
		c := rows[len(rows)-1].cursor()
		after = &c
	}
	return list[:min(len(list), r.limit)], len(list) > r.limit, true
}

func (a *API) fail(w http.ResponseWriter, err error) {
	switch fault.KindOf(err) {
	case fault.KindUnavailable:
		w.Header().Set("Retry-After", "5")
		novaError(w, http.StatusServiceUnavailable, "The usage store cannot answer now; try again later.")
	default:
		a.log.Error("nova usage report failed", zap.Error(err))
		novaError(w, http.StatusInternalServerError, "Unexpected API Error. Please report this at the Meterline project.")
	}
}

func (a *API) list(w http.ResponseWriter, req *http.Request) {
	r, ok := a.parse(w, req, func() error { return auth.RequireReadsAny(req.Context()) })
	if !ok {
		return
	}
	ctx := req.Context()
	page, more, ok := a.page(w, req, r, "", func(t string) bool { return auth.RequireReadAll(ctx, t) == nil })
	if !ok {
		return
	}
	body := map[string]any{"tenant_usages": render(page, r, r.detailed)}
	a.links(w, req, r, page, more, body, "tenant_usages_links", "/os-simple-tenant-usage")
	writeJSON(w, body)
}

func (a *API) show(w http.ResponseWriter, req *http.Request) {
	tenant := req.PathValue("tenant")
	r, ok := a.parse(w, req, func() error {
		if len(tenant) > maxIDBytes {
			return fault.Invalid("Invalid input for tenant_id: longer than 256 bytes.")
		}
		return auth.RequireReadAll(req.Context(), tenant)
	})
	if !ok {
		return
	}
	page, more, ok := a.page(w, req, r, tenant, func(t string) bool { return t == tenant })
	if !ok {
		return
	}
	usages := render(page, r, true)
	body := map[string]any{"tenant_usage": map[string]any{}}
	if len(usages) > 0 {
		body["tenant_usage"] = usages[0]
	}
	a.links(w, req, r, page, more, body, "tenant_usage_links", "/os-simple-tenant-usage/"+url.PathEscape(tenant))
	writeJSON(w, body)
}

func (a *API) denied(w http.ResponseWriter, err error) {
	var fe *fault.Error
	msg := err.Error()
	if errors.As(err, &fe) {
		msg = fe.Message
	}
	status := http.StatusForbidden
	switch fault.KindOf(err) {
	case fault.KindUnauthenticated:
		status = http.StatusUnauthorized
	case fault.KindInvalid:
		status = http.StatusBadRequest
	}
	novaError(w, status, msg)
}

// links adds Nova's next link (2.40 and later) when the page is full, or, below 2.40, says in
// headers that the list was cut at max_limit.
func (a *API) links(w http.ResponseWriter, req *http.Request, r request, page []Server, more bool, body map[string]any, key, path string) {
	if !r.paged {
		w.Header().Set(MaxLimitHeader, strconv.Itoa(MaxLimit))
		w.Header().Set(TruncatedHeader, strconv.FormatBool(more))
		return
	}
	if r.limit == 0 || len(page) != r.limit {
		return
	}
	params := url.Values{}
	for k, v := range r.requestParams {
		params[k] = v
	}
	params.Set("marker", page[len(page)-1].Instance)
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	href := scheme + "://" + req.Host + Base + path + "?" + params.Encode()
	body[key] = []Link{{Href: href, Rel: "next"}}
}

func writeJSON(w http.ResponseWriter, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(body)
}

// hours returns seconds / 3600 as the float64 nearest to the exact quotient: the one rounding.
func hours(seconds decimal.Decimal) float64 {
	f, _ := new(big.Rat).Quo(seconds.Rat(), big.NewRat(3600, 1)).Float64()
	return f
}

// render groups a page by tenant in the order of each tenant's first server, with the page's
// totals (Nova's are the page's too: a client stitches pages together). Totals are exact sums
// of the servers' decimal seconds, each converted once.
func render(page []Server, r request, detailed bool) []TenantUsage {
	type acc struct {
		u   TenantUsage
		sum Measures
	}
	var order []*acc
	by := map[string]*acc{}
	for _, s := range page {
		t := by[s.Tenant]
		if t == nil {
			t = &acc{u: TenantUsage{Start: r.start.Format(TimeFormat), Stop: r.stop.Format(TimeFormat), TenantID: s.Tenant}}
			by[s.Tenant] = t
			order = append(order, t)
		}
		t.sum = t.sum.add(s.Usage)
		if detailed {
			t.u.ServerUsages = append(t.u.ServerUsages, serverUsage(s, r.nowForUptime))
		}
	}
	out := make([]TenantUsage, 0, len(order))
	for _, t := range order {
		t.u.TotalHours = hours(t.sum.Seconds)
		t.u.TotalVCPUsUsage = hours(t.sum.VCPU)
		t.u.TotalMemoryMBUsage = hours(t.sum.MemoryMB)
		t.u.TotalLocalGBUsage = hours(t.sum.LocalGB)
		out = append(out, t.u)
	}
	return out
}

func serverUsage(s Server, now time.Time) ServerUsage {
	su := ServerUsage{Flavor: s.Flavor, Hours: hours(s.Usage.Seconds), InstanceID: s.Instance, LocalGB: s.LocalGB,
		MemoryMB: s.MemoryMB, Name: s.Instance, StartedAt: s.Started.Format(TimeFormat), State: "active",
		TenantID: s.Tenant, VCPUs: s.VCPUs}
	upTo := now
	if s.Ended != nil {
		e := s.Ended.Format(TimeFormat)
		su.EndedAt, su.State, upTo = &e, "terminated", *s.Ended
	}
	su.Uptime = int64(upTo.Sub(s.Started) / time.Second)
	return su
}
