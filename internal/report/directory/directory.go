// Package directory serves what a caller needs before asking for a report: the organizations
// with usage that it may read, and an organization's rejected documents with their reasons.
//
//	GET /v1/metering/organizations[?after=<organization id>&limit=<n>]
//	GET /v1/metering/organizations/{org}/rejections[?limit=<n>]
//	GET /v1/metering/organizations/{org}/resource_instances[?space_id=&consumer_id=&limit=<n>]
//
// Both are Meterline's own (Abacus has neither); the web dashboard (internal/ui) starts from
// them, and the instance list is how it drills down to an instance's report (whose route needs
// the instance's consumer and plans). Lists are ordered, bounded (limit, at most MaxLimit) and say when they were cut.
package directory

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/web"
)

// DefaultLimit and MaxLimit bound a list: its length without a limit, and the largest limit.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// maxIDBytes bounds an organization id in a path or a query, as the collector bounds ids.
const maxIDBytes = 256

// Organization is an organization with usage, and the first and last months
// (UTC, [from, to) in epoch ms) that hold usage of it.
type Organization struct {
	OrganizationID string `json:"organization_id"`
	From           int64  `json:"from"`
	To             int64  `json:"to"`
}

// Rejection is a document the metering processor did not count, and why.
type Rejection struct {
	ID         string `json:"id"`
	ResourceID string `json:"resource_id"`
	PlanID     string `json:"plan_id"`
	End        int64  `json:"end"`
	Code       string `json:"code"`
	Reason     string `json:"reason"`
	Processed  int64  `json:"processed"`
}

// Instance is a resource instance with usage, as the instance report's route names it: its
// consumer and plans, with its space and resource, and the first and last months with usage.
type Instance struct {
	ResourceInstanceID string `json:"resource_instance_id"`
	SpaceID            string `json:"space_id"`
	ConsumerID         string `json:"consumer_id"`
	ResourceID         string `json:"resource_id"`
	PlanID             string `json:"plan_id"`
	MeteringPlanID     string `json:"metering_plan_id"`
	RatingPlanID       string `json:"rating_plan_id"`
	PricingPlanID      string `json:"pricing_plan_id"`
	From               int64  `json:"from"`
	To                 int64  `json:"to"`
}

// InstanceQuery selects an organization's instances: of the space and the consumer when
// given, of the resources Resources when it is not nil, ordered by space, consumer, instance
// and plans, at most Limit.
type InstanceQuery struct {
	Organization string
	Space        string
	Consumer     string
	Resources    []string
	Limit        int
}

// OrganizationQuery selects organizations: those after After (by id), among Only when it is
// not nil, at most Limit.
type OrganizationQuery struct {
	After string
	Only  []string
	Limit int
}

// RejectionQuery selects an organization's rejections, of the resources Resources when it is
// not nil, latest processed first, at most Limit.
type RejectionQuery struct {
	Organization string
	Resources    []string
	Limit        int
}

// Store is where the directory reads (clickhouse.Directory).
type Store interface {
	Organizations(ctx context.Context, q OrganizationQuery) ([]Organization, error)
	Rejections(ctx context.Context, q RejectionQuery) ([]Rejection, error)
	Instances(ctx context.Context, q InstanceQuery) ([]Instance, error)
}

// API serves the directory over HTTP. The organization list needs a principal that reads some
// organization and lists only those it may read (some resource of); the rejections of an
// organization need a principal that may read some resource of it, and list only the
// rejections of the resources it may read; the same for its instances.
type API struct {
	store Store
	log   *zap.Logger
}

// NewAPI returns the directory's API over store.
func NewAPI(store Store, log *zap.Logger) *API { return &API{store: store, log: log} }

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/metering/organizations", a.organizations)
	mux.HandleFunc("GET /v1/metering/organizations/{org}/rejections", a.rejections)
	mux.HandleFunc("GET /v1/metering/organizations/{org}/resource_instances", a.instances)
}

// OrganizationList is the answer of GET /v1/metering/organizations. Next, when the list was
// cut at its limit, is the after of the next page.
type OrganizationList struct {
	Organizations []Organization `json:"organizations"`
	Truncated     bool           `json:"truncated"`
	Next          string         `json:"next,omitempty"`
}

// RejectionList is the answer of GET /v1/metering/organizations/{org}/rejections.
type RejectionList struct {
	OrganizationID string      `json:"organization_id"`
	Rejections     []Rejection `json:"rejections"`
	Truncated      bool        `json:"truncated"`
}

func (a *API) organizations(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	if err := auth.RequireReadsAny(ctx); err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	q := req.URL.Query()
	var problems []fault.Problem
	limit, p := parseLimit(q.Get("limit"), q.Has("limit"))
	problems = append(problems, p...)
	after := q.Get("after")
	if len(after) > maxIDBytes {
		problems = append(problems, fault.Problem{Field: "after", Reason: "is longer than " + strconv.Itoa(maxIDBytes) + " bytes"})
	}
	problems = append(problems, unknownParams(q, "limit", "after")...)
	if len(problems) > 0 {
		web.WriteError(w, a.log, fault.Invalid("invalid organization list request", problems...))
		return
	}
	oq := OrganizationQuery{After: after, Limit: limit + 1}
	if p := auth.From(ctx); p != nil && !p.Admin && !p.AllOrganizations {
		oq.Only = slices.Clone(p.Organizations)
		if oq.Only == nil {
			oq.Only = []string{}
		}
	}
	list := OrganizationList{Organizations: []Organization{}}
	if oq.Only == nil || len(oq.Only) > 0 {
		orgs, err := a.store.Organizations(ctx, oq)
		if err != nil {
			web.WriteError(w, a.log, err)
			return
		}
		for _, o := range orgs {
			if auth.ReadableOrganization(ctx, o.OrganizationID) {
				list.Organizations = append(list.Organizations, o)
			}
		}
	}
	if len(list.Organizations) > limit {
		list.Organizations, list.Truncated = list.Organizations[:limit], true
		list.Next = list.Organizations[limit-1].OrganizationID
	}
	web.WriteJSON(w, http.StatusOK, list)
}

func (a *API) rejections(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	org := req.PathValue("org")
	q := req.URL.Query()
	var problems []fault.Problem
	if len(org) > maxIDBytes {
		problems = append(problems, fault.Problem{Field: "organization_id", Reason: "is longer than " + strconv.Itoa(maxIDBytes) + " bytes"})
	}
	limit, p := parseLimit(q.Get("limit"), q.Has("limit"))
	problems = append(problems, p...)
	problems = append(problems, unknownParams(q, "limit")...)
	if len(problems) > 0 {
		web.WriteError(w, a.log, fault.Invalid("invalid rejection list request", problems...))
		return
	}
	if err := auth.RequireReadSome(ctx, org); err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	rq := RejectionQuery{Organization: org, Limit: limit + 1}
	if p := auth.From(ctx); p != nil {
		rq.Resources = p.OnlyResources()
	}
	rows, err := a.store.Rejections(ctx, rq)
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	list := RejectionList{OrganizationID: org, Rejections: []Rejection{}}
	for _, r := range rows {
		if auth.Readable(ctx, org, r.ResourceID) {
			list.Rejections = append(list.Rejections, r)
		}
	}
	if len(list.Rejections) > limit {
		list.Rejections, list.Truncated = list.Rejections[:limit], true
	}
	web.WriteJSON(w, http.StatusOK, list)
}

// InstanceList is the answer of GET /v1/metering/organizations/{org}/resource_instances.
type InstanceList struct {
	OrganizationID    string     `json:"organization_id"`
	ResourceInstances []Instance `json:"resource_instances"`
	Truncated         bool       `json:"truncated"`
}

func (a *API) instances(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	org := req.PathValue("org")
	q := req.URL.Query()
	var problems []fault.Problem
	for field, v := range map[string]string{"organization_id": org, "space_id": q.Get("space_id"), "consumer_id": q.Get("consumer_id")} {
		if len(v) > maxIDBytes {
			problems = append(problems, fault.Problem{Field: field, Reason: "is longer than " + strconv.Itoa(maxIDBytes) + " bytes"})
		}
	}
	limit, p := parseLimit(q.Get("limit"), q.Has("limit"))
	problems = append(problems, p...)
	problems = append(problems, unknownParams(q, "space_id", "consumer_id", "limit")...)
	if len(problems) > 0 {
		slices.SortFunc(problems, func(a, b fault.Problem) int { return strings.Compare(a.Field, b.Field) })
		web.WriteError(w, a.log, fault.Invalid("invalid resource instance list request", problems...))
		return
	}
	if err := auth.RequireReadSome(ctx, org); err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	iq := InstanceQuery{Organization: org, Space: q.Get("space_id"), Consumer: q.Get("consumer_id"), Limit: limit + 1}
	if p := auth.From(ctx); p != nil {
		iq.Resources = p.OnlyResources()
	}
	rows, err := a.store.Instances(ctx, iq)
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	list := InstanceList{OrganizationID: org, ResourceInstances: []Instance{}}
	for _, r := range rows {
		if auth.Readable(ctx, org, r.ResourceID) {
			list.ResourceInstances = append(list.ResourceInstances, r)
		}
	}
	if len(list.ResourceInstances) > limit {
		list.ResourceInstances, list.Truncated = list.ResourceInstances[:limit], true
	}
	web.WriteJSON(w, http.StatusOK, list)
}

// parseLimit reads a limit parameter: DefaultLimit when absent, else 1 to MaxLimit.
func parseLimit(s string, present bool) (int, []fault.Problem) {
	if !present {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, []fault.Problem{{Field: "limit", Value: clip(s), Reason: "must be a whole number from 1 to " + strconv.Itoa(MaxLimit)}}
	}
	return n, nil
}

// unknownParams names every query parameter not among known: a misspelt one is a mistake to
// say, not to ignore.
func unknownParams(q map[string][]string, known ...string) []fault.Problem {
	var problems []fault.Problem
	for name := range q {
		if !slices.Contains(known, name) {
			problems = append(problems, fault.Problem{Field: name, Reason: "is not a parameter of this request (they are: " + strings.Join(known, ", ") + ")"})
		}
	}
	slices.SortFunc(problems, func(a, b fault.Problem) int { return strings.Compare(a.Field, b.Field) })
	return problems
}

// clip bounds a value echoed in an error, so that a huge parameter is not sent back whole.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
