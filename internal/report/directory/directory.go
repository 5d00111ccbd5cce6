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
	"net/url"
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
	mux.HandleFunc("GET /v1/metering/organizations", handle(a.log, a.organizations))
	mux.HandleFunc("GET /v1/metering/organizations/{org}/rejections", handle(a.log, a.rejections))
	mux.HandleFunc("GET /v1/metering/organizations/{org}/resource_instances", handle(a.log, a.instances))
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

// InstanceList is the answer of GET /v1/metering/organizations/{org}/resource_instances.
type InstanceList struct {
	OrganizationID    string     `json:"organization_id"`
	ResourceInstances []Instance `json:"resource_instances"`
	Truncated         bool       `json:"truncated"`
}

// handle serves a list: what list answers, as JSON with 200, or its error, as web.WriteError
// maps it.
func handle[L any](log *zap.Logger, list func(context.Context, *request) (L, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		v, err := list(req.Context(), &request{req: req, q: req.URL.Query()})
		if err != nil {
			web.WriteError(w, log, err)
			return
		}
		web.WriteJSON(w, http.StatusOK, v)
	}
}

func (a *API) organizations(ctx context.Context, r *request) (OrganizationList, error) {
	if err := auth.RequireReadsAny(ctx); err != nil {
		return OrganizationList{}, err
	}
	limit := r.limit()
	after := r.id("after", r.q.Get("after"))
	r.only("limit", "after")
	if err := r.invalid("invalid organization list request"); err != nil {
		return OrganizationList{}, err
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
			return OrganizationList{}, err
		}
		for _, o := range orgs {
			if auth.ReadableOrganization(ctx, o.OrganizationID) {
				list.Organizations = append(list.Organizations, o)
			}
		}
	}
	if list.Organizations, list.Truncated = cut(list.Organizations, limit); list.Truncated {
		list.Next = list.Organizations[limit-1].OrganizationID
	}
	return list, nil
}

func (a *API) rejections(ctx context.Context, r *request) (RejectionList, error) {
	org := r.id("organization_id", r.req.PathValue("org"))
	limit := r.limit()
	r.only("limit")
	if err := r.invalid("invalid rejection list request"); err != nil {
		return RejectionList{}, err
	}
	rows, truncated, err := readable(ctx, org, limit, func(rj Rejection) string { return rj.ResourceID },
		func(resources []string, limit int) ([]Rejection, error) {
			return a.store.Rejections(ctx, RejectionQuery{Organization: org, Resources: resources, Limit: limit})
		})
	return RejectionList{OrganizationID: org, Rejections: rows, Truncated: truncated}, err
}

func (a *API) instances(ctx context.Context, r *request) (InstanceList, error) {
	org := r.id("organization_id", r.req.PathValue("org"))
	space := r.id("space_id", r.q.Get("space_id"))
	consumer := r.id("consumer_id", r.q.Get("consumer_id"))
	limit := r.limit()
	r.only("space_id", "consumer_id", "limit")
	// This list names its problems by field (the others in the order found).
	slices.SortFunc(r.problems, byField)
	if err := r.invalid("invalid resource instance list request"); err != nil {
		return InstanceList{}, err
	}
	rows, truncated, err := readable(ctx, org, limit, func(in Instance) string { return in.ResourceID },
		func(resources []string, limit int) ([]Instance, error) {
			return a.store.Instances(ctx, InstanceQuery{Organization: org, Space: space, Consumer: consumer, Resources: resources, Limit: limit})
		})
	return InstanceList{OrganizationID: org, ResourceInstances: rows, Truncated: truncated}, err
}

// readable lists what the principal of ctx may read of organization org. A principal that may
// read no resource of org is refused before fetch is asked. Else fetch is asked for one more
// than limit rows, of the resources the principal is limited to (nil: any); the rows of a
// resource it may not read are dropped, and the rest cut at limit, saying whether they were.
// The rows are never nil, so that an empty list is [] in JSON.
func readable[T any](ctx context.Context, org string, limit int, resource func(T) string,
	fetch func(resources []string, limit int) ([]T, error)) ([]T, bool, error) {
	if err := auth.RequireReadSome(ctx, org); err != nil {
		return nil, false, err
	}
	var resources []string
	if p := auth.From(ctx); p != nil {
		resources = p.OnlyResources()
	}
	rows, err := fetch(resources, limit+1)
	if err != nil {
		return nil, false, err
	}
	out := []T{}
	for _, row := range rows {
		if auth.Readable(ctx, org, resource(row)) {
			out = append(out, row)
		}
	}
	list, truncated := cut(out, limit)
	return list, truncated, nil
}

// cut returns the first limit of list, and whether there were more.
func cut[T any](list []T, limit int) ([]T, bool) {
	if len(list) > limit {
		return list[:limit], true
	}
	return list, false
}

// request is a list request being read: each of its problems is collected in the order found,
// so that a caller sees every mistake at once.
type request struct {
	req      *http.Request
	q        url.Values
	problems []fault.Problem
}

// id returns v, an id named field, noting a problem when it is longer than maxIDBytes.
func (r *request) id(field, v string) string {
	if len(v) > maxIDBytes {
		r.problems = append(r.problems, fault.Problem{Field: field, Reason: "is longer than " + strconv.Itoa(maxIDBytes) + " bytes"})
	}
	return v
}

// limit returns the request's limit (parseLimit), noting its problem.
func (r *request) limit() int {
	n, p := parseLimit(r.q.Get("limit"), r.q.Has("limit"))
	r.problems = append(r.problems, p...)
	return n
}

// only notes every query parameter not among known (unknownParams).
func (r *request) only(known ...string) {
	r.problems = append(r.problems, unknownParams(r.q, known...)...)
}

// invalid is fault.Invalid with message what and the problems noted, or nil when there are none.
func (r *request) invalid(what string) error {
	if len(r.problems) == 0 {
		return nil
	}
	return fault.Invalid(what, r.problems...)
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
	slices.SortFunc(problems, byField)
	return problems
}

// byField orders problems by the field they name.
func byField(a, b fault.Problem) int { return strings.Compare(a.Field, b.Field) }

// clip bounds a value echoed in an error, so that a huge parameter is not sent back whole.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
