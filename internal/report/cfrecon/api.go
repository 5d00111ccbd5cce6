package cfrecon

import (
	"net/http"
	"regexp"
	"time"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/web"
)

// Route is the reconciliation route.
const Route = "GET /v1/cf/organizations/{org_guid}/reconciliation/{date}"

// API serves the reconciliation of an organization's day.
type API struct {
	store Store
	log   *zap.Logger
}

// NewAPI returns the reconciliation API over store.
func NewAPI(store Store, log *zap.Logger) *API { return &API{store: store, log: log} }

// Register adds the route to mux.
func (a *API) Register(mux *http.ServeMux) { mux.HandleFunc(Route, a.reconcile) }

var validOrg = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`).MatchString

// parse checks the path's parameters, naming each bad one.
func parse(req *http.Request) (org string, day time.Time, err error) {
	var problems []fault.Problem
	org = req.PathValue("org_guid")
	if !validOrg(org) {
		problems = append(problems, fault.Problem{Field: "org_guid", Value: truncate(org), Reason: "an organization guid: letters, digits and ._- up to 128"})
	}
	raw := req.PathValue("date")
	day, e := time.Parse(time.DateOnly, raw)
	if e != nil || day.Year() < 2000 || day.Year() > 9999 {
		problems = append(problems, fault.Problem{Field: "date", Value: truncate(raw), Reason: "a UTC day YYYY-MM-DD from 2000 to 9999"})
	}
	if len(problems) > 0 {
		return "", time.Time{}, fault.Invalid("bad reconciliation request", problems...)
	}
	return org, day, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func (a *API) reconcile(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	if err := auth.RequireReadsAny(ctx); err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	org, day, err := parse(req)
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	// The answer shows every app and service of the organization: all its resources.
	if err := auth.RequireReadAll(ctx, org); err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	rows, known, err := a.store.UsageService(ctx, org, day)
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	if !known {
		web.WriteError(w, a.log, fault.NotFound("no Usage Service figures of organization %s are stored", org))
		return
	}
	to := day.AddDate(0, 0, 1)
	out := Reconciliation{Organization: org, Date: day.Format(time.DateOnly), From: day.Format(time.RFC3339), To: to.Format(time.RFC3339),
		Read: len(rows) > 0, Lines: NewLines(), Differences: NewLines()}
	if out.Read {
		steps, err := a.store.Metered(ctx, org, day.UnixMilli(), to.UnixMilli())
		if err != nil {
			web.WriteError(w, a.log, err)
			return
		}
		out.Lines, out.Differences, out.Totals = Reconcile(rows, steps, day, to)
	}
	web.WriteJSON(w, http.StatusOK, out)
}
