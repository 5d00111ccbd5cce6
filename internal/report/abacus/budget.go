package abacus

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/meterline/meterline/internal/fault"
)

// Limits bound the work and the answer of one GraphQL request. Each is checked before the work
// it bounds: the query's size before it is parsed, its depth, selections and cost before it is
// validated (gqlparser's validation is quadratic in the fields of a selection set) or run, the
// answer's size as it is built, and the time while it runs.
type Limits struct {
	// QueryBytes bounds the query's text, from a URL or a POST body alike (kind too_large).
	QueryBytes int
	// Depth bounds how deep fields nest, fragments spread; the schema's deepest field
	// (account, spaces, consumers, resources, plans, aggregated_usage, windows, quantity) is
	// at 8.
	Depth int
	// Selections bounds the fields, fragment spreads and inline fragments of a document,
	// counted in every operation and every fragment definition, each fragment again wherever
	// it is spread.
	Selections int
	// Cost bounds the values the operation that runs may produce, estimated before it runs:
	// each field counts once per value of the lists it is under and per item of its own list
	// (see listWeight).
	Cost int
	// AnswerBytes bounds the answer's data, counted as it is built to the byte of its JSON.
	AnswerBytes int
	// Time bounds how long a query runs once validated.
	Time time.Duration
}

// DefaultLimits are the limits of the reporting service's GraphQL endpoint. Seed 001's example
// queries have at most 12 selections and cost at most 162,222 (the third, its consumers'
// resources' metrics' windows at organization level).
var DefaultLimits = Limits{QueryBytes: 16 << 10, Depth: 10, Selections: 1000, Cost: 1_000_000,
	AnswerBytes: 16 << 20, Time: 10 * time.Second}

// listWeights are the lengths a cost assumes for the report's lists whose length depends on the
// usage reported: the resources, spaces and consumers of a report, a resource's plans (more
// than one only when its mapping changed within the report's windows) and a resource's or
// plan's metrics (a plan has at most 100). A list the report makes of the query's arguments
// (organizations, account) weighs what it will report, and windows the slots of every level
// (7 with the default slots). The answer's size bounds what a list turns out to hold.
var listWeights = map[string]int{"resources": 10, "spaces": 10, "consumers": 10, "plans": 2,
	"aggregated_usage": 10, "accumulated_usage": 10}

// measured is what the walk before validation found of a document.
type measured struct {
	selections int // as Limits.Selections counts them
	cost       int // of the operation that runs; 0 when there is none
}

// measure counts a parsed document's selections, depth and the cost of its operation named op
// (or its only one), and checks its Int literals fit 64 bits and the fields of one response key
// are one field with one set of arguments, before it is validated. It stops at the first
// limit passed. vars are the request's variables as sent: they give the length of an
// organization_ids list, or the account whose organizations account reports.
//
// Validation then runs without gqlparser's OverlappingFieldsCanBeMerged, which compares every
// pair of fields of one response key, their subselections too: quadratic in the query's
// fields (1,000 __typename took half a second). Its check is the response key one here, in
// one pass: the schema has no interface or union, so fields of one key on one type, with
// the same name, have the same type (NewGraphQL refuses a schema with abstract types).
func (g *GraphQL) measure(doc *ast.QueryDocument, op string, vars map[string]any) (measured, error) {
	w := &walk{g: g, doc: doc, vars: vars}
	run := doc.Operations.ForName(op)
	for _, o := range doc.Operations {
		for _, v := range o.VariableDefinitions {
			w.literal(v.Variable, v.DefaultValue)
		}
		times := 0 // only the operation that runs costs anything
		if o == run {
			times = 1
		}
		w.level([]scoped{{set: o.SelectionSet}}, g.schema.Query, 0, times)
	}
	for _, fr := range doc.Fragments {
		w.level([]scoped{{set: fr.SelectionSet, via: &spread{name: fr.Name}}}, g.schema.Types[fr.TypeCondition], 0, 0)
	}
	return measured{selections: w.count, cost: w.cost}, w.err
}

// walk is the state of measure's walk through a document.
type walk struct {
	g     *GraphQL
	doc   *ast.QueryDocument
	vars  map[string]any
	count int
	cost  int
	err   error
}

// spread is a chain of fragments spread one inside the other, the last first, so that a
// cycle is not followed (validation names it).
type spread struct {
	name string
	up   *spread
}

func (s *spread) has(name string) bool {
	for ; s != nil; s = s.up {
		if s.name == name {
			return true
		}
	}
	return false
}

// scoped is a selection set and the fragments it is inside of.
type scoped struct {
	set ast.SelectionSet
	via *spread
}

// key is the fields of one response key in one selection set, fragments spread: as the
// executor merges them, one field whose selection is all of theirs.
type key struct {
	field *ast.Field      // the first
	typ   *ast.Definition // the type it is a field of
	sets  []scoped        // the selections of each
}

// level walks the selection sets, of type typ (nil when the document names a type the schema
// has not: validation will say so), merged as the executor merges them, at depth; it runs
// times times.
func (w *walk) level(sets []scoped, typ *ast.Definition, depth, times int) {
	var order []*key
	keys := map[string]*key{}
	for _, s := range sets {
		w.gather(s.set, typ, s.via, keys, &order)
	}
	lim := w.g.limits
	for _, k := range order {
		if w.err != nil {
			return
		}
		f := k.field
		if depth+1 > lim.Depth {
			w.fail(f.Position, "query too deep", fault.Problem{Field: "query",
				Reason: fmt.Sprintf("fields nest at most %d levels deep", lim.Depth)})
			return
		}
		var def *ast.FieldDefinition
		if k.typ != nil {
			def = k.typ.Fields.ForName(f.Name)
		}
		// Saturated past the limit, so that products of weights cannot overflow.
		n := min(times*w.weight(f, def, k.typ), lim.Cost+1)
		if w.cost += n; w.cost > lim.Cost {
			w.fail(f.Position, "query too costly", fault.Problem{Field: "query",
				Reason: fmt.Sprintf("costs more than %d: each field counts once per value of the lists it is under "+
					"(organizations as many as asked, windows %d, resources, spaces, consumers and metrics 10, plans 2); "+
					"ask for fewer organizations or fields", lim.Cost, w.g.windows)})
			return
		}
		var next *ast.Definition
		if def != nil {
			next = w.g.schema.Types[def.Type.Name()]
		}
		w.level(k.sets, next, depth+1, n)
	}
}

// gather adds the fields of set, fragments spread, to their response keys, counting each
// selection.
func (w *walk) gather(set ast.SelectionSet, typ *ast.Definition, via *spread, keys map[string]*key, order *[]*key) {
	lim := w.g.limits
	for _, sel := range set {
		if w.err != nil {
			return
		}
		if w.count++; w.count > lim.Selections {
			w.fail(sel.GetPosition(), "too many selections", fault.Problem{Field: "query",
				Reason: fmt.Sprintf("more than the %d selections a query may have (fields, fragment spreads and inline fragments, "+
					"each fragment counted where it is defined and wherever it is spread)", lim.Selections)})
			return
		}
		switch s := sel.(type) {
		case *ast.Field:
			for _, a := range s.Arguments {
				w.literal(a.Name, a.Value)
			}
			w.directives(s.Directives)
			k, ok := keys[s.Alias]
			switch {
			case !ok:
				k = &key{field: s, typ: typ}
				keys[s.Alias] = k
				*order = append(*order, k)
			case k.field.Name != s.Name || !sameArguments(k.field.Arguments, s.Arguments):
				w.fail(s.Position, "fields conflict", fault.Problem{Field: s.Alias,
					Reason: fmt.Sprintf("%s and %s are both answered as %s; give them different aliases", describe(k.field), describe(s), s.Alias)})
				return
			}
			k.sets = append(k.sets, scoped{set: s.SelectionSet, via: via})
		case *ast.InlineFragment:
			w.directives(s.Directives)
			t := typ
			if s.TypeCondition != "" {
				t = w.g.schema.Types[s.TypeCondition]
			}
			w.gather(s.SelectionSet, t, via, keys, order)
		case *ast.FragmentSpread:
			w.directives(s.Directives)
			fr := w.doc.Fragments.ForName(s.Name)
			if fr == nil || via.has(s.Name) {
				continue // validation names an unknown fragment, or a cycle
			}
			w.gather(fr.SelectionSet, w.g.schema.Types[fr.TypeCondition], &spread{name: s.Name, up: via}, keys, order)
		}
	}
}

// sameArguments reports whether two fields have the same arguments, in any order.
func sameArguments(a, b ast.ArgumentList) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		y := b.ForName(x.Name)
		if y == nil || x.Value.String() != y.Value.String() {
			return false
		}
	}
	return true
}

// describe is a field as a query writes it: its name and arguments.
func describe(f *ast.Field) string {
	if len(f.Arguments) == 0 {
		return f.Name
	}
	args := make([]string, len(f.Arguments))
	for i, a := range f.Arguments {
		args[i] = a.Name + ": " + a.Value.String()
	}
	d := f.Name + "(" + strings.Join(args, ", ") + ")"
	if len(d) > 128 {
		d = d[:128] + "...)"
	}
	return d
}

func (w *walk) directives(ds ast.DirectiveList) {
	for _, d := range ds {
		for _, a := range d.Arguments {
			w.literal(a.Name, a.Value)
		}
	}
}

// literal checks that the Int literals of an argument's value fit 64 bits: gqlparser would
// call a larger one "non 32-bit", which is not the limit here (time arguments are 64-bit).
func (w *walk) literal(name string, v *ast.Value) {
	if v == nil || w.err != nil {
		return
	}
	if v.Kind == ast.IntValue {
		if _, err := strconv.ParseInt(v.Raw, 10, 64); errors.Is(err, strconv.ErrRange) {
			w.fail(v.Position, "invalid Int", beyond64(name, v.Raw))
		}
	}
	for _, c := range v.Children {
		w.literal(name, c.Value)
	}
}

// beyond64 is the problem of an Int that does not fit 64 bits.
func beyond64(field, value string) fault.Problem {
	if len(value) > 64 {
		value = value[:64] + "..."
	}
	return fault.Problem{Field: field, Value: value,
		Reason: fmt.Sprintf("an Int must fit 64 bits (%d to %d)", math.MinInt64, math.MaxInt64)}
}

// weight is the number of values a field of typ gives for each value of its parent: 1 unless
// it is a list.
func (w *walk) weight(f *ast.Field, def *ast.FieldDefinition, typ *ast.Definition) int {
	if def == nil || def.Type.Elem == nil {
		return 1
	}
	if typ == w.g.schema.Query {
		switch f.Name {
		case "organizations":
			return min(w.organizations(f.Arguments.ForName("organization_ids")), MaxOrganizations)
		case "account":
			return min(w.account(f.Arguments.ForName("account_id")), MaxOrganizations)
		}
	}
	if f.Name == "windows" {
		return w.g.windows
	}
	if n, ok := listWeights[f.Name]; ok {
		return n
	}
	return 10
}

// organizations is how many organization ids an organization_ids argument lists, or
// MaxOrganizations when that cannot be told before variables are coerced.
func (w *walk) organizations(a *ast.Argument) int {
	if a == nil || a.Value == nil {
		return 0
	}
	switch v := a.Value; v.Kind {
	case ast.ListValue:
		return len(v.Children)
	case ast.NullValue:
		return 0
	case ast.StringValue, ast.BlockValue:
		return 1 // a list of one, as GraphQL coerces it
	case ast.Variable:
		if ids, ok := w.vars[v.Raw].([]any); ok {
			return len(ids)
		}
	}
	return MaxOrganizations
}

// account is how many organizations the account an account_id argument names has.
func (w *walk) account(a *ast.Argument) int {
	if a == nil || a.Value == nil {
		return 0
	}
	id, ok := a.Value.Raw, a.Value.Kind == ast.StringValue || a.Value.Kind == ast.BlockValue
	if a.Value.Kind == ast.Variable {
		id, ok = w.vars[a.Value.Raw].(string)
	}
	if !ok {
		return MaxOrganizations
	}
	acc, _ := w.g.accounts.Account(id)
	return len(acc.Organizations)
}

func (w *walk) fail(pos *ast.Position, message string, p fault.Problem) {
	w.err = &located{err: fault.Invalid(message, p), pos: pos}
}

// located is an error at a place in the query.
type located struct {
	err error
	pos *ast.Position
}

func (l *located) Error() string { return l.err.Error() }
func (l *located) Unwrap() error { return l.err }

// intVariables checks the Int variables of op as sent: a number beyond 64 bits, or one that is
// not whole, is named with its own reason (gqlparser would say "cannot use value 0 as Int").
func intVariables(op *ast.OperationDefinition, vars map[string]any) error {
	var problems []fault.Problem
	for _, d := range op.VariableDefinitions {
		if d.Type.Elem != nil || d.Type.NamedType != "Int" {
			continue
		}
		switch v := vars[d.Variable].(type) {
		case json.Number:
			if _, err := v.Int64(); err == nil {
				continue
			}
			if _, ok := new(big.Int).SetString(v.String(), 10); ok {
				problems = append(problems, beyond64(d.Variable, v.String()))
			} else {
				problems = append(problems, notInteger(d.Variable, v.String()))
			}
		case float64:
			switch {
			case v != math.Trunc(v) || math.IsInf(v, 0):
				problems = append(problems, notInteger(d.Variable, strconv.FormatFloat(v, 'g', -1, 64)))
			case v >= math.MaxInt64 || v < math.MinInt64:
				problems = append(problems, beyond64(d.Variable, strconv.FormatFloat(v, 'f', -1, 64)))
			}
		}
	}
	if len(problems) > 0 {
		return fault.Invalid("invalid variables", problems...)
	}
	return nil
}

func notInteger(field, value string) fault.Problem {
	if len(value) > 64 {
		value = value[:64] + "..."
	}
	return fault.Problem{Field: field, Value: value, Reason: "not an integer"}
}

// jsonSize is the length of v's JSON as encoding/json writes it, for the values a projected
// report holds: nil, bools, strings, json.Numbers, and maps and slices of them.
func jsonSize(v any) int {
	switch x := v.(type) {
	case nil:
		return len("null")
	case bool:
		if x {
			return len("true")
		}
		return len("false")
	case string:
		return jsonStringSize(x)
	case json.Number:
		return len(x)
	case []any:
		n := 2 + max(len(x)-1, 0)
		for _, e := range x {
			n += jsonSize(e)
		}
		return n
	case map[string]any:
		n := 2 + max(len(x)-1, 0)
		for k, e := range x {
			n += jsonStringSize(k) + 1 + jsonSize(e)
		}
		return n
	default:
		b, _ := json.Marshal(x)
		return len(b)
	}
}

// jsonStringSize is the length of s as a JSON string, escaped as encoding/json escapes it
// (HTML characters too).
func jsonStringSize(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\' || c == '"' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += len(`\u0000`)
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
			n += len(`\ufffd`)
		} else {
			n += size
		}
		i += size
	}
	return n
}
