package plans

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/expr-lang/expr/vm"
	"github.com/shopspring/decimal"
)

// fastPath names a formula that plain Go computes without running the expr program: the
// defaults of Abacus and the few forms nearly every plan uses. A fast path gives exactly the
// program's result, down to the representation of the decimal's coefficient; on operands it
// does not handle (maps, booleans, numbers that are not decimals) it runs the program instead.
type fastPath uint8

const (
	fastNone           fastPath = iota
	fastMeasure                 // m.<measure>
	fastMeasureOr0              // m.<measure> || 0
	fastMeasureOr0Div           // (m.<measure> || 0) / <integer>
	fastSumInWin                // end < from || end >= to ? a : a + qty   (default accumulate)
	fastMaxInWin                // end < from || end >= to ? a : max(a, qty)
	fastSum                     // a + qty
	fastMax                     // max(a, qty)
	fastDelta                   // a + curr - prev                          (default aggregate)
	fastDeltaPrevFirst          // a - prev + curr
	fastDeltaOr0                // (a || 0) + curr - (prev || 0)
	fastProduct                 // p * qty                                  (default rate)
	fastProductOr0              // (p || 0) * qty
	fastQtyProductOr0           // qty * (p || 0)
	fastQty                     // qty                                      (default summarize)
	fastCost                    // cost                                     (default charge)
	fastCostOr0                 // cost ? cost : 0
	fastTimeSummary             // timeSummaryForm (fasttime.go)
	fastTimeCharge              // timeChargeForm
	fastMapDelta                // !curr ? a : {f: curr.f - (prev?.f || 0) + (a?.f || 0), ...}   (mapdelta.go)
	fastTimeCarry               // timeCarryForm (fasttime.go)
	fastTimeAccumulate          // timeAccumulateForm
	fastTimeRate                // {<key>: p, consuming: qty.consuming, consumed: qty.consumed}
)

var fastForms = map[Stage]map[string]fastPath{
	Accumulate: {
		"end<from||end>=to?a:a+qty":      fastSumInWin,
		"end<from||end>=to?a:max(a,qty)": fastMaxInWin,
		"a+qty":                          fastSum,
		"max(a,qty)":                     fastMax,
	},
	Aggregate: {"a+curr-prev": fastDelta, "a-prev+curr": fastDeltaPrevFirst, "(a||0)+curr-(prev||0)": fastDeltaOr0},
	Rate:      {"p*qty": fastProduct, "qty*p": fastProduct, "(p||0)*qty": fastProductOr0, "qty*(p||0)": fastQtyProductOr0},
	Summarize: {"qty": fastQty},
	Charge:    {"cost": fastCost, "cost?cost:0": fastCostOr0},
}

// meterForms are the meter formulas that read one measure.
var meterForms = []struct {
	re   *regexp.Regexp
	fast fastPath
}{
	{regexp.MustCompile(`^m\.[A-Za-z_][A-Za-z0-9_]*$`), fastMeasure},
	{regexp.MustCompile(`^m\.[A-Za-z_][A-Za-z0-9_]*\|\|0$`), fastMeasureOr0},
	{regexp.MustCompile(`^\(m\.[A-Za-z_][A-Za-z0-9_]*\|\|0\)/[0-9]+$`), fastMeasureOr0Div},
}

// defaultSource is the formula Abacus used when a plan omits one.
func defaultSource(stage Stage, metric string) string {
	switch stage {
	case Meter:
		return "m." + metric
	case Accumulate:
		return "end < from || end >= to ? a : a + qty"
	case Aggregate:
		return "a + curr - prev"
	case Summarize:
		return "qty"
	case Rate:
		return "p * qty"
	default:
		return "cost"
	}
}

func recognize(stage Stage, canonical string) fastPath {
	if stage == Meter {
		for _, f := range meterForms {
			if f.re.MatchString(canonical) {
				return f.fast
			}
		}
		return fastNone
	}
	if f, ok := fastTimeForms[stage][canonical]; ok {
		return f
	}
	return fastForms[stage][canonical]
}

// Fast reports whether the formula runs as plain Go.
func (f *Formula) Fast() bool { return f.fast != fastNone }

// dec returns v as a decimal when it is one or nil (as 0).
func dec(v any) (decimal.Decimal, bool) {
	switch x := v.(type) {
	case decimal.Decimal:
		return x, true
	case nil:
		return decimal.Zero, true
	}
	return decimal.Decimal{}, false
}

// zeroLiteral is the value of the literal 0 in a formula, boxed once: the patcher compiles it
// to decimal.NewFromInt(0).
var zeroLiteral any = decimal.NewFromInt(0)

// operand is a decimal in a fast path's arithmetic with, when it has one, the boxed value it
// came from: a result that equals an operand exactly is returned as that box, which saves the
// allocation of boxing it again.
type operand struct {
	d   decimal.Decimal
	box any // d as an interface value, or nil
}

// value is o as a formula value.
func (o operand) value() any {
	if o.box != nil {
		return o.box
	}
	return o.d
}

// operandOf is v as an operand: a decimal, or nil as decimal.Zero.
func operandOf(v any) (operand, bool) {
	switch x := v.(type) {
	case decimal.Decimal:
		return operand{x, v}, true
	case nil:
		return operand{d: decimal.Zero}, true
	}
	return operand{}, false
}

// orZero is the formula `v || 0` as an operand: v when it is a decimal other than 0, else the
// literal 0.
func orZero(v any) (operand, bool) {
	switch x := v.(type) {
	case decimal.Decimal:
		if !x.IsZero() {
			return operand{x, v}, true
		}
	case nil:
	default:
		return operand{}, false
	}
	return operand{zeroLiteral.(decimal.Decimal), zeroLiteral}, true
}

// keeps reports whether x.Add(y) or x.Sub(y) is x to the last detail (coefficient, its
// representation and exponent): y is 0 at an exponent no smaller than x's, so Add rescales y to
// x's exponent and adds nothing. x must not be 0, whose coefficient Add would turn from nil
// into an empty big.Int.
func keeps(x, y operand) bool {
	return x.box != nil && y.d.IsZero() && y.d.Exponent() >= x.d.Exponent() && !x.d.IsZero()
}

// plus is x + y as Decimal.Add computes it.
func plus(x, y operand) operand {
	switch {
	case keeps(x, y):
		return x
	case keeps(y, x):
		return y
	}
	return operand{d: x.d.Add(y.d)}
}

// minus is x - y as Decimal.Sub computes it.
func minus(x, y operand) operand {
	if keeps(x, y) {
		return x
	}
	return operand{d: x.d.Sub(y.d)}
}

// delta is a + curr - prev as the formula computes it: (a + curr) - prev, or with prevFirst
// (a - prev) + curr. When curr and prev are the same number at the same exponent (the
// instance's cell did not change), the result is a at its own exponent if that is no larger
// than theirs, and a's box is returned.
func delta(a, curr, prev operand, prevFirst bool) any {
	c, p := curr.d, prev.d
	if c.Exponent() == p.Exponent() && c.Cmp(p) == 0 && a.d.Exponent() <= c.Exponent() && a.box != nil && !a.d.IsZero() {
		return a.box
	}
	if prevFirst {
		return plus(minus(a, prev), curr).value()
	}
	return minus(plus(a, curr), prev).value()
}

// change is the change prev -> curr of an instance's cell, made once for the many cells a
// delta aggregate formula applies it to.
type change struct {
	curr, diff operand // diff is curr - prev
	same       bool    // curr and prev are the same number at the same exponent
	or0        bool    // the formula reads its cell as (a || 0)
}

// changeOf returns the change prev -> curr when the formula is one of the delta forms (a +
// curr - prev, a - prev + curr, (a || 0) + curr - (prev || 0)) and both are decimals.
func (f *Formula) changeOf(prev, curr any) (change, bool) {
	var p operand
	var ok bool
	switch f.fast {
	case fastDelta, fastDeltaPrevFirst:
		p, ok = operandOf(prev)
	case fastDeltaOr0:
		p, ok = orZero(prev)
	}
	c, okc := operandOf(curr)
	if !ok || !okc {
		return change{}, false
	}
	return change{curr: c, diff: minus(c, p), same: c.d.Exponent() == p.d.Exponent() && c.d.Cmp(p.d) == 0,
		or0: f.fast == fastDeltaOr0}, true
}

// apply returns the formula's result for a cell of value a: a + (curr - prev), which is
// (a + curr) - prev and (a - prev) + curr exactly, decimal addition not rounding, at the same
// exponent (the smallest of the three); when the change is none, a itself where delta
// returns it. ok is false when a is not a decimal (or nil).
func (ch *change) apply(a any) (any, bool) {
	var o operand
	var ok bool
	if ch.or0 {
		o, ok = orZero(a)
	} else {
		o, ok = operandOf(a)
	}
	if !ok {
		return nil, false
	}
	if ch.same && o.d.Exponent() <= ch.curr.d.Exponent() && o.box != nil && !o.d.IsZero() {
		return o.box, true
	}
	return plus(o, ch.diff).value(), true
}

// Eval runs the formula in env. The result is normalized: a decimal, a map of them, or nil.
// A result may be one of env's values (a cell returned unchanged), never env.M, the document's
// measures, which its caller owns; formula values are never modified.
func (f *Formula) Eval(env *Env) (any, error) {
	if v, ok := f.evalFast(env); ok {
		return v, nil
	}
	return f.run(env)
}

// evalFast runs the fast path; ok is false when there is none for the formula or its operands.
func (f *Formula) evalFast(env *Env) (v any, ok bool) {
	switch f.fast {
	case fastMeasure, fastMeasureOr0, fastMeasureOr0Div:
		return f.meter(env.M)
	case fastSumInWin, fastMaxInWin:
		if env.End < env.From || env.End >= env.To {
			return env.A, normalized(env.A, env.M)
		}
		return f.combine(env.A, env.Qty)
	case fastSum, fastMax:
		return f.combine(env.A, env.Qty)
	case fastTimeCarry:
		return timeCarry(env)
	case fastTimeAccumulate:
		return timeAccumulate(env)
	case fastTimeRate:
		return timeRate(f.fields[0], env)
	case fastMapDelta:
		if ch, ok := f.mapChangeOf(env.Prev, env.Curr); ok {
			return f.applyMap(&ch, env.A, env.M)
		}
	case fastDelta, fastDeltaPrevFirst, fastDeltaOr0:
		var a, p operand
		var ok1, ok3 bool
		if f.fast != fastDeltaOr0 {
			a, ok1 = operandOf(env.A)
			p, ok3 = operandOf(env.Prev)
		} else {
			a, ok1 = orZero(env.A)
			p, ok3 = orZero(env.Prev)
		}
		c, ok2 := operandOf(env.Curr)
		if ok1 && ok2 && ok3 {
			return delta(a, c, p, f.fast == fastDeltaPrevFirst), true
		}
	case fastProduct, fastProductOr0, fastQtyProductOr0:
		var p decimal.Decimal
		var ok1 bool
		if f.fast == fastProduct {
			p, ok1 = dec(env.P)
		} else {
			var o operand
			o, ok1 = orZero(env.P)
			p = o.d
		}
		q, ok2 := dec(env.Qty)
		if ok1 && ok2 {
			if f.fast == fastQtyProductOr0 {
				return q.Mul(p), true
			}
			return p.Mul(q), true
		}
	case fastQty:
		return env.Qty, normalized(env.Qty, env.M)
	case fastCost:
		return env.Cost, normalized(env.Cost, env.M)
	case fastCostOr0:
		if o, ok := orZero(env.Cost); ok {
			return o.value(), true
		}
	case fastTimeSummary:
		return timeBased(env.Qty, env.T, env.From, env.To, false)
	case fastTimeCharge:
		return timeBased(env.Cost, env.T, env.From, env.To, true)
	}
	return nil, false
}

// meterOperands reads the measure and the divisor of a meter fast path's canonical text.
func meterOperands(canonical string) (measure string, divisor decimal.Decimal) {
	rest := strings.TrimPrefix(strings.TrimPrefix(canonical, "("), "m.")
	end := strings.IndexAny(rest, "|)")
	if end < 0 {
		return rest, decimal.Zero
	}
	measure = rest[:end]
	if _, d, ok := strings.Cut(rest, "/"); ok {
		divisor, _ = decimal.NewFromString(d)
	}
	return measure, divisor
}

// meter runs a meter fast path.
func (f *Formula) meter(m map[string]any) (any, bool) {
	v := m[f.measure]
	switch f.fast {
	case fastMeasure:
		switch v.(type) {
		case nil, decimal.Decimal:
			return v, true
		}
	case fastMeasureOr0:
		if o, ok := orZero(v); ok {
			return o.value(), true
		}
	case fastMeasureOr0Div:
		if x, ok := orZero(v); ok {
			return x.d.DivRound(f.divisor, DivisionScale), true
		}
	}
	return nil, false
}

// combine is a + qty or max(a, qty) on decimals and nil. max returns the larger operand's own
// value, as the program's max does.
func (f *Formula) combine(a, qty any) (any, bool) {
	if f.fast == fastMaxInWin || f.fast == fastMax {
		if a == nil {
			_, ok := dec(qty)
			return qty, ok
		}
		if qty == nil {
			_, ok := dec(a)
			return a, ok
		}
		x, ok1 := a.(decimal.Decimal)
		y, ok2 := qty.(decimal.Decimal)
		if !ok1 || !ok2 {
			return nil, false
		}
		if y.GreaterThan(x) {
			return qty, true
		}
		return a, true
	}
	x, ok1 := operandOf(a)
	y, ok2 := operandOf(qty)
	if !ok1 || !ok2 {
		return nil, false
	}
	return plus(x, y).value(), true
}

// runner is a VM and an environment for running a program, pooled: running a program then
// allocates neither, and the caller's Env stays on its stack.
type runner struct {
	vm  vm.VM
	env Env
}

var runners = sync.Pool{New: func() any { return new(runner) }}

// run runs the program in a copy of env and normalizes its result.
func (f *Formula) run(env *Env) (any, error) {
	r := runners.Get().(*runner)
	r.env = *env
	out, err := r.vm.Run(f.program, &r.env)
	// A pooled runner keeps no usage alive: the environment, the let variables and the stack
	// slots the run used are cleared.
	r.env = Env{}
	clear(r.vm.Variables)
	clear(r.vm.Stack[:cap(r.vm.Stack)])
	runners.Put(r)
	if err != nil {
		return nil, err
	}
	if normalized(out, env.M) {
		return out, nil
	}
	return Normalize(out)
}

// EvalError is a formula that failed at run time: the usage it was evaluated for is rejected
// with this reason.
type EvalError struct {
	Plan     string
	Metric   string
	Stage    Stage
	Document string // the id of the usage document, where the caller knows it
	Err      error
}

func (e *EvalError) Error() string {
	doc := ""
	if e.Document != "" {
		doc = "document " + e.Document + ": "
	}
	return fmt.Sprintf("%splan %s, metric %s: %s formula failed: %v", doc, e.Plan, e.Metric, e.Stage, e.Err)
}

func (e *EvalError) Unwrap() error { return e.Err }
