package vcloudair

import (
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/web"
)

// Route is the reconciliation route.
const Route = "GET /v1/vcloudair/service-groups/{id}/reconciliation/{year}/{month}"

// API serves the reconciliation of a service group's billing month.
type API struct {
	store Store
	log   *zap.Logger
}

// NewAPI returns the reconciliation API over store.
func NewAPI(store Store, log *zap.Logger) *API { return &API{store: store, log: log} }

// Register adds the route to mux.
func (a *API) Register(mux *http.ServeMux) { mux.HandleFunc(Route, a.reconcile) }

var validGroup = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`).MatchString

// parse checks the path's parameters, naming each bad one.
func parse(req *http.Request) (group string, year, month int, err error) {
	var problems []fault.Problem
	group = req.PathValue("id")
	if !validGroup(group) {
		problems = append(problems, fault.Problem{Field: "id", Value: truncate(group), Reason: "a service group id: letters, digits and ._:- up to 128"})
	}
	year, e1 := strconv.Atoi(req.PathValue("year"))
	if e1 != nil || year < 2000 || year > 9999 {
		problems = append(problems, fault.Problem{Field: "year", Value: truncate(req.PathValue("year")), Reason: "a year from 2000 to 9999"})
	}
	month, e2 := strconv.Atoi(req.PathValue("month"))
	if e2 != nil || month < 1 || month > 12 {
		problems = append(problems, fault.Problem{Field: "month", Value: truncate(req.PathValue("month")), Reason: "a month from 1 to 12"})
	}
	if len(problems) > 0 {
		return "", 0, 0, fault.Invalid("bad reconciliation request", problems...)
	}
	return group, year, month, nil
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
	group, year, month, err := parse(req)
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	billed, known, err := a.store.Billed(ctx, group, year, month)
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	if !known {
		// Only an administrator learns that a group does not exist; others are refused below.
		if err := auth.RequireAdmin(ctx); err != nil {
			web.WriteError(w, a.log, err)
			return
		}
		web.WriteError(w, a.log, fault.NotFound("no billed usage of service group %s is stored", group))
		return
	}
	orgs := Organizations(billed)
	if len(orgs) == 0 {
		if err := auth.RequireAdmin(ctx); err != nil {
			web.WriteError(w, a.log, err)
			return
		}
	}
	for _, o := range orgs {
		if err := auth.RequireReadAll(ctx, o); err != nil {
			web.WriteError(w, a.log, err)
			return
		}
	}
	out := Reconciliation{ServiceGroup: group, Year: year, Month: month, Billed: len(billed) > 0, Lines: []Line{}, Differences: []Line{},
		Over: map[string]decimal.Decimal{}}
	if len(billed) > 0 {
		from, to := billed[0].FromMs, billed[0].ToMs
		out.From, out.To = time.UnixMilli(from).UTC().Format(time.RFC3339), time.UnixMilli(to).UTC().Format(time.RFC3339)
		metered, err := a.store.Metered(ctx, orgs, from, to)
		if err != nil {
			web.WriteError(w, a.log, err)
			return
		}
		out.Lines, out.Differences, out.Over = Reconcile(billed, metered)
	}
	web.WriteJSON(w, http.StatusOK, out)
}
