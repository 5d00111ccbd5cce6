package pcf

import (
	"encoding/csv"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/platform/web"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/usage"
)

// Route is the report's route.
const Route = "GET /v1/cf/organizations/{org_guid}/usage-report"

// DateLayout is the form of start and end.
const DateLayout = "2006-01-02"

// MaxQueryBytes bounds a request's query string, before it is parsed.
const MaxQueryBytes = 1024

// API serves the PCF usage report:
//
//	GET /v1/cf/organizations/{org_guid}/usage-report?start=YYYY-MM-DD&end=YYYY-MM-DD[&format=json|csv]
//
// start and end are UTC days, both included, at most MaxDays apart; format=csv, or an Accept
// header preferring text/csv with no format, gives the CSV. A principal needs to read every
// resource of the organization. Bad parameters are 400 with a JSON body naming each problem;
// an organization Cloud Foundry never named and without usage in the range is 404.
type API struct {
	b   *Builder
	log *zap.Logger
}

// NewAPI returns the report's API.
func NewAPI(b *Builder, log *zap.Logger) *API { return &API{b: b, log: log} }

// Register adds the route to mux.
func (a *API) Register(mux *http.ServeMux) { mux.HandleFunc(Route, a.serve) }

var validOrg = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$`).MatchString

// Params are a request's checked parameters.
type Params struct {
	Org   string
	Range Range
	CSV   bool
}

// ParseParams checks the organization, the query string and the Accept header, naming every
// problem at once (fault.Invalid), or fault.TooLarge for a query over MaxQueryBytes.
func ParseParams(org, rawQuery, accept string) (Params, error) {
	if len(rawQuery) > MaxQueryBytes {
		return Params{}, &fault.Error{Kind: fault.KindTooLarge, Message: "query too large",
			Problems: []fault.Problem{{Reason: fmt.Sprintf("%d bytes, more than %d", len(rawQuery), MaxQueryBytes)}}}
	}
	var problems []fault.Problem
	bad := func(field, value, reason string) {
		p := fault.Problem{Field: field, Reason: reason}
		if value != "" {
			p.Value = usage.Echo(value)
		}
		problems = append(problems, p)
	}
	p := Params{Org: org}
	if !validOrg(org) {
		bad("org_guid", org, "an organization guid: letters, digits and ._:- up to 256")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Params{}, fault.Invalid("bad usage report request", fault.Problem{Reason: "not a URL query: " + err.Error()})
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case !slices.Contains([]string{"start", "end", "format"}, k):
			bad(k, strings.Join(q[k], ","), "unknown parameter: start, end and format are known")
		case len(q[k]) > 1:
			bad(k, strings.Join(q[k], ","), "given more than once")
		}
	}
	date := func(field string) time.Time {
		v := q.Get(field)
		if v == "" {
			bad(field, "", "required: a day as YYYY-MM-DD")
			return time.Time{}
		}
		d, err := time.Parse(DateLayout, v)
		if err != nil || d.Year() < 2000 || d.Year() > 9999 {
			bad(field, v, "a day as YYYY-MM-DD, from 2000 to 9999")
			return time.Time{}
		}
		return d
	}
	p.Range.Start, p.Range.End = date("start"), date("end")
	if !p.Range.Start.IsZero() && !p.Range.End.IsZero() {
		switch days := int(p.Range.End.Sub(p.Range.Start).Hours()/24) + 1; {
		case days < 1:
			bad("end", q.Get("end"), "before start "+q.Get("start"))
		case days > MaxDays:
			bad("end", q.Get("end"), fmt.Sprintf("%d days after start: a report covers at most %d days", days-1, MaxDays))
		}
	}
	switch f := q.Get("format"); f {
	case "csv":
		p.CSV = true
	case "json":
	case "":
		p.CSV = prefersCSV(accept)
	default:
		bad("format", f, "json or csv")
	}
	if len(problems) > 0 {
		return Params{}, fault.Invalid("bad usage report request", problems...)
	}
	return p, nil
}

// prefersCSV reports whether accept names text/csv before (or without) application/json.
func prefersCSV(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "text/csv":
			return true
		case "application/json", "*/*":
			return false
		}
	}
	return false
}

func (a *API) serve(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	// Authentication first: a request without credentials learns nothing of its parameters.
	if err := auth.RequireReadsAny(ctx); err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	p, err := ParseParams(req.PathValue("org_guid"), req.URL.RawQuery, req.Header.Get("Accept"))
	if err == nil {
		err = auth.RequireReadAll(ctx, p.Org)
	}
	var rep *Report
	if err == nil {
		rep, err = a.b.Build(ctx, p.Org, p.Range)
	}
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	w.Header().Set("Meterline-Settled", strconv.FormatBool(rep.Settled))
	if !p.CSV {
		web.WriteJSON(w, http.StatusOK, rep)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8; header=present")
	w.Header().Set("Content-Disposition", `attachment; filename="usage-report-`+rep.PeriodStart+`-`+rep.PeriodEnd+`.csv"`)
	w.WriteHeader(http.StatusOK)
	if err := WriteCSV(w, rep); err != nil {
		a.log.Debug("PCF usage report CSV not written whole", zap.Error(err))
	}
}

// CSVHeader is the CSV's header. A row is an app, a service instance's plan, an other usage
// line, a space's total or the organization's total (kind app, service, other, space_total,
// organization_total); the columns a kind has no value for are empty.
var CSVHeader = []string{"organization_guid", "organization_name", "period_start", "period_end", "space_guid", "space_name",
	"kind", "guid", "name", "state", "buildpack", "instance_count", "memory_in_mb_per_instance", "disk_quota_in_mb",
	"memory_mb_hours", "task_memory_mb_hours", "staging_memory_mb_hours", "service_plan_guid", "service_plan_name",
	"service_name", "duration_in_seconds", "resource_id", "metric", "quantity", "unit", "charge"}

// num is n as every report writes it: rounded once, as report.Number's JSON.
func num(n report.Number) string { return plans.Round(n.Decimal()).(decimal.Decimal).String() }

// WriteCSV writes rep as CSV: the header, then per space its apps, services, other usage and
// total, then the organization's total.
func WriteCSV(out io.Writer, rep *Report) error {
	w := csv.NewWriter(out)
	if err := w.Write(CSVHeader); err != nil {
		return err
	}
	row := func(sp *Space, kind string, set map[string]string) error {
		r := make([]string, len(CSVHeader))
		set["organization_guid"], set["organization_name"] = rep.OrganizationGUID, rep.OrganizationName
		set["period_start"], set["period_end"], set["kind"] = rep.PeriodStart, rep.PeriodEnd, kind
		if sp != nil {
			set["space_guid"], set["space_name"] = sp.SpaceGUID, sp.SpaceName
		}
		for i, h := range CSVHeader {
			r[i] = set[h]
		}
		return w.Write(r)
	}
	total := func(t Totals) map[string]string {
		return map[string]string{"instance_count": strconv.FormatInt(t.AppInstances, 10), "memory_mb_hours": num(t.MemoryMBHours),
			"task_memory_mb_hours": num(t.TaskMemoryMBHours), "staging_memory_mb_hours": num(t.StagingMemoryMBHours),
			"duration_in_seconds": num(t.ServiceDurationInSeconds), "charge": num(t.Charge)}
	}
	for i := range rep.Spaces {
		sp := &rep.Spaces[i]
		for _, a := range sp.Apps {
			if err := row(sp, "app", map[string]string{"guid": a.AppGUID, "name": a.AppName, "state": a.State, "buildpack": a.Buildpack,
				"instance_count": strconv.FormatInt(a.InstanceCount, 10), "memory_in_mb_per_instance": strconv.FormatInt(a.MemoryInMBPerInstance, 10),
				"disk_quota_in_mb": strconv.FormatInt(a.DiskQuotaMB, 10), "memory_mb_hours": num(a.MemoryMBHours),
				"task_memory_mb_hours": num(a.TaskMemoryMBHours), "staging_memory_mb_hours": num(a.StagingMemoryMBHours), "charge": num(a.Charge)}); err != nil {
				return err
			}
		}
		for _, s := range sp.Services {
			if err := row(sp, "service", map[string]string{"guid": s.ServiceInstanceGUID, "name": s.ServiceInstanceName,
				"service_plan_guid": s.ServicePlanGUID, "service_plan_name": s.ServicePlanName, "service_name": s.ServiceName,
				"duration_in_seconds": num(s.DurationInSeconds), "charge": num(s.Charge)}); err != nil {
				return err
			}
		}
		for _, o := range sp.Other {
			if err := row(sp, "other", map[string]string{"guid": o.ResourceInstanceID, "name": o.ConsumerID, "resource_id": o.ResourceID,
				"metric": o.Metric, "quantity": num(o.Quantity), "unit": o.Unit, "charge": num(o.Charge)}); err != nil {
				return err
			}
		}
		if err := row(sp, "space_total", total(sp.Totals)); err != nil {
			return err
		}
	}
	if err := row(nil, "organization_total", total(rep.Totals)); err != nil {
		return err
	}
	w.Flush()
	return w.Error()
}
