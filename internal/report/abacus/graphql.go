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
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/schemas"
)

// GraphQL answers GraphQL queries of aggregated usage with schemas/graphql's schema. A query
// is parsed and validated against the schema, then each root field builds its reports (reading
// only the scopes the query selects) and the result is the selected fields of them.
type GraphQL struct {
	r        *Reports
	accounts Accounts
	schema   *ast.Schema
}

// NewGraphQL returns the GraphQL endpoint's executor.
func NewGraphQL(r *Reports, accounts Accounts) (*GraphQL, error) {
	sdl, err := schemas.GraphQL.ReadFile("graphql/aggregated-usage.graphql")
	if err != nil {
		return nil, err
	}
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "aggregated-usage.graphql", Input: string(sdl)})
	if err != nil {
		return nil, fmt.Errorf("graphql schema: %w", err)
	}
	return &GraphQL{r: r, accounts: accounts, schema: s}, nil
}

// Accounts tells which organizations an account owns.
type Accounts interface {
	Account(id string) (catalog.Account, bool)
}

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

// Execute runs a request. Parse and validation errors give a Response without data, of kind
// fault.KindInvalid; a root field that fails is null and its error names its path.
func (g *GraphQL) Execute(ctx context.Context, req Request) *Response {
	doc, errs := gqlparser.LoadQuery(g.schema, req.Query)
	if len(errs) > 0 {
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
	vars, err := validator.VariableValues(g.schema, op, req.Variables)
	if err != nil {
		return &Response{Errors: gqlerror.List{gqlerror.WrapIfUnwrapped(err)}, Kind: fault.KindInvalid}
	}
	ex := &execution{g: g, doc: doc, vars: vars}
	data := &Object{}
	resp := &Response{Data: data}
	for _, f := range ex.collect(op.SelectionSet) {
		v, err := ex.root(ctx, f)
		if err != nil {
			ge := gqlerror.ErrorPosf(f.Position, "%s", message(err))
			ge.Err = err // for the server's log; clients see message(err)
			ge.Path = ast.Path{ast.PathName(f.Alias)}
			ge.Extensions = map[string]any{"code": fault.KindOf(err).String()}
			resp.Errors = append(resp.Errors, ge)
			if len(resp.Errors) == 1 {
				resp.Kind = fault.KindOf(err)
			}
			v = nil
		}
		data.Set(f.Alias, v)
	}
	return resp
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
	reports int // organization reports built so far
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

// selects reports whether a field named name is selected anywhere under set.
func (ex *execution) selects(set ast.SelectionSet, name string) bool {
	for _, f := range ex.collect(set) {
		if f.Name == name || ex.selects(f.SelectionSet, name) {
			return true
		}
	}
	return false
}

func (ex *execution) root(ctx context.Context, f *ast.Field) (any, error) {
	switch f.Name {
	case "__typename":
		return "Query", nil
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
	if err := ex.authorize(ctx, f.Name, args); err != nil {
		return nil, err
	}
	sc := Scopes{Spaces: ex.selects(f.SelectionSet, "spaces"), Consumers: ex.selects(f.SelectionSet, "consumers")}
	switch f.Name {
	case "organization":
		if err := ex.budget(1); err != nil {
			return nil, err
		}
		rep, err := ex.g.r.Organization(ctx, str("organization_id"), t, sc)
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
		// Organizations without usage in the report's windows are left out, not errors.
		reps := []any{}
		for _, org := range orgs {
			rep, err := ex.g.r.Organization(ctx, org, t, sc)
			if fault.KindOf(err) == fault.KindNotFound {
				continue
			}
			if err != nil {
				return nil, err
			}
			reps = append(reps, rep)
		}
		return ex.project(reps, f)
	case "resource_instance":
		rep, err := ex.g.r.Instance(ctx, InstanceKey{Org: str("organization_id"), Instance: str("resource_instance_id"),
			Consumer: str("consumer_id"), PlanIDs: report.PlanIDs{PlanID: str("plan_id"), MeteringPlanID: str("metering_plan_id"),
				RatingPlanID: str("rating_plan_id"), PricingPlanID: str("pricing_plan_id")}}, t)
		if err == nil {
			err = auth.RequireRead(ctx, rep.OrganizationID, rep.ResourceID)
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
	return ex.selectFields(tree, f), nil
}

func (ex *execution) selectFields(v any, f *ast.Field) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = ex.selectFields(e, f)
		}
		return out
	case map[string]any:
		if len(f.SelectionSet) == 0 {
			return x // a Value scalar that is an object
		}
		obj := &Object{}
		for _, sub := range ex.collect(f.SelectionSet) {
			if sub.Name == "__typename" {
				obj.Set(sub.Alias, typeName(f))
				continue
			}
			obj.Set(sub.Alias, ex.selectFields(x[sub.Name], sub))
		}
		return obj
	default:
		return v
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
