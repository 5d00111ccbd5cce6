package cfrecon

import (
	"context"
	"net/http"
	"regexp"
	"time"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/web"
)

// The reconciliation routes: one day, and the days of a range (start and end included).
const (
	Route      = "GET /v1/cf/organizations/{org_guid}/reconciliation/{date}"
	RangeRoute = "GET /v1/cf/organizations/{org_guid}/reconciliation"
)

// MaxDays bounds the days of a range.
const MaxDays = 31

// API serves the reconciliation of an organization's days.
type API struct {
	store Store
	log   *zap.Logger
}

// NewAPI returns the reconciliation API over store.
func NewAPI(store Store, log *zap.Logger) *API { return &API{store: store, log: log} }

// Register adds the routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc(Route, a.reconcileDay)
	mux.HandleFunc(RangeRoute, a.reconcileRange)
}

var validOrg = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`).MatchString

// date reads a UTC day, or adds a problem naming field.
func date(field, raw string, problems *[]fault.Problem) time.Time {
	day, err := time.Parse(time.DateOnly, raw)
	if err != nil || day.Year() < 2000 || day.Year() > 9999 {
		*problems = append(*problems, fault.Problem{Field: field, Value: truncate(raw), Reason: "a UTC day YYYY-MM-DD from 2000 to 9999"})
	}
	return day
}

func orgOf(req *http.Request, problems *[]fault.Problem) string {
	org := req.PathValue("org_guid")
	if !validOrg(org) {
		*problems = append(*problems, fault.Problem{Field: "org_guid", Value: truncate(org), Reason: "an organization guid: letters, digits and ._- up to 128"})
	}
	return org
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func (a *API) reconcileDay(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	if err := auth.RequireReadsAny(ctx); err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	var problems []fault.Problem
	org := orgOf(req, &problems)
	day := date("date", req.PathValue("date"), &problems)
	if len(problems) > 0 {
		web.WriteError(w, a.log, fault.Invalid("bad reconciliation request", problems...))
		return
	}
	out, err := a.day(ctx, org, day)
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, out)
}

// Range is the reconciliation of the days of a range.
type Range struct {
	Organization string `json:"organization"`
	Start        string `json:"start"`
	End          string `json:"end"`
	// DaysWithDifferences are the dates whose reconciliation has a difference.
	DaysWithDifferences []string         `json:"days_with_differences"`
	Days                []Reconciliation `json:"days"`
}

func (a *API) reconcileRange(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	if err := auth.RequireReadsAny(ctx); err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	var problems []fault.Problem
	org := orgOf(req, &problems)
	q := req.URL.Query()
	start := date("start", q.Get("start"), &problems)
	end := date("end", q.Get("end"), &problems)
	if len(problems) == 0 && end.Before(start) {
		problems = append(problems, fault.Problem{Field: "end", Value: q.Get("end"), Reason: "not before start"})
	}
	if len(problems) == 0 && end.Sub(start) >= MaxDays*24*time.Hour {
		problems = append(problems, fault.Problem{Field: "end", Value: q.Get("end"), Reason: "at most 31 days from start"})
	}
	if len(problems) > 0 {
		web.WriteError(w, a.log, fault.Invalid("bad reconciliation request", problems...))
		return
	}
	out := Range{Organization: org, Start: start.Format(time.DateOnly), End: end.Format(time.DateOnly), DaysWithDifferences: []string{}, Days: []Reconciliation{}}
	for day := start; !day.After(end); day = day.AddDate(0, 0, 1) {
		r, err := a.day(ctx, org, day)
		if err != nil {
			web.WriteError(w, a.log, err)
			return
		}
		if d := r.Differences; len(d.Apps)+len(d.Tasks)+len(d.Services) > 0 {
			out.DaysWithDifferences = append(out.DaysWithDifferences, r.Date)
		}
		out.Days = append(out.Days, r)
	}
	web.WriteJSON(w, http.StatusOK, out)
}

// day reconciles org's day: an error of kind forbidden for a principal that may not read all
// of org, not found for an organization with nothing stored.
func (a *API) day(ctx context.Context, org string, day time.Time) (Reconciliation, error) {
	if err := auth.RequireReadAll(ctx, org); err != nil {
		return Reconciliation{}, err
	}
	rows, known, err := a.store.UsageService(ctx, org, day)
	if err != nil {
		return Reconciliation{}, err
	}
	if !known {
		return Reconciliation{}, fault.NotFound("no Usage Service figures of organization %s are stored", org)
	}
	to := day.AddDate(0, 0, 1)
	out := Reconciliation{Organization: org, Date: day.Format(time.DateOnly), From: day.Format(time.RFC3339), To: to.Format(time.RFC3339),
		Read: len(rows) > 0, Lines: NewLines(), Differences: NewLines()}
	if out.Read {
		steps, err := a.store.Metered(ctx, org, day.UnixMilli(), to.UnixMilli())
		if err != nil {
			return Reconciliation{}, err
		}
		out.Lines, out.Differences, out.Totals = Reconcile(rows, steps, day, to)
	}
	return out, nil
}
