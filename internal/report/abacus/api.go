package abacus

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/web"
	"github.com/meterline/meterline/internal/report"
)

// API serves the reports over HTTP:
//
//	GET  /v1/metering/organizations/:organization_id/aggregated/usage[/:time]
//	GET  /v1/metering/organizations/:organization_id/resource_instances/:resource_instance_id/consumers/:consumer_id/plans/:plan_id/metering_plans/:metering_plan_id/rating_plans/:rating_plan_id/pricing_plans/:pricing_plan_id/aggregated/usage[/:time]
//	GET  /v1/metering/aggregated/usage/graph/:query
//	POST /v1/metering/aggregated/usage/graph   (a GraphQL request in JSON)
//
// Without :time a report is of the present. An unknown organization or instance (no usage in
// the report's windows) is 404, a bad time 400, both with a JSON error body. A request needs
// a principal (internal/auth) that may read the organization: every resource of it for the
// organization report, the instance's resource for an instance report (else 403).
type API struct {
	r        *Reports
	graphql  *GraphQL
	log      *zap.Logger
	maxBody  int64
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewAPI returns the reports' API; maxBody bounds a GraphQL POST body.
func NewAPI(r *Reports, g *GraphQL, maxBody int64, log *zap.Logger, reg prometheus.Registerer) *API {
	f := promauto.With(reg)
	return &API{r: r, graphql: g, log: log, maxBody: maxBody,
		requests: f.NewCounterVec(prometheus.CounterOpts{Name: "meterline_report_requests_total",
			Help: "Report requests by report (organization, instance, graphql) and HTTP status."}, []string{"report", "status"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{Name: "meterline_report_seconds",
			Help: "Time to answer a report request, by report.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)},
			[]string{"report"}),
	}
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// measured counts and times a report handler.
func (a *API) measured(report string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h(sw, req)
		a.requests.WithLabelValues(report, strconv.Itoa(sw.status)).Inc()
		a.latency.WithLabelValues(report).Observe(time.Since(start).Seconds())
	}
}

const instancePath = "/v1/metering/organizations/{org}/resource_instances/{instance}/consumers/{consumer}/plans/{plan}" +
	"/metering_plans/{metering}/rating_plans/{rating}/pricing_plans/{pricing}/aggregated/usage"

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	org, inst := a.measured("organization", a.organization), a.measured("instance", a.instance)
	mux.HandleFunc("GET /v1/metering/organizations/{org}/aggregated/usage", org)
	mux.HandleFunc("GET /v1/metering/organizations/{org}/aggregated/usage/{time}", org)
	mux.HandleFunc("GET "+instancePath, inst)
	mux.HandleFunc("GET "+instancePath+"/{time}", inst)
	mux.HandleFunc("GET /v1/metering/aggregated/usage/graph/{query...}", a.measured("graphql", a.graphGet))
	mux.HandleFunc("POST /v1/metering/aggregated/usage/graph", a.measured("graphql", a.graphPost))
}

func (a *API) organization(w http.ResponseWriter, req *http.Request) {
	if err := auth.RequireReadAll(req.Context(), req.PathValue("org")); err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	t, err := a.r.r.ParseTime(req.PathValue("time"))
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	rep, err := a.r.Organization(req.Context(), req.PathValue("org"), t, AllScopes)
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	a.settled(w, t)
	web.WriteJSON(w, http.StatusOK, rep)
}

func (a *API) instance(w http.ResponseWriter, req *http.Request) {
	if err := auth.RequireReadSome(req.Context(), req.PathValue("org")); err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	t, err := a.r.r.ParseTime(req.PathValue("time"))
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	// A path segment cannot be empty: "-" names no plan (usage metered without a rating or a
	// pricing plan).
	id := func(name string) string {
		if v := req.PathValue(name); v != "-" {
			return v
		}
		return ""
	}
	k := InstanceKey{Org: req.PathValue("org"), Instance: req.PathValue("instance"), Consumer: req.PathValue("consumer"),
		PlanIDs: report.PlanIDs{PlanID: id("plan"), MeteringPlanID: id("metering"), RatingPlanID: id("rating"), PricingPlanID: id("pricing")}}
	rep, err := a.r.Instance(req.Context(), k, t)
	if err == nil {
		err = auth.RequireRead(req.Context(), rep.OrganizationID, rep.ResourceID)
	}
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	a.settled(w, t)
	web.WriteJSON(w, http.StatusOK, rep)
}

// SettledHeader says whether a report can still change: "true" when its time is older than
// the pipeline's settle delay, "false" when cells processed by then may still be on their way
// to ClickHouse.
const SettledHeader = "Meterline-Settled"

func (a *API) settled(w http.ResponseWriter, t int64) {
	w.Header().Set(SettledHeader, strconv.FormatBool(a.r.r.Settled(t)))
}

func (a *API) graphGet(w http.ResponseWriter, req *http.Request) {
	a.graph(w, req, Request{Query: req.PathValue("query")})
}

// graphPost answers a POSTed GraphQL request. Its numbers are read as written (json.Number), so
// that an Int variable beyond 64 bits is named as such, not rounded to a float.
func (a *API) graphPost(w http.ResponseWriter, req *http.Request) {
	body, err := web.ReadBody(req, a.maxBody)
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	var gr Request
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err = dec.Decode(&gr); err == nil && len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		err = errors.New("data after the request")
	}
	if err != nil {
		web.WriteError(w, a.log, fault.Invalid("invalid GraphQL request",
			fault.Problem{Reason: "the body is not a JSON GraphQL request {query, operationName, variables}: " + err.Error()}))
		return
	}
	a.graph(w, req, gr)
}

func (a *API) graph(w http.ResponseWriter, req *http.Request, gr Request) {
	resp := a.graphql.Execute(req.Context(), gr)
	status := http.StatusOK
	if len(resp.Errors) > 0 {
		status = web.StatusOf(resp.Kind)
		for _, e := range resp.Errors {
			if e.Err != nil && fault.KindOf(e.Err) == fault.KindInternal {
				a.log.Error("graphql query failed", zap.String("query", gr.Query), zap.Error(e.Err))
			}
		}
	}
	web.WriteJSON(w, status, resp)
}
