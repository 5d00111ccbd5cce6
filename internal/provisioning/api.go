package provisioning

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/platform/web"
	"github.com/meterline/meterline/internal/usage"
)

// Writer durably writes a record and returns once the catalog reading it has applied it.
type Writer interface {
	Put(ctx context.Context, r catalog.Record) error
}

var _ Writer = (*Store)(nil)

// API serves the provisioning endpoints of seed 001 (plans, plan-id look-ups, resource types)
// and Meterline's own (creating plans, mappings and accounts).
type API struct {
	cat *catalog.Catalog
	w   Writer
	log *zap.Logger
}

// NewAPI returns the API over a catalog and the writer that feeds it.
func NewAPI(cat *catalog.Catalog, w Writer, log *zap.Logger) *API {
	return &API{cat: cat, w: w, log: log}
}

// Register adds the routes to mux. Every route needs a principal (internal/auth): plans,
// mappings, resource types and plan-id look-ups, read or written, need the admin scope, as
// does writing accounts; an account is read by a principal that may read each of its
// organizations.
func (a *API) Register(mux *http.ServeMux) {
	for _, kind := range plans.Kinds {
		mux.HandleFunc("GET /v1/"+kind+"/plans", a.admin(a.listPlans(kind)))
		mux.HandleFunc("GET /v1/"+kind+"/plans/{plan_id}", a.admin(a.getPlan(kind)))
		mux.HandleFunc("POST /v1/"+kind+"/plans", a.admin(a.putPlan(kind)))
		mux.HandleFunc("PUT /v1/"+kind+"/plans/{plan_id}", a.admin(a.putPlan(kind)))
		mux.HandleFunc("GET /v1/"+kind+"/organizations/{organization_id}/resource_types/{resource_type}/plans/{plan_id}/time/{time}/"+kind+"_plan/id", a.admin(a.lookup(kind)))
	}
	mux.HandleFunc("GET /v1/provisioning/resources/{resource_id}/type", a.admin(a.getResourceType))
	mux.HandleFunc("PUT /v1/provisioning/resources/{resource_id}/type", a.admin(a.putResourceType))
	mux.HandleFunc("POST /v1/provisioning/resources/{resource_id}/type", a.admin(a.putResourceType))
	mux.HandleFunc("GET /v1/provisioning/mappings", a.admin(a.listMappings))
	mux.HandleFunc("POST /v1/provisioning/mappings", a.admin(a.postMapping))
	mux.HandleFunc("GET /v1/accounts", a.listAccounts)
	mux.HandleFunc("GET /v1/accounts/{account_id}", a.getAccount)
	mux.HandleFunc("POST /v1/accounts", a.admin(a.putAccount))
	mux.HandleFunc("PUT /v1/accounts/{account_id}", a.admin(a.putAccount))
	mux.HandleFunc("GET /v1/organizations/{organization_id}/account", a.getOrgAccount)
}

// admin serves h to a principal with the admin scope only; the others get 403.
func (a *API) admin(h http.HandlerFunc) http.HandlerFunc { return adminOnly(a.log, h) }

func adminOnly(log *zap.Logger, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := auth.RequireAdmin(r.Context()); err != nil {
			web.WriteError(w, log, err)
			return
		}
		h(w, r)
	}
}

// readableAccount reports whether the request's principal may read acct: an admin, or one
// that may read each of its organizations (an account of none is the admin's only).
func readableAccount(ctx context.Context, acct catalog.Account) bool {
	if p := auth.From(ctx); p != nil && p.Admin {
		return true
	}
	for _, o := range acct.Organizations {
		if !auth.ReadableOrganization(ctx, o) {
			return false
		}
	}
	return len(acct.Organizations) > 0
}

// listAccounts lists the accounts the principal may read.
func (a *API) listAccounts(w http.ResponseWriter, r *http.Request) {
	out := []catalog.Account{}
	for _, acct := range a.cat.Accounts() {
		if readableAccount(r.Context(), acct) {
			out = append(out, acct)
		}
	}
	web.WriteJSON(w, http.StatusOK, out)
}

const maxDocument = 1 << 20

// decode reads a JSON document strictly: unknown fields and trailing data are errors. A body
// over maxDocument bytes is too large; a body that cannot be read otherwise (the client went
// away, a broken chunked encoding) is invalid input.
func decode(r *http.Request, v any) error {
	body, err := web.ReadBody(r, maxDocument)
	if err != nil {
		return err
	}
	return decodeBytes(body, v)
}

// unknownField is the start of encoding/json's message for a field the document's type does
// not have (with DisallowUnknownFields): `json: unknown field "x"`. The package has no typed
// error for it.
const unknownField = "json: unknown field "

func decodeBytes(body []byte, v any) error {
	// encoding/json would replace invalid UTF-8 by U+FFFD: two different ids would be one.
	if !utf8.Valid(body) {
		at := 0
		for at < len(body) {
			r, n := utf8.DecodeRune(body[at:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			at += n
		}
		return fault.Invalid("invalid document", fault.Problem{Reason: fmt.Sprintf("the body is not valid UTF-8 at byte %d", at)})
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fault.Invalid("invalid document", fault.Problem{Field: te.Field, Reason: "must be " + te.Type.String() + ", not " + te.Value})
		}
		if quoted, ok := strings.CutPrefix(err.Error(), unknownField); ok {
			if field, uerr := strconv.Unquote(quoted); uerr == nil {
				return fault.Invalid("invalid document", fault.Problem{Field: usage.Echo(field).(string), Reason: "is not a field of this document"})
			}
		}
		return fault.Invalid("invalid document", fault.Problem{Reason: "malformed JSON: " + err.Error()})
	}
	if dec.More() {
		return fault.Invalid("invalid document", fault.Problem{Reason: "malformed JSON: data after the document"})
	}
	return nil
}

// PutPlan validates and stores a plan document of kind. It returns created false when an
// identical plan is stored already. Plans are immutable: a different document under an
// existing plan id is a conflict, since usage already rated by the old one must stay
// reproducible; a change is a new plan id, mapped with an effective date.
//
// Two writers may race to create one plan id with different documents. Both records reach
// the topic (their keys differ, see catalog.PlanKey), and every reader keeps the first (see
// Catalog.Apply); so once its record is read back, the writer whose document is not the one
// kept answers the conflict too.
func (a *API) PutPlan(ctx context.Context, doc plans.Document) (created bool, err error) {
	if ps := catalog.PlanProblems(doc); len(ps) > 0 {
		return false, fault.Invalid("invalid plan", ps...)
	}
	if _, err := doc.Compile(); err != nil {
		return false, err
	}
	kind, id := doc.Kind(), doc.ID()
	rec, err := catalog.RecordOf(doc)
	if err != nil {
		return false, err
	}
	value := rec.Value
	conflict := fault.Conflict("/v1/"+kind+"/plans/"+id,
		"%s plan %s exists with other content; plans are immutable: submit the change under a new plan_id and map it with an effective_from", kind, id)
	found, same, err := a.storedPlan(kind, id, value)
	switch {
	case err != nil:
		return false, err
	case found && same:
		return false, nil
	case found:
		return false, conflict
	}
	if err := a.w.Put(ctx, rec); err != nil {
		return false, fault.Unavailable(err, "the plan could not be stored; retry later")
	}
	found, same, err = a.storedPlan(kind, id, value)
	switch {
	case err != nil:
		return false, err
	case !found: // the catalog refused a plan the API compiled: a bug, logged by the store
		return false, fmt.Errorf("%s plan %s was written but not applied", kind, id)
	case !same:
		return false, conflict
	}
	return true, nil
}

// storedPlan reports whether a plan of kind is stored under id, and whether its canonical
// JSON is value.
func (a *API) storedPlan(kind, id string, value []byte) (found, same bool, err error) {
	old, ok := a.cat.PlanDoc(kind, id)
	if !ok {
		return false, false, nil
	}
	oldValue, err := json.Marshal(old)
	if err != nil {
		return true, false, err
	}
	return true, bytes.Equal(oldValue, value), nil
}

func (a *API) putPlan(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		doc, err := plans.NewDocument(kind)
		if err != nil {
			web.WriteError(w, a.log, err)
			return
		}
		if err := decode(r, doc); err != nil {
			web.WriteError(w, a.log, err)
			return
		}
		if id := r.PathValue("plan_id"); id != "" && id != doc.ID() {
			web.WriteError(w, a.log, fault.Invalid("invalid plan", fault.Problem{Field: "plan_id", Value: usage.Echo(doc.ID()),
				Reason: fmt.Sprintf("differs from the plan id of the URL (%s)", id)}))
			return
		}
		created, err := a.PutPlan(r.Context(), doc)
		if err != nil {
			web.WriteError(w, a.log, err)
			return
		}
		loc := "/v1/" + kind + "/plans/" + doc.ID()
		w.Header().Set("Location", loc)
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		web.WriteJSON(w, status, doc)
	}
}

func (a *API) listPlans(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		docs := a.cat.PlanDocs(kind)
		if docs == nil {
			docs = []plans.Document{}
		}
		web.WriteJSON(w, http.StatusOK, docs)
	}
}

func (a *API) getPlan(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		doc, ok := a.cat.PlanDoc(kind, r.PathValue("plan_id"))
		if !ok {
			web.WriteError(w, a.log, fault.NotFound("%s plan %s not found", kind, r.PathValue("plan_id")))
			return
		}
		web.WriteJSON(w, http.StatusOK, doc)
	}
}

func writeText(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, s)
}

// parseTime reads a time of the API: epoch milliseconds.
func parseTime(field, s string) (int64, error) {
	t, err := strconv.ParseInt(s, 10, 64)
	if err != nil || t < 0 {
		return 0, fault.Invalid("invalid time", fault.Problem{Field: field, Value: usage.Echo(s), Reason: "must be epoch milliseconds (a whole number, not negative)"})
	}
	return t, nil
}

func (a *API) lookup(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, err := parseTime("time", r.PathValue("time"))
		if err != nil {
			web.WriteError(w, a.log, err)
			return
		}
		org, rt, plan := r.PathValue("organization_id"), r.PathValue("resource_type"), r.PathValue("plan_id")
		id, ok := a.cat.Lookup(kind, org, rt, plan, t)
		if !ok {
			web.WriteError(w, a.log, fault.NotFound("no %s plan is mapped for organization %s, resource type %s, plan %s at %d", kind, org, rt, plan, t))
			return
		}
		writeText(w, id)
	}
}

func (a *API) getResourceType(w http.ResponseWriter, r *http.Request) {
	t, ok := a.cat.ResourceType(r.PathValue("resource_id"))
	if !ok {
		web.WriteError(w, a.log, fault.NotFound("resource %s has no resource type", r.PathValue("resource_id")))
		return
	}
	writeText(w, t)
}

// PutResourceType stores the resource type of a resource id (resource types may change: the
// latest wins). It returns created false when the resource id had a resource type already,
// the same or another.
func (a *API) PutResourceType(ctx context.Context, t catalog.ResourceType) (created bool, err error) {
	if ps := catalog.CheckID(catalog.CheckID(nil, "resource_id", t.ResourceID), "resource_type", t.ResourceType); len(ps) > 0 {
		return false, fault.Invalid("invalid resource type", ps...)
	}
	old, existed := a.cat.ResourceType(t.ResourceID)
	if existed && old == t.ResourceType {
		return false, nil
	}
	rec, err := catalog.RecordOf(t)
	if err != nil {
		return false, err
	}
	if err := a.w.Put(ctx, rec); err != nil {
		return false, fault.Unavailable(err, "the resource type could not be stored; retry later")
	}
	return !existed, nil
}

func (a *API) putResourceType(w http.ResponseWriter, r *http.Request) {
	var t catalog.ResourceType
	if err := decode(r, &t); err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	if t.ResourceID == "" {
		t.ResourceID = r.PathValue("resource_id")
	}
	if t.ResourceID != r.PathValue("resource_id") {
		web.WriteError(w, a.log, fault.Invalid("invalid resource type", fault.Problem{Field: "resource_id", Value: usage.Echo(t.ResourceID), Reason: "differs from the resource id of the URL"}))
		return
	}
	created, err := a.PutResourceType(r.Context(), t)
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	web.WriteJSON(w, map[bool]int{true: http.StatusCreated, false: http.StatusOK}[created], t)
}

func (a *API) listMappings(w http.ResponseWriter, r *http.Request) {
	var out []catalog.Mapping
	for _, kind := range plans.Kinds {
		if k := r.URL.Query().Get("kind"); k == "" || k == kind {
			out = append(out, a.cat.Mappings(kind)...)
		}
	}
	if out == nil {
		out = []catalog.Mapping{}
	}
	web.WriteJSON(w, http.StatusOK, out)
}

// PutMapping validates and stores a mapping; storing the same mapping again changes nothing
// (created false). Mappings are immutable: a mapping to another plan in a slot that is mapped
// already (one kind, organization or all of them, resource type, plan id and effective_from)
// is a conflict, also when another writer stored it first while this one was writing (see
// PutPlan); a change is a new mapping with a later effective_from.
func (a *API) PutMapping(ctx context.Context, m catalog.Mapping) (created bool, err error) {
	if err := a.cat.ValidateMapping(m); err != nil {
		return false, err
	}
	conflict := func(first catalog.Mapping) error {
		return fault.Conflict("/v1/provisioning/mappings?kind="+url.QueryEscape(m.Kind),
			"%s is mapped to %s already; mappings are immutable: map the change with a later effective_from", catalog.SlotName(m), first.Plan)
	}
	if first, ok := a.cat.MappingAt(m); ok {
		if first.Plan == m.Plan {
			return false, nil
		}
		return false, conflict(first)
	}
	rec, err := catalog.RecordOf(m)
	if err != nil {
		return false, err
	}
	if err := a.w.Put(ctx, rec); err != nil {
		return false, fault.Unavailable(err, "the mapping could not be stored; retry later")
	}
	first, ok := a.cat.MappingAt(m)
	switch {
	case !ok: // the catalog refused a mapping the API validated: a bug, logged by the store
		return false, fmt.Errorf("%s was written but not applied", catalog.SlotName(m))
	case first.Plan != m.Plan:
		return false, conflict(first)
	}
	return true, nil
}

func (a *API) postMapping(w http.ResponseWriter, r *http.Request) {
	var m catalog.Mapping
	if err := decode(r, &m); err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	created, err := a.PutMapping(r.Context(), m)
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	web.WriteJSON(w, map[bool]int{true: http.StatusCreated, false: http.StatusOK}[created], m)
}

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// PutAccount validates and stores an account (accounts are mutable: the latest wins). It
// returns created false when the account was stored already, changed or not.
func (a *API) PutAccount(ctx context.Context, acct catalog.Account) (created bool, err error) {
	ps := catalog.AccountProblems(acct)
	if !currencyCode.MatchString(acct.Currency) {
		ps = append(ps, fault.Problem{Field: "currency", Value: usage.Echo(acct.Currency), Reason: "must be an ISO 4217 code such as USD"})
	}
	named := make(map[string]bool, len(ps))
	for _, p := range ps {
		named[p.Field] = true
	}
	for i, o := range acct.Organizations {
		field := fmt.Sprintf("organizations[%d]", i)
		if named["organizations"] || named[field] {
			continue // a list over its limit, or an id found wrong already
		}
		if slices.Index(acct.Organizations, o) != i {
			ps = append(ps, fault.Problem{Field: field, Value: o, Reason: "is listed twice"})
		} else if other, ok := a.cat.AccountOf(o); ok && other.AccountID != acct.AccountID {
			ps = append(ps, fault.Problem{Field: field, Value: o, Reason: "belongs to account " + other.AccountID})
		}
	}
	if len(ps) > 0 {
		return false, fault.Invalid("invalid account", ps...)
	}
	old, existed := a.cat.Account(acct.AccountID)
	if existed && accountsEqual(old, acct) {
		return false, nil
	}
	rec, err := catalog.RecordOf(acct)
	if err != nil {
		return false, err
	}
	if err := a.w.Put(ctx, rec); err != nil {
		return false, fault.Unavailable(err, "the account could not be stored; retry later")
	}
	return !existed, nil
}

func accountsEqual(a, b catalog.Account) bool {
	return a.AccountID == b.AccountID && a.Name == b.Name && a.PricingCountry == b.PricingCountry &&
		a.Currency == b.Currency && slices.Equal(a.Organizations, b.Organizations)
}

func (a *API) putAccount(w http.ResponseWriter, r *http.Request) {
	var acct catalog.Account
	if err := decode(r, &acct); err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	if id := r.PathValue("account_id"); id != "" {
		if acct.AccountID == "" {
			acct.AccountID = id
		}
		if acct.AccountID != id {
			web.WriteError(w, a.log, fault.Invalid("invalid account", fault.Problem{Field: "account_id", Value: usage.Echo(acct.AccountID), Reason: "differs from the account id of the URL"}))
			return
		}
	}
	created, err := a.PutAccount(r.Context(), acct)
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	w.Header().Set("Location", "/v1/accounts/"+acct.AccountID)
	web.WriteJSON(w, map[bool]int{true: http.StatusCreated, false: http.StatusOK}[created], acct)
}

// getAccount answers an account the principal may not read 404, like a missing one, so that
// account ids cannot be probed.
func (a *API) getAccount(w http.ResponseWriter, r *http.Request) {
	acct, ok := a.cat.Account(r.PathValue("account_id"))
	if !ok || !readableAccount(r.Context(), acct) {
		web.WriteError(w, a.log, fault.NotFound("account %s not found", r.PathValue("account_id")))
		return
	}
	web.WriteJSON(w, http.StatusOK, acct)
}

// getOrgAccount answers 403 for an organization the principal may not read (the organization
// is the caller's to name, as in the reports' paths).
func (a *API) getOrgAccount(w http.ResponseWriter, r *http.Request) {
	org := r.PathValue("organization_id")
	if err := auth.RequireReadSome(r.Context(), org); err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	acct, _ := a.cat.AccountOf(org)
	web.WriteJSON(w, http.StatusOK, acct)
}

// LoadBuiltin stores the built-in sample plans, their mappings (effective from time 0) and
// the resource types of their resources. It writes each only where nothing is stored yet: a
// plan id, mapping slot or resource id that has anything stored (a user's own plan, mapping
// or resource type included) is left as it is, so running it at every start never reverts a
// change. A built-in that another writer stores first while this runs is left to it too.
func (a *API) LoadBuiltin(ctx context.Context) error {
	b, err := plans.LoadBuiltin()
	if err != nil {
		return err
	}
	for _, v := range catalog.Builtins(b) {
		switch v := v.(type) {
		case plans.Document:
			if _, ok := a.cat.PlanDoc(v.Kind(), v.ID()); ok {
				continue
			}
			if _, err := a.PutPlan(ctx, v); err != nil && fault.KindOf(err) != fault.KindConflict {
				return fmt.Errorf("built-in %s plan %s: %w", v.Kind(), v.ID(), err)
			}
		case catalog.ResourceType:
			if _, ok := a.cat.ResourceType(v.ResourceID); ok {
				continue
			}
			if _, err := a.PutResourceType(ctx, v); err != nil {
				return fmt.Errorf("built-in resource type %s: %w", v.ResourceID, err)
			}
		case catalog.Mapping:
			if _, ok := a.cat.MappingAt(v); ok {
				continue
			}
			if _, err := a.PutMapping(ctx, v); err != nil && fault.KindOf(err) != fault.KindConflict {
				return fmt.Errorf("built-in %s mapping %s/%s: %w", v.Kind, v.ResourceType, v.PlanID, err)
			}
		}
	}
	return nil
}
