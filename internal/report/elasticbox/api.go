package elasticbox

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/metadata/ebdetails"
)

// The routes: the JSON and the CSV report of an organization's days start..end (inclusive).
const (
	ReportRoute = "GET /services/organizations/{organization}/report/{start}/{end}"
	CSVRoute    = "GET /services/organizations/{organization}/csv/{start}/{end}"
)

// DayLayout is the format of start and end; TimeLayout ElasticBox's times (UTC).
const (
	DayLayout  = "2006-01-02"
	TimeLayout = "2006-01-02 15:04:05.000000"
)

// MaxDays bounds a report's period.
const MaxDays = 366

// maxOrganization bounds an organization's name (the documents' ids have at most 256 bytes).
const maxOrganization = 256

// ServiceSchema is the schema of the service objects, as ElasticBox writes it.
const ServiceSchema = "http://elasticbox.net/schemas/service"

// CSVHeader is the 21 columns of ElasticBox's CSV report.
var CSVHeader = []string{"SERVICE_ID", "DAY (in Date Range)", "SIZE", "REGION", "PROVIDER_TYPE", "PROVIDER_ID", "PROFILE_SCHEMA",
	"CREATED (UTC)", "TYPE", "COST (cents of $)", "EVENT_TYPE", "INSTANCES", "SIZE.CPU", "SIZE.MEMORY", "SIZE.DISK", "CPU UNIT",
	"MEMORY UNIT", "DISK UNIT", "ALLOCATED.CPU (Max.)", "ALLOCATED.MEMORY (Max.)", "ALLOCATED.DISK (Max.)"}

// API serves the ElasticBox reports.
type API struct {
	store Store
	scale int64
	log   *zap.Logger
}

// NewAPI returns the reports over store, costs in scale units per US dollar (100: cents).
func NewAPI(store Store, scale int64, log *zap.Logger) *API {
	if scale < 1 {
		scale = ebdetails.DefaultCostScale
	}
	return &API{store: store, scale: scale, log: log}
}

// Register adds the routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc(ReportRoute, func(w http.ResponseWriter, r *http.Request) { a.serve(w, r, false) })
	mux.HandleFunc(CSVRoute, func(w http.ResponseWriter, r *http.Request) { a.serve(w, r, true) })
}

// Error is ElasticBox's error body, {"message": ...}, with the problems of a bad request
// named one by one.
type Error struct {
	Message  string          `json:"message"`
	Problems []fault.Problem `json:"problems,omitempty"`
}

func writeError(w http.ResponseWriter, status int, e Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

func echo(s string) string {
	if len(s) <= 64 {
		return s
	}
	for i := 64; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return "…"
}

// parse checks the path's parameters, naming each bad one.
func parse(req *http.Request) (org string, first, last time.Time, problems []fault.Problem) {
	org = req.PathValue("organization")
	if org == "" || len(org) > maxOrganization || !utf8.ValidString(org) {
		problems = append(problems, fault.Problem{Field: "organization", Value: echo(org), Reason: "an organization name of 1 to 256 bytes of UTF-8"})
	}
	var okStart, okEnd bool
	for _, p := range []struct {
		field string
		dst   *time.Time
		ok    *bool
	}{{"start", &first, &okStart}, {"end", &last, &okEnd}} {
		v := req.PathValue(p.field)
		t, err := time.ParseInLocation(DayLayout, v, time.UTC)
		if err != nil || len(v) != len(DayLayout) {
			problems = append(problems, fault.Problem{Field: p.field, Value: echo(v), Reason: "Wrong date format: a day YYYY-MM-DD"})
			continue
		}
		*p.dst, *p.ok = t, true
	}
	if okStart && okEnd {
		switch {
		case last.Before(first):
			problems = append(problems, fault.Problem{Field: "end", Value: last.Format(DayLayout), Reason: "not before start " + first.Format(DayLayout)})
		case last.Sub(first) >= MaxDays*24*time.Hour:
			problems = append(problems, fault.Problem{Field: "end", Value: last.Format(DayLayout), Reason: "at most 366 days from start"})
		}
	}
	return org, first, last, problems
}

func (a *API) serve(w http.ResponseWriter, req *http.Request, asCSV bool) {
	ctx := req.Context()
	org, first, last, problems := parse(req)
	if len(problems) > 0 {
		msg := "Wrong date format"
		if problems[0].Field == "organization" {
			msg = "Wrong organization"
		}
		writeError(w, http.StatusBadRequest, Error{Message: msg, Problems: problems})
		return
	}
	if err := auth.RequireRead(ctx, org, Resource); err != nil {
		a.fail(w, err)
		return
	}
	docs, err := a.store.Docs(ctx, org, first.UnixMilli(), last.AddDate(0, 0, 1).UnixMilli())
	if err != nil {
		a.fail(w, err)
		return
	}
	if len(docs) == 0 {
		known, err := a.store.Known(ctx, org)
		if err != nil {
			a.fail(w, err)
			return
		}
		if !known {
			writeError(w, http.StatusNotFound, Error{Message: "Organization not found: no ElasticBox usage of organization " + echo(org) + " is stored"})
			return
		}
	}
	var dets []Detail
	if len(docs) > 0 {
		if dets, err = a.store.Details(ctx, org, first.UnixMilli(), last.AddDate(0, 0, 1).UnixMilli()); err != nil {
			a.fail(w, err)
			return
		}
	}
	insts := Build(org, docs, dets, first, last, a.scale)
	if asCSV {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(CSV(insts))
		return
	}
	body, err := json.Marshal(JSON(org, insts))
	if err != nil {
		a.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (a *API) fail(w http.ResponseWriter, err error) {
	var fe *fault.Error
	msg := err.Error()
	if errors.As(err, &fe) {
		msg = fe.Message
	}
	switch fault.KindOf(err) {
	case fault.KindUnauthenticated:
		writeError(w, http.StatusUnauthorized, Error{Message: msg})
	case fault.KindForbidden:
		writeError(w, http.StatusForbidden, Error{Message: "User not authorized to get the reports: " + msg})
	case fault.KindUnavailable:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, Error{Message: "The usage store cannot answer now; try again later."})
	default:
		a.log.Error("elasticbox report failed", zap.Error(err))
		writeError(w, http.StatusInternalServerError, Error{Message: "Internal error"})
	}
}

// Report is the JSON report: the cost per instance and day, with the service.
type Report struct {
	Cost []Entry `json:"cost"`
}

// Entry is one instance's costs, one per day of the period, and its service.
type Entry struct {
	Cost    []json.Number `json:"cost"`
	Service Service       `json:"service"`
}

// Service is what the documents tell of the service instance, in ElasticBox's fields; a
// field no document tells is left out.
type Service struct {
	ID           string         `json:"id"`
	Organization string         `json:"organization"`
	Schema       string         `json:"schema"`
	ProviderID   string         `json:"provider_id,omitempty"`
	Type         string         `json:"type,omitempty"`
	Operation    string         `json:"operation,omitempty"`
	Created      string         `json:"created,omitempty"`
	Deleted      string         `json:"deleted,omitempty"`
	Profile      Profile        `json:"profile"`
	StateHistory []StateHistory `json:"state_history"`
}

// Profile is the service's deployment profile.
type Profile struct {
	Flavor    string       `json:"flavor,omitempty"`
	Location  string       `json:"location,omitempty"`
	Cloud     string       `json:"cloud,omitempty"`
	Schema    string       `json:"schema,omitempty"`
	Instances *json.Number `json:"instances,omitempty"`
}

// StateHistory is one change of the instance's state.
type StateHistory struct {
	Started   string `json:"started"`
	State     string `json:"state"`
	Completed string `json:"completed,omitempty"`
}

func ts(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(TimeLayout)
}

func num(d *decimal.Decimal) *json.Number {
	if d == nil {
		return nil
	}
	n := json.Number(d.String())
	return &n
}

// JSON is the JSON report of org's instances.
func JSON(org string, insts []Instance) Report {
	out := Report{Cost: make([]Entry, 0, len(insts))}
	for _, in := range insts {
		d := in.Details
		e := Entry{Cost: make([]json.Number, len(in.Days)), Service: Service{ID: in.ID, Organization: org, Schema: ServiceSchema,
			ProviderID: in.ProviderID, Type: d.Type, Operation: d.Operation, Created: ts(d.Created), Deleted: ts(d.Deleted),
			Profile:      Profile{Flavor: d.Size, Location: d.Region, Cloud: d.Cloud, Schema: d.ProfileSchema, Instances: num(d.Instances)},
			StateHistory: make([]StateHistory, 0, len(d.States))}}
		for i, day := range in.Days {
			e.Cost[i] = json.Number(day.Cost.String())
		}
		for _, s := range d.States {
			e.Service.StateHistory = append(e.Service.StateHistory, StateHistory{Started: ts(&s.Started), State: s.State, Completed: ts(s.Completed)})
		}
		out.Cost = append(out.Cost, e)
	}
	return out
}

// CSV is the CSV report: one row per instance and day, in CSVHeader's columns; a detail no
// document tells is empty.
func CSV(insts []Instance) []byte {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write(CSVHeader)
	str := func(d *decimal.Decimal) string {
		if d == nil {
			return ""
		}
		return d.String()
	}
	row := make([]string, len(CSVHeader))
	for _, in := range insts {
		for _, day := range in.Days {
			d := day.Details
			providerType := d.ProviderType
			if providerType == "" {
				providerType = ebdetails.ProviderTypeOf(d.ProfileSchema, d.Cloud)
			}
			row = append(row[:0], in.ID, day.Day.Format(DayLayout), d.Size, d.Region, providerType, in.ProviderID, d.ProfileSchema,
				ts(d.Created), d.Type, day.Cost.String(), day.EventType(), str(d.Instances), str(d.CPU), str(d.Memory), str(d.Disk),
				d.CPUUnit, d.MemoryUnit, d.DiskUnit, str(day.Allocated(d.CPU)), str(day.Allocated(d.Memory)), str(day.Allocated(d.Disk)))
			_ = cw.Write(row)
		}
	}
	cw.Flush()
	return buf.Bytes()
}
