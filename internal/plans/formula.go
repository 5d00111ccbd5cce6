package plans

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"github.com/shopspring/decimal"
)

// Stage is one of the six formulas of Abacus' plans. Each takes its arguments in a fixed
// order; the arrow form `(m) => ...` names them, a bare expression uses the canonical names.
type Stage int

// The stages, with their canonical argument names.
const (
	Meter      Stage = iota // meter(m)
	Accumulate              // accumulate(a, qty, start, end, from, to)
	Aggregate               // aggregate(a, prev, curr)
	Summarize               // summarize(t, qty, from, to)
	Rate                    // rate(p, qty)
	Charge                  // charge(t, cost, from, to)
	Carry                   // carry(a, from, to): a time-based cell's value carried into the period [from, to)
)

var stageNames = [...]string{"meter", "accumulate", "aggregate", "summarize", "rate", "charge", "carry"}

func (s Stage) String() string { return stageNames[s] }

// stageArgs are the canonical argument names of each stage, in order. They are also the
// names of Env's fields.
var stageArgs = [...][]string{
	Meter:      {"m"},
	Accumulate: {"a", "qty", "start", "end", "from", "to"},
	Aggregate:  {"a", "prev", "curr"},
	Summarize:  {"t", "qty", "from", "to"},
	Rate:       {"p", "qty"},
	Charge:     {"t", "cost", "from", "to"},
	Carry:      {"a", "from", "to"},
}

// Env is the environment a formula runs in: every argument any stage can have. Times (start,
// end, from, to, t) are epoch milliseconds; quantities, prices and costs are decimals, maps of
// them (time-based state) or nil.
type Env struct {
	M     map[string]any `expr:"m"`
	A     any            `expr:"a"`
	Qty   any            `expr:"qty"`
	Start int64          `expr:"start"`
	End   int64          `expr:"end"`
	From  int64          `expr:"from"`
	To    int64          `expr:"to"`
	Prev  any            `expr:"prev"`
	Curr  any            `expr:"curr"`
	T     int64          `expr:"t"`
	P     any            `expr:"p"`
	Cost  any            `expr:"cost"`
}

// Limits of a formula: its size in syntax nodes. Formulas have no loops (expr-lang's builtins,
// the only source of iteration, are disabled), so their size bounds their running time and
// memory.
const maxNodes = 400

// Formula is a compiled formula.
type Formula struct {
	Source string // as written in the plan; "" for the default
	Stage  Stage
	// canonical is the body with arguments renamed to their canonical names and spaces
	// removed; fast paths are chosen by it.
	canonical string
	program   *vm.Program
	fast      fastPath
	// measure and divisor are the operands of the meter fast paths (m.<measure> and
	// (m.<measure> || 0) / <divisor>).
	measure string
	divisor decimal.Decimal
	// fields are the entries of the map-delta aggregate (fastMapDelta), in the formula's order.
	fields []string
}

// FormulaError is a formula that does not compile, with where in its source.
type FormulaError struct {
	Stage   Stage
	Source  string
	Line    int
	Column  int // 1-based, in Source
	Message string
}

func (e *FormulaError) Error() string {
	return fmt.Sprintf("%s formula %q: line %d, column %d: %s", e.Stage, e.Source, e.Line, e.Column, e.Message)
}

var arrow = regexp.MustCompile(`(?s)^\s*\(([^()]*)\)\s*=>\s*`)
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// CompileFormula compiles the source of a stage's formula. measures, when not nil, are the
// names a meter formula may read from m; reading another is an error.
func CompileFormula(stage Stage, source string, measures map[string]bool) (*Formula, error) {
	f := &Formula{Source: source, Stage: stage}
	body, offset := source, 0
	rename := map[string]string{}
	if m := arrow.FindStringSubmatchIndex(source); m != nil {
		params := strings.Split(source[m[2]:m[3]], ",")
		if len(params) == 1 && strings.TrimSpace(params[0]) == "" {
			params = nil
		}
		if len(params) > len(stageArgs[stage]) {
			return nil, &FormulaError{stage, source, 1, 1, fmt.Sprintf("takes at most %d arguments (%s)",
				len(stageArgs[stage]), strings.Join(stageArgs[stage], ", "))}
		}
		for i, p := range params {
			p = strings.TrimSpace(p)
			if !identifier.MatchString(p) {
				return nil, &FormulaError{stage, source, 1, 1, fmt.Sprintf("argument %q is not a name", p)}
			}
			rename[p] = stageArgs[stage][i]
		}
		body, offset = source[m[1]:], m[1]
	}
	allowed := map[string]bool{}
	for _, a := range stageArgs[stage] {
		allowed[a] = true
	}
	if len(rename) > 0 {
		allowed = map[string]bool{}
		for _, canon := range rename {
			allowed[canon] = true
		}
	}
	p := &patcher{rename: rename, allowed: allowed, measures: measures, body: body}
	opts := []expr.Option{
		expr.Env(Env{}),
		expr.DisableAllBuiltins(),
		expr.MaxNodes(maxNodes),
		expr.Patch(p),
	}
	opts = append(opts, functions...)
	prog, err := expr.Compile(body, opts...)
	if err == nil && p.err != "" {
		err = errors.New(p.err)
	}
	if err != nil {
		fe := &FormulaError{Stage: stage, Source: source, Line: 1, Column: offset + 1, Message: err.Error()}
		var ee *file.Error
		if errors.As(err, &ee) {
			// The error's offset is in the body; the position is reported in the source.
			fe.Message = ee.Message
			fe.Line, fe.Column = position(source, offset+ee.From)
		}
		if p.err != "" {
			fe.Message = p.err
			fe.Line, fe.Column = position(source, offset+p.errAt)
		}
		return nil, fe
	}
	f.program = prog
	f.canonical = canonicalText(body, rename)
	f.fast = recognize(stage, f.canonical)
	switch {
	case f.fast != fastNone:
	case stage == Aggregate:
		if fields, ok := mapDeltaFields(f.canonical); ok {
			f.fast, f.fields = fastMapDelta, fields
		}
	case stage == Rate && f.canonical == timeRateForm:
		// The price's key is the first argument's name, which canonical text renames to p.
		if m := rateKey.FindStringSubmatch(strings.Join(strings.Fields(body), "")); m != nil && m[1] != "consuming" && m[1] != "consumed" {
			f.fast, f.fields = fastTimeRate, []string{m[1]}
		}
	}
	if f.fast == fastMeasure || f.fast == fastMeasureOr0 || f.fast == fastMeasureOr0Div {
		f.measure, f.divisor = meterOperands(f.canonical)
		if f.fast == fastMeasureOr0Div && f.divisor.IsZero() {
			f.fast = fastNone // a division by zero is the program's to report
		}
	}
	return f, nil
}

// position is the 1-based line and column of byte offset off in s.
func position(s string, off int) (line, column int) {
	off = min(max(off, 0), len(s))
	line = 1 + strings.Count(s[:off], "\n")
	return line, off - strings.LastIndex(s[:off], "\n")
}

var token = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*|\S`)

// canonicalText is body with arguments renamed and white space removed. A name after a dot
// or ?. is a field, not an argument: in (storage) => storage.storage only the first is
// renamed, giving m.storage.
func canonicalText(body string, rename map[string]string) string {
	var b strings.Builder
	prev := ""
	for _, tok := range token.FindAllString(body, -1) {
		if c, ok := rename[tok]; ok && prev != "." {
			tok = c
		}
		b.WriteString(tok)
		prev = tok
	}
	return b.String()
}

// patcher rewrites a formula's syntax tree before it is type-checked: arrow arguments get
// their canonical names; arithmetic, comparisons and the JavaScript-style truthiness of
// Abacus' formulas become calls of decimal-exact functions; number literals become decimals.
type patcher struct {
	rename   map[string]string
	allowed  map[string]bool
	measures map[string]bool

	body  string // the formula's body, for the literal text of numbers
	err   string
	errAt int // offset in the body
}

func (p *patcher) fail(n ast.Node, format string, args ...any) {
	if p.err == "" {
		p.err = fmt.Sprintf(format, args...)
		p.errAt = n.Location().From
	}
}

var binaryFuncs = map[string]string{
	"+": "_add", "-": "_sub", "*": "_mul", "/": "_div", "%": "_mod",
	"<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge", "==": "_eq", "!=": "_ne",
	"||": "_or", "or": "_or", "&&": "_and", "and": "_and",
}

func call(name string, args ...ast.Node) ast.Node {
	return &ast.CallNode{Callee: &ast.IdentifierNode{Value: name}, Arguments: args}
}

func (p *patcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if c, ok := p.rename[n.Value]; ok {
			n.Value = c
		} else if isArg(n.Value) && !p.allowed[n.Value] {
			p.fail(n, "unknown name %s", n.Value)
		}
	case *ast.IntegerNode:
		ast.Patch(node, &ast.ConstantNode{Value: decimal.NewFromInt(int64(n.Value))})
	case *ast.FloatNode:
		// The literal as written: a float64 would have kept only about 17 digits of it. A
		// literal that cannot be read back exactly is an error, never the float.
		d, err := decimal.NewFromString(literal(p.body, n.Location()))
		if err != nil {
			p.fail(n, "number %s cannot be read as an exact decimal", literal(p.body, n.Location()))
			return
		}
		ast.Patch(node, &ast.ConstantNode{Value: d})
	case *ast.BinaryNode:
		if fn, ok := binaryFuncs[n.Operator]; ok {
			ast.Patch(node, call(fn, n.Left, n.Right))
		}
	case *ast.UnaryNode:
		switch n.Operator {
		case "-":
			ast.Patch(node, call("_neg", n.Node))
		case "!", "not":
			ast.Patch(node, call("_not", n.Node))
		}
	case *ast.ConditionalNode:
		n.Cond = call("_truthy", n.Cond)
	case *ast.MemberNode:
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "m" && p.measures != nil {
			if s, ok := n.Property.(*ast.StringNode); ok && !p.measures[s.Value] {
				p.fail(n, "unknown measure %s (the plan's measures are %s)", s.Value, strings.Join(slices.Sorted(maps.Keys(p.measures)), ", "))
			}
		}
	}
}

// literal is the text of a number literal at loc in body ("" when loc does not fit it).
func literal(body string, loc file.Location) string {
	from, to := byteOffset(body, loc.From), byteOffset(body, loc.To)
	if from < 0 || to < 0 || from >= to {
		return ""
	}
	return strings.ReplaceAll(body[from:to], "_", "")
}

// byteOffset is the byte offset of the rune offset r in s (expr-lang's locations count runes:
// a name or a string with a non-ASCII letter before a literal moves it), or -1 beyond s.
func byteOffset(s string, r int) int {
	if r < 0 {
		return -1
	}
	n := 0
	for i := range s {
		if n == r {
			return i
		}
		n++
	}
	if n == r {
		return len(s)
	}
	return -1
}

func isArg(name string) bool {
	for _, args := range stageArgs {
		for _, a := range args {
			if a == name {
				return true
			}
		}
	}
	return false
}
