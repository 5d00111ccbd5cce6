package vcloudair

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/clickhouse/vcarows"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/platform/web"
	"github.com/meterline/meterline/internal/report"
)

// The routes of the metering (billable) and billing (billed) views: vCloud Air's own paths,
// which no other Meterline route uses, so that a vCloud Air client pointed at Meterline
// finds them where it looks.
const (
	RouteBillableUsage   = "GET /api/metering/service-instance/{sid}/billable-usage"
	RouteBillableL1      = "GET /api/metering/service-instance/{sid}/l1/{id}/billable-usage"
	RouteBillableL2      = "GET /api/metering/service-instance/{sid}/l2/{id}/billable-usage"
	RouteBillableCosts   = "GET /api/metering/service-group/{id}/billable-costs"
	RouteServiceGroups   = "GET /api/billing/service-groups"
	RouteServiceGroup    = "GET /api/billing/service-group/{id}"
	RouteBilledCosts     = "GET /api/billing/service-group/{id}/billed-costs"
	RouteGroupBilled     = "GET /api/billing/service-group/{id}/billed-usage"
	RouteInstanceBilled  = "GET /api/billing/service-instance/{sid}/billed-usage"
	RouteL1Billed        = "GET /api/billing/service-instance/{sid}/l1/{id}/billed-usage"
	RouteL2Billed        = "GET /api/billing/service-instance/{sid}/l2/{id}/billed-usage"
	notBilledYet         = "not billed yet"
	billedUsageHrefShape = "/api/billing/service-group/%s/billed-usage?month=%d&year=%d"
)

// Routes are the view's routes (for the OpenAPI and auth tests).
var Routes = []string{RouteBillableUsage, RouteBillableL1, RouteBillableL2, RouteBillableCosts, RouteServiceGroups, RouteServiceGroup,
	RouteBilledCosts, RouteGroupBilled, RouteInstanceBilled, RouteL1Billed, RouteL2Billed}

// ViewAPI serves the metering and billing views.
type ViewAPI struct {
	v   *View
	log *zap.Logger
}

// NewViewAPI returns the routes of v.
func NewViewAPI(v *View, log *zap.Logger) *ViewAPI { return &ViewAPI{v: v, log: log} }

// Register adds the routes to mux.
func (a *ViewAPI) Register(mux *http.ServeMux) {
	mux.HandleFunc(RouteBillableUsage, a.billable)
	mux.HandleFunc(RouteBillableL1, a.billable)
	mux.HandleFunc(RouteBillableL2, a.billable)
	mux.HandleFunc(RouteBillableCosts, a.billableCosts)
	mux.HandleFunc(RouteServiceGroups, a.serviceGroups)
	mux.HandleFunc(RouteServiceGroup, a.serviceGroup)
	mux.HandleFunc(RouteBilledCosts, a.billedCosts)
	mux.HandleFunc(RouteGroupBilled, a.billed)
	mux.HandleFunc(RouteInstanceBilled, a.billed)
	mux.HandleFunc(RouteL1Billed, a.billed)
	mux.HandleFunc(RouteL2Billed, a.billed)
}

func (a *ViewAPI) now() time.Time { return clock.Or(a.v.r.Clock).Now().UTC() }

// target is what a request is about: one service instance (with its group) or a group's.
type target struct {
	group vcarows.Group
	sids  []string
	sel   Select
}

func checkID(field, id string, problems []fault.Problem) []fault.Problem {
	if !validGroup(id) {
		problems = append(problems, fault.Problem{Field: field, Value: truncate(id), Reason: "an id: letters, digits and ._:- up to 128"})
	}
	return problems
}

// denyUnknown answers a request about something not stored: 404 for an administrator, 403
// for others (who may not learn what exists).
func denyUnknown(ctx context.Context, what string) error {
	if err := auth.RequireAdmin(ctx); err != nil {
		return err
	}
	return fault.NotFound("%s", what)
}

// groupOf finds group id and its instances, checking the caller reads all of them.
func (a *ViewAPI) groupOf(ctx context.Context, id string) (vcarows.Group, []string, error) {
	if err := auth.RequireReadsAny(ctx); err != nil {
		return vcarows.Group{}, nil, err
	}
	if p := checkID("id", id, nil); len(p) > 0 {
		return vcarows.Group{}, nil, fault.Invalid("bad request", p...)
	}
	groups, err := a.v.dir.Groups(ctx)
	if err != nil {
		return vcarows.Group{}, nil, err
	}
	insts, err := a.v.dir.Instances(ctx)
	if err != nil {
		return vcarows.Group{}, nil, err
	}
	for _, g := range groups {
		if g.ID != id {
			continue
		}
		sids := instancesOf(insts, id)
		if len(sids) == 0 {
			return g, nil, auth.RequireAdmin(ctx)
		}
		for _, s := range sids {
			if err := auth.RequireReadAll(ctx, s); err != nil {
				return g, nil, err
			}
		}
		return g, sids, nil
	}
	return vcarows.Group{}, nil, denyUnknown(ctx, "no service group "+id)
}

func instancesOf(insts []vcarows.Instance, group string) []string {
	var out []string
	for _, in := range insts {
		if in.Group == group {
			out = append(out, in.ID)
		}
	}
	return out
}

// targetOf reads the target of an instance or group route.
func (a *ViewAPI) targetOf(req *http.Request, level string) (target, error) {
	ctx := req.Context()
	if sid := req.PathValue("sid"); sid == "" {
		g, sids, err := a.groupOf(ctx, req.PathValue("id"))
		return target{group: g, sids: sids, sel: Select{Group: true}}, err
	}
	if err := auth.RequireReadsAny(ctx); err != nil {
		return target{}, err
	}
	sid, id := req.PathValue("sid"), req.PathValue("id")
	sel := Select{SID: sid}
	problems := checkID("service-instance-id", sid, nil)
	switch {
	case req.Pattern == RouteBillableL1 || req.Pattern == RouteL1Billed:
		problems, sel.L1 = checkID("l1-id", id, problems), id
	case req.Pattern == RouteBillableL2 || req.Pattern == RouteL2Billed:
		problems, sel.L2 = checkID("l2-id", id, problems), id
		sel.RollupOne = level != "self"
	default:
		sel.RollupOne = level != "self"
	}
	if len(problems) > 0 {
		return target{}, fault.Invalid("bad request", problems...)
	}
	insts, err := a.v.dir.Instances(ctx)
	if err != nil {
		return target{}, err
	}
	for _, in := range insts {
		if in.ID != sid {
			continue
		}
		if err := auth.RequireReadAll(ctx, sid); err != nil {
			return target{}, err
		}
		groups, err := a.v.dir.Groups(ctx)
		if err != nil {
			return target{}, err
		}
		for _, g := range groups {
			if g.ID == in.Group {
				return target{group: g, sids: []string{sid}, sel: sel}, nil
			}
		}
		return target{}, fmt.Errorf("service instance %s names service group %s, which is not stored", sid, in.Group)
	}
	return target{}, denyUnknown(ctx, "no service instance "+sid)
}

// request reads a usage request's parameters and target; the target's errors (unknown,
// not readable) come before the parameters' so that only one who may read it learns more.
func (a *ViewAPI) request(w http.ResponseWriter, req *http.Request, billable bool) (Params, target, bool) {
	p, perr := ParseParams(req.URL.Query(), billable)
	t, err := a.targetOf(req, p.Level)
	if err == nil {
		err = perr
	}
	if err != nil {
		a.fail(w, err)
		return Params{}, target{}, false
	}
	return p, t, true
}

// fail writes err in vCloud Air's error body.
func (a *ViewAPI) fail(w http.ResponseWriter, err error) { writeError(w, a.log, err) }

// checkEntity refuses an L1 or L2 id the instance has no usage of in the answer's span.
func checkEntity(t target, lines []Rated) error {
	if t.sel.L1 == "" && t.sel.L2 == "" {
		return nil
	}
	if len(lines) > 0 {
		return nil
	}
	if t.sel.L1 != "" {
		return fault.NotFound("service instance %s has no usage of L1 entity %s in the period", t.sel.SID, t.sel.L1)
	}
	return fault.NotFound("service instance %s has no usage of L2 entity %s in the period", t.sel.SID, t.sel.L2)
}

func (a *ViewAPI) answer(w http.ResponseWriter, t target, lines []Rated, p Params, from, to time.Time, month, year int) {
	if err := checkEntity(t, lines); err != nil {
		a.fail(w, err)
		return
	}
	out := UsageJSON{Month: month, Year: year, StartTime: vcaTime(from), EndTime: vcaTime(to), Entity: entities(lines, t.group.Currency)}
	if p.Rollup != Span {
		out.Periods = periods(lines, p.Rollup, t.group.Anniversary, to, t.group.Currency)
	}
	web.WriteJSON(w, http.StatusOK, out)
}

// billable answers the billable usage of an instance, its L1 or its L2: the rated usage since
// the end of the last closed billing month (BillToDate, the default), of an open billing
// month, or of a span that starts there or later; the span ends at the last whole hour.
func (a *ViewAPI) billable(w http.ResponseWriter, req *http.Request) {
	p, t, ok := a.request(w, req, true)
	if !ok {
		return
	}
	from, to, month, year, err := a.billableSpan(t.group, p)
	if err != nil {
		a.fail(w, err)
		return
	}
	lines, err := a.v.Lines(req.Context(), t.sids, t.sel, []Piece{{From: from, To: to, AsOf: a.now().UnixMilli()}}, p.Rollup, t.group.Anniversary)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.answer(w, t, lines, p, from, to, month, year)
}

// billableSpan is the span of a billable request: within [unbilled, the last whole hour).
func (a *ViewAPI) billableSpan(g vcarows.Group, p Params) (from, to time.Time, month, year int, err error) {
	now := a.now()
	last := now.Truncate(time.Hour)
	u := a.v.Unbilled(g.Anniversary, now)
	from, to = u, last
	switch {
	case p.HasMonth:
		mf, mt := BillingMonth(g.Anniversary, p.Year, p.Month)
		if !mt.After(u) {
			return from, to, 0, 0, fault.Invalid("bad request", fault.Problem{Field: "month", Value: p.Month,
				Reason: fmt.Sprintf("billing month %d-%02d is billed: read /api/billing/service-group/%s/billed-usage", p.Year, p.Month, g.ID)})
		}
		if mf.After(last) {
			return from, to, 0, 0, fault.Invalid("bad request", fault.Problem{Field: "month", Value: p.Month,
				Reason: fmt.Sprintf("billing month %d-%02d has not begun", p.Year, p.Month)})
		}
		from, to, month, year = mf, earlier(mt, last), p.Month, p.Year
	case p.HasSpan:
		if p.Start.Before(u) {
			return from, to, 0, 0, fault.Invalid("bad request", fault.Problem{Field: "start", Value: vcaTime(p.Start),
				Reason: fmt.Sprintf("before %s, the end of the last billed month: read /api/billing/... billed-usage", vcaTime(u))})
		}
		from, to = p.Start, earlier(p.End, last)
	}
	if to.Before(from) {
		to = from
	}
	return from, to, month, year, nil
}

// billed answers the billed usage of a group, an instance, its L1 or its L2: a closed billing
// month (the last when none is asked), or a span within closed months, each month read as of
// its close.
func (a *ViewAPI) billed(w http.ResponseWriter, req *http.Request) {
	p, t, ok := a.request(w, req, false)
	if !ok {
		return
	}
	ann := t.group.Anniversary
	var from, to time.Time
	var month, year int
	switch {
	case p.HasSpan:
		y, m := a.v.LastClosed(ann, a.now())
		_, end := BillingMonth(ann, y, m)
		if p.End.After(end) {
			a.fail(w, fault.Invalid("bad request", fault.Problem{Field: "end", Value: vcaTime(p.End),
				Reason: fmt.Sprintf("after %s, the end of the last billed month: read /api/metering/... billable-usage", vcaTime(end))}))
			return
		}
		from, to = p.Start, p.End
	default:
		year, month = a.v.LastClosed(ann, a.now())
		if p.HasMonth {
			year, month = p.Year, p.Month
		}
		var end time.Time
		from, end = BillingMonth(ann, year, month)
		if !a.v.Closed(end) {
			web.WriteJSON(w, http.StatusOK, NotBilled{Status: notBilledYet, Month: month, Year: year})
			return
		}
		to = end
	}
	lines, err := a.v.Lines(req.Context(), t.sids, t.sel, a.v.BilledPieces(ann, from, to), p.Rollup, ann)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.answer(w, t, lines, p, from, to, month, year)
}

// billableCosts answers a group's billable costs: its watermark (lastUpdateTime, the last
// whole hour) and the rated cost of its instances' usage not billed yet.
func (a *ViewAPI) billableCosts(w http.ResponseWriter, req *http.Request) {
	g, sids, err := a.groupOf(req.Context(), req.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	from, to, _, _, _ := a.billableSpan(g, Params{})
	lines, err := a.v.Lines(req.Context(), sids, Select{Group: true}, []Piece{{From: from, To: to, AsOf: a.now().UnixMilli()}}, Span, g.Anniversary)
	if err != nil {
		a.fail(w, err)
		return
	}
	total := decimal.Zero
	for _, l := range lines {
		total = total.Add(l.Cost)
	}
	c := CostJSON{Type: "Usage", Amount: report.Number(total)}
	c.Properties.Property = []vcarows.Property{{Name: "startTime", Value: vcaTime(from)}, {Name: "endTime", Value: vcaTime(to)}}
	web.WriteJSON(w, http.StatusOK, CostsJSON{Currency: g.Currency, LastUpdateTime: vcaTime(to), Cost: []CostJSON{c}})
}

// billedCosts answers the cost items vCloud Air billed a group for a closed billing month.
func (a *ViewAPI) billedCosts(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	p, perr := ParseParams(req.URL.Query(), false)
	g, _, err := a.groupOf(ctx, req.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	if perr == nil && p.HasSpan {
		perr = fault.Invalid("bad request", fault.Problem{Field: "start", Value: vcaTime(p.Start), Reason: "billed costs are of a billing month: give month and year"})
	}
	if perr != nil {
		a.fail(w, perr)
		return
	}
	year, month := a.v.LastClosed(g.Anniversary, a.now())
	if p.HasMonth {
		year, month = p.Year, p.Month
	}
	from, to := BillingMonth(g.Anniversary, year, month)
	costs, ok, err := a.v.dir.BilledCosts(ctx, g.ID, year, month)
	if err != nil {
		a.fail(w, err)
		return
	}
	if !ok || !a.v.Closed(to) {
		web.WriteJSON(w, http.StatusOK, NotBilled{Status: notBilledYet, Month: month, Year: year})
		return
	}
	out := CostsJSON{Currency: g.Currency, Month: month, Year: year, StartTime: vcaTime(from), EndTime: vcaTime(to), Cost: []CostJSON{}}
	for _, c := range costs {
		j := CostJSON{Type: c.Type, Amount: report.Number(c.Amount)}
		j.Properties.Property = NonNilProps(c.Properties)
		out.Cost = append(out.Cost, j)
	}
	web.WriteJSON(w, http.StatusOK, out)
}

// NonNilProps is p, or an empty list for nil (written [] rather than null).
func NonNilProps(p []vcarows.Property) []vcarows.Property {
	if p == nil {
		return []vcarows.Property{}
	}
	return p
}

// groupJSON is a group with its closed billed months.
func (a *ViewAPI) groupJSON(ctx context.Context, g vcarows.Group) (ServiceGroupJSON, error) {
	out := ServiceGroupJSON{ID: g.ID, DisplayName: g.Name, BillingCurrency: g.Currency}
	out.BillingAttributes.Attribute = []AttributeJSON{{Name: "anniversaryDate", Value: fmt.Sprint(g.Anniversary)}}
	months, err := a.v.dir.BilledMonths(ctx, g.ID)
	if err != nil {
		return out, err
	}
	out.AvailableBills.Bill = []BillJSON{}
	for _, ym := range months {
		from, to := BillingMonth(g.Anniversary, ym[0], ym[1])
		if !a.v.Closed(to) {
			continue
		}
		var b BillJSON
		b.Link.Rel, b.Link.Href = "billed-usage", fmt.Sprintf(billedUsageHrefShape, url.PathEscape(g.ID), ym[1], ym[0])
		b.BillingPeriod.Month, b.BillingPeriod.Year = ym[1], ym[0]
		b.BillingPeriod.StartDate, b.BillingPeriod.EndDate = vcaTime(from), vcaTime(to.Add(-time.Millisecond))
		out.AvailableBills.Bill = append(out.AvailableBills.Bill, b)
	}
	return out, nil
}

// serviceGroups lists the stored service groups the caller reads every instance of (an
// administrator: all).
func (a *ViewAPI) serviceGroups(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	if err := auth.RequireReadsAny(ctx); err != nil {
		a.fail(w, err)
		return
	}
	groups, err := a.v.dir.Groups(ctx)
	if err != nil {
		a.fail(w, err)
		return
	}
	insts, err := a.v.dir.Instances(ctx)
	if err != nil {
		a.fail(w, err)
		return
	}
	admin := auth.RequireAdmin(ctx) == nil
	var out ServiceGroupsJSON
	out.ServiceGroupList.ServiceGroup = []ServiceGroupJSON{}
	for _, g := range groups {
		sids := instancesOf(insts, g.ID)
		readable := admin || len(sids) > 0
		for _, s := range sids {
			readable = readable && auth.RequireReadAll(ctx, s) == nil
		}
		if !readable {
			continue
		}
		if out.CompanyID == "" {
			out.CompanyID, out.CompanyName = g.Account, g.Account
		}
		j, err := a.groupJSON(ctx, g)
		if err != nil {
			a.fail(w, err)
			return
		}
		out.ServiceGroupList.ServiceGroup = append(out.ServiceGroupList.ServiceGroup, j)
	}
	web.WriteJSON(w, http.StatusOK, out)
}

func (a *ViewAPI) serviceGroup(w http.ResponseWriter, req *http.Request) {
	g, _, err := a.groupOf(req.Context(), req.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	j, err := a.groupJSON(req.Context(), g)
	if err != nil {
		a.fail(w, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, j)
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
