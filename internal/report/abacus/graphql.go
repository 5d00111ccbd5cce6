package abacus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/schemas"
)

// GraphQL answers GraphQL queries of aggregated usage with schemas/graphql's schema. A query
// is parsed, measured against its Limits and validated against the schema, then each root
// field builds its reports (reading only the scopes the query selects) and the result is the
// selected fields of them.
type GraphQL struct {
	r        *Reports
	accounts Accounts
	schema   *ast.Schema
	limits   Limits
	windows  int // the windows of a report: the slots of every level
}

// NewGraphQL returns the GraphQL endpoint's executor, with DefaultLimits.
func NewGraphQL(r *Reports, accounts Accounts) (*GraphQL, error) {
	sdl, err := schemas.GraphQL.ReadFile("graphql/aggregated-usage.graphql")
	if err != nil {
		return nil, err
	}
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "aggregated-usage.graphql", Input: string(sdl)})
	if err != nil {
		return nil, fmt.Errorf("graphql schema: %w", err)
	}
	for _, t := range s.Types {
		if t.Kind == ast.Interface || t.Kind == ast.Union {
			return nil, fmt.Errorf("graphql schema: %s is abstract; GraphQL.measure's check of overlapping fields assumes no type is", t.Name)
		}
	}
	windows := 0
	for _, n := range r.r.Slots {
		windows += n
	}
	return &GraphQL{r: r, accounts: accounts, schema: s, limits: DefaultLimits, windows: windows}, nil
}

// Accounts tells which organizations an account owns.
type Accounts interface {
	Account(id string) (catalog.Account, bool)
}

// validation is gqlparser's rules but OverlappingFieldsCanBeMerged, which GraphQL.measure
// checks in linear time.
var validation = func() *rules.Rules {
	r := rules.NewDefaultRules()
	r.RemoveRule(rules.OverlappingFieldsCanBeMergedRule.Name)
	return r
}()

// MaxOrganizations bounds the organization reports one query builds (over all its root
// fields), so that one request cannot read without end.
const MaxOrganizations = 100

// Request is a GraphQL request.
type Request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName,omitempty"`
	Variables     map[string]any `json:"variables,omitempty"`
}

// Response is a GraphQL response: the data, and the errors met on the way.
type Response struct {
	Data   *Object       `json:"data,omitempty"`
	Errors gqlerror.List `json:"errors,omitempty"`
	// Kind is the kind of the first error, for the HTTP status; it means nothing without errors.
	Kind fault.Kind `json:"-"`
}

// Execute runs a request. A query that cannot run (over a limit, not valid, or asking for no
// query) gives a Response without data, of kind fault.KindInvalid (fault.KindTooLarge for a
// query over Limits.QueryBytes); so does one stopped while it runs: by ctx ending (the client
// left, fault.KindUnavailable), by Limits.Time (fault.KindUnavailable) or by its answer
// passing Limits.AnswerBytes (fault.KindTooLarge). A root field that fails otherwise is null
// and its error names its path.
func (g *GraphQL) Execute(ctx context.Context, req Request) *Response {
	if err := ctx.Err(); err != nil {
		return refuse(fault.Unavailable(err, "the request was cancelled"))
	}
	doc, err := g.parse(req.Query)
	if err != nil {
		return refuse(err)
	}
	// Before validation, so that only a bounded query is validated (and without gqlparser's
	// rule that is quadratic in fields: measure checks it).
	if _, err := g.measure(doc, req.OperationName, req.Variables); err != nil {
		return refuse(err)
	}
	if errs := validator.ValidateWithRules(g.schema, doc, validation); len(errs) > 0 {
		return &Response{Errors: errs, Kind: fault.KindInvalid}
	}
	op := doc.Operations.ForName(req.OperationName)
	if op == nil {
		msg := "the document has several operations; name one in operationName"
		if req.OperationName != "" {
			msg = fmt.Sprintf("no operation named %q", req.OperationName)
		}
		return &Response{Errors: gqlerror.List{gqlerror.Errorf("%s", msg)}, Kind: fault.KindInvalid}
	}
	if op.Operation != ast.Query {
		return &Response{Errors: gqlerror.List{gqlerror.Errorf("only queries are served, not %s", op.Operation)}, Kind: fault.KindInvalid}
	}
	if err := intVariables(op, req.Variables); err != nil {
		return refuse(err)
	}
	vars, err := validator.VariableValues(g.schema, op, req.Variables)
	if err != nil {
		return &Response{Errors: gqlerror.List{gqlerror.WrapIfUnwrapped(err)}, Kind: fault.KindInvalid}
	}
	run, cancel := context.WithTimeout(ctx, g.limits.Time)
	defer cancel()
	ex := &execution{g: g, doc: doc, vars: vars, ctx: run, client: ctx, fields: map[*ast.Field][]*ast.Field{}}
	data := &Object{}
	resp := &Response{Data: data}
	if err := ex.grow(2); err != nil {
		return refuse(err)
	}
	for i, f := range ex.collect(op.SelectionSet) {
		if err := ex.stopped(); err != nil {
			return refuse(err)
		}
		if err := ex.grow(keySize(i, f.Alias)); err != nil {
			return refuse(err)
		}
		v, err := ex.root(f)
		if err != nil {
			// A limit passed, or a store that failed because the request ended, stops it all.
			if err := ex.stopped(); err != nil {
				return refuse(err)
			}
			if ex.over != nil {
				return refuse(ex.over)
			}
			resp.Errors = append(resp.Errors, gqlError(err, f.Position, ast.Path{ast.PathName(f.Alias)}))
			if len(resp.Errors) == 1 {
				resp.Kind = fault.KindOf(err)
			}
			if v = nil; ex.grow(jsonSize(nil)) != nil {
				return refuse(ex.over)
			}
		}
		data.Set(f.Alias, v)
	}
	return resp
}

// parse parses a query that has at most Limits.QueryBytes and at least one operation.
func (g *GraphQL) parse(query string) (*ast.QueryDocument, error) {
	if len(query) > g.limits.QueryBytes {
		return nil, &fault.Error{Kind: fault.KindTooLarge, Message: "query too large", Problems: []fault.Problem{{Field: "query",
			Reason: fmt.Sprintf("%d bytes, more than the %d bytes a query may have", len(query), g.limits.QueryBytes)}}}
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return nil, err
	}
	if len(doc.Operations) == 0 {
		return nil, fault.Invalid("no query", fault.Problem{Field: "query",
			Reason: `the request has no operation; send one such as { organization(organization_id: "o") { id } }`})
	}
	return doc, nil
}

// refuse is the response to a request that does not run to its end: one error, no data.
func refuse(err error) *Response {
	var ge *gqlerror.Error
	if errors.As(err, &ge) {
		return &Response{Errors: gqlerror.List{ge}, Kind: fault.KindInvalid}
	}
	var l *located
	var pos *ast.Position
	if errors.As(err, &l) {
		pos = l.pos
	}
	return &Response{Errors: gqlerror.List{gqlError(err, pos, nil)}, Kind: fault.KindOf(err)}
}

// gqlError is err for a client, at pos in the query and path in the answer: its message, and
// in extensions its kind (code) and its problems (field, value, reason) when it has some.
func gqlError(err error, pos *ast.Position, path ast.Path) *gqlerror.Error {
	ge := &gqlerror.Error{Message: message(err), Path: path, Extensions: map[string]any{"code": fault.KindOf(err).String()}}
	ge.Err = err // for the server's log; clients see message(err)
	if pos != nil {
		ge.Locations = []gqlerror.Location{{Line: pos.Line, Column: pos.Column}}
	}
	var fe *fault.Error
	if errors.As(err, &fe) && len(fe.Problems) > 0 {
		ge.Extensions["problems"] = fe.Problems
	}
	return ge
}

// message is an error's text for a client: a fault's message with its problems, no internals.
func message(err error) string {
	var fe *fault.Error
	if errors.As(err, &fe) {
		msg := fe.Message
		for _, p := range fe.Problems {
			msg += "; " + p.String()
		}
		return msg
	}
	return "internal error"
}

type execution struct {
	g       *GraphQL
	doc     *ast.QueryDocument
	vars    map[string]any
	ctx     context.Context // ends when client does, or at Limits.Time
	client  context.Context // the request's own, which ends when its client leaves
	reports int             // organization reports built so far
	answer  int             // bytes of the answer's JSON built so far
	over    error           // the answer passed Limits.AnswerBytes
	fields  map[*ast.Field][]*ast.Field
}

// budget counts n more organization reports against MaxOrganizations per query.
func (ex *execution) budget(n int) error {
	ex.reports += n
	if ex.reports > MaxOrganizations {
		return fault.Invalid("too many organizations", fault.Problem{Value: ex.reports,
			Reason: fmt.Sprintf("a query reports at most %d organizations", MaxOrganizations)})
	}
	return nil
}

// grow counts n more bytes of the answer against Limits.AnswerBytes.
func (ex *execution) grow(n int) error {
	if ex.answer += n; ex.answer > ex.g.limits.AnswerBytes && ex.over == nil {
		ex.over = &fault.Error{Kind: fault.KindTooLarge, Message: "answer too large", Problems: []fault.Problem{{Field: "query",
			Reason: fmt.Sprintf("the answer would have more than the %d bytes one may have; ask for fewer organizations or fields",
				ex.g.limits.AnswerBytes)}}}
	}
	return ex.over
}

// keySize is the JSON of an object's key (a comma before it unless it is the first, and its
// colon).
func keySize(i int, key string) int {
	n := jsonStringSize(key) + 1
	if i > 0 {
		n++
	}
	return n
}

// stopped is the error of a query whose context ended: its client left, or it ran longer than
// Limits.Time. Nobody reads the answer of the first; the second may run when the store is
// less busy.
func (ex *execution) stopped() error {
	err := ex.ctx.Err()
	switch {
	case err == nil:
		return nil
	case ex.client.Err() != nil:
		return fault.Unavailable(err, "the request was cancelled")
	default:
		return fault.Unavailable(err, "the query ran longer than %s; ask for fewer organizations or fields", ex.g.limits.Time)
	}
}

// collect returns the fields of a selection set, fragments spread and @skip/@include applied,
// and the fields of one response key merged into one (their selections together), in the
// order the keys first appear, as GraphQL's CollectFields does. Validation has made sure
// fields of one key can merge: same name, same arguments.
func (ex *execution) collect(set ast.SelectionSet) []*ast.Field {
	var out []*ast.Field
	at := map[string]int{}
	ex.collectInto(set, &out, at)
	return out
}

func (ex *execution) collectInto(set ast.SelectionSet, out *[]*ast.Field, at map[string]int) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if !ex.included(s.Directives) {
				continue
			}
			i, seen := at[s.Alias]
			if !seen {
				at[s.Alias] = len(*out)
				*out = append(*out, s)
				continue
			}
			merged := *(*out)[i]
			merged.SelectionSet = append(append(ast.SelectionSet{}, merged.SelectionSet...), s.SelectionSet...)
			(*out)[i] = &merged
		case *ast.InlineFragment:
			if ex.included(s.Directives) {
				ex.collectInto(s.SelectionSet, out, at)
			}
		case *ast.FragmentSpread:
			if fr := ex.doc.Fragments.ForName(s.Name); fr != nil && ex.included(s.Directives) {
				ex.collectInto(fr.SelectionSet, out, at)
			}
		}
	}
}

func (ex *execution) included(ds ast.DirectiveList) bool {
	for _, d := range ds {
		v, _ := d.ArgumentMap(ex.vars)["if"].(bool)
		if (d.Name == "skip" && v) || (d.Name == "include" && !v) {
			return false
		}
	}
	return true
}

// fieldsOf is collect of a field's selection set, collected once per field: a list's items
// share it.
func (ex *execution) fieldsOf(f *ast.Field) []*ast.Field {
	fs, ok := ex.fields[f]
	if !ok {
		fs = ex.collect(f.SelectionSet)
		ex.fields[f] = fs
	}
	return fs
}

// selects reports whether a field named name is selected anywhere under f.
func (ex *execution) selects(f *ast.Field, name string) bool {
	for _, sub := range ex.fieldsOf(f) {
		if sub.Name == name || ex.selects(sub, name) {
			return true
		}
	}
	return false
}

func (ex *execution) root(f *ast.Field) (any, error) {
	switch f.Name {
	case "__typename":
		return "Query", ex.grow(jsonSize("Query"))
	case "__schema", "__type":
		return nil, fault.Invalid("introspection is not served", fault.Problem{Field: f.Name,
			Reason: "the schema is schemas/graphql/aggregated-usage.graphql in Meterline's repository"})
	}
	args := f.ArgumentMap(ex.vars)
	t, err := ex.time(args["time"])
	if err != nil {
		return nil, err
	}
	str := func(name string) string { s, _ := args[name].(string); return s }
	if err := ex.authorize(ex.ctx, f.Name, args); err != nil {
		return nil, err
	}
	sc := Scopes{Spaces: ex.selects(f, "spaces"), Consumers: ex.selects(f, "consumers")}
	switch f.Name {
	case "organization":
		if err := ex.budget(1); err != nil {
			return nil, err
		}
		rep, err := ex.g.r.Organization(ex.ctx, str("organization_id"), t, sc)
		if err != nil {
			return nil, err
		}
		return ex.project(rep, f)
	case "organizations", "account":
		var orgs []string
		if f.Name == "account" {
			a, ok := ex.g.accounts.Account(str("account_id"))
			if !ok {
				return nil, fault.NotFound("no account %s", str("account_id"))
			}
			orgs = a.Organizations
		} else {
			ids, _ := args["organization_ids"].([]any)
			for _, id := range ids {
				if s, ok := id.(string); ok {
					orgs = append(orgs, s)
				}
			}
		}
		if err := ex.budget(len(orgs)); err != nil {
			return nil, err
		}
		// Organizations without usage in the report's windows are left out, not errors. Each
		// report is projected as it is built, so that one at a time is held whole.
		reps := []any{}
		if err := ex.grow(2); err != nil {
			return nil, err
		}
		for _, org := range orgs {
			if err := ex.stopped(); err != nil {
				return nil, err
			}
			rep, err := ex.g.r.Organization(ex.ctx, org, t, sc)
			if fault.KindOf(err) == fault.KindNotFound {
				continue
			}
			if err != nil {
				return nil, err
			}
			if len(reps) > 0 {
				if err := ex.grow(1); err != nil {
					return nil, err
				}
			}
			v, err := ex.project(rep, f)
			if err != nil {
				return nil, err
			}
			reps = append(reps, v)
		}
		return reps, nil
	case "resource_instance":
		rep, err := ex.g.r.Instance(ex.ctx, InstanceKey{Org: str("organization_id"), Instance: str("resource_instance_id"),
			Consumer: str("consumer_id"), PlanIDs: report.PlanIDs{PlanID: str("plan_id"), MeteringPlanID: str("metering_plan_id"),
				RatingPlanID: str("rating_plan_id"), PricingPlanID: str("pricing_plan_id")}}, t)
		if err == nil {
			err = auth.RequireRead(ex.ctx, rep.OrganizationID, rep.ResourceID)
		}
		if err != nil {
			return nil, err
		}
		return ex.project(rep, f)
	}
	return nil, fmt.Errorf("no resolver for field %s", f.Name)
}

// time reads a time argument: epoch milliseconds, the present when absent.
func (ex *execution) time(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return ex.g.r.r.ParseTime("")
	case int64:
		return ex.g.r.r.ParseTime(strconv.FormatInt(x, 10))
	case float64:
		return ex.g.r.r.ParseTime(strconv.FormatFloat(x, 'f', -1, 64))
	case json.Number:
		return ex.g.r.r.ParseTime(x.String())
	default:
		return 0, fault.Invalid("invalid report time", fault.Problem{Field: "time", Value: fmt.Sprint(v), Reason: "not epoch milliseconds"})
	}
}

// project returns the fields f selects of a report, in the query's order.
func (ex *execution) project(rep any, f *ast.Field) (any, error) {
	b, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	return ex.selectFields(tree, f)
}

// selectFields returns the fields f selects of v, counting the answer as it grows and
// stopping between a list's items when the query is stopped.
func (ex *execution) selectFields(v any, f *ast.Field) (any, error) {
	switch x := v.(type) {
	case []any:
		if err := ex.grow(2 + max(len(x)-1, 0)); err != nil {
			return nil, err
		}
		out := make([]any, len(x))
		for i, e := range x {
			if err := ex.stopped(); err != nil {
				return nil, err
			}
			var err error
			if out[i], err = ex.selectFields(e, f); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		if len(f.SelectionSet) == 0 {
			return x, ex.grow(jsonSize(x)) // a Value scalar that is an object
		}
		if err := ex.grow(2); err != nil {
			return nil, err
		}
		obj := &Object{}
		for i, sub := range ex.fieldsOf(f) {
			if err := ex.grow(keySize(i, sub.Alias)); err != nil {
				return nil, err
			}
			if sub.Name == "__typename" {
				name := typeName(f)
				if err := ex.grow(jsonSize(name)); err != nil {
					return nil, err
				}
				obj.Set(sub.Alias, name)
				continue
			}
			sv, err := ex.selectFields(x[sub.Name], sub)
			if err != nil {
				return nil, err
			}
			obj.Set(sub.Alias, sv)
		}
		return obj, nil
	default:
		return v, ex.grow(jsonSize(v))
	}
}

// typeName is the named type of a field's value.
func typeName(f *ast.Field) string {
	t := f.Definition.Type
	for t.Elem != nil {
		t = t.Elem
	}
	return t.NamedType
}

// Object is a JSON object whose keys keep their order, as GraphQL results do.
type Object struct {
	keys   []string
	values map[string]any
}

// Set sets a key, appending it when new.
func (o *Object) Set(k string, v any) {
	if o.values == nil {
		o.values = map[string]any{}
	}
	if _, ok := o.values[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.values[k] = v
}

// MarshalJSON writes the object with its keys in order.
func (o *Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.values[k])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
