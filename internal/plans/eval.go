package plans

import (
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/shopspring/decimal"
)

// fastPath names a formula that plain Go computes without running the expr program: the
// defaults of Abacus and the few forms nearly every plan uses. A fast path gives exactly the
// program's result; on operands it does not handle (maps, say) it runs the program instead.
type fastPath uint8

const (
	fastNone     fastPath = iota
	fastMeasure           // m.<measure>
	fastSumInWin          // end < from || end >= to ? a : a + qty   (default accumulate)
	fastMaxInWin          // end < from || end >= to ? a : max(a, qty)
	fastSum               // a + qty
	fastMax               // max(a, qty)
	fastDelta             // a + curr - prev                          (default aggregate)
	fastProduct           // p * qty                                  (default rate)
	fastQty               // qty                                      (default summarize)
	fastCost              // cost                                     (default charge)
)

var fastForms = map[Stage]map[string]fastPath{
	Accumulate: {
		"end<from||end>=to?a:a+qty":      fastSumInWin,
		"end<from||end>=to?a:max(a,qty)": fastMaxInWin,
		"a+qty":                          fastSum,
		"max(a,qty)":                     fastMax,
	},
	Aggregate: {"a+curr-prev": fastDelta, "a-prev+curr": fastDelta},
	Rate:      {"p*qty": fastProduct, "qty*p": fastProduct},
	Summarize: {"qty": fastQty},
	Charge:    {"cost": fastCost},
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
	if stage == Meter && strings.HasPrefix(canonical, "m.") && identifier.MatchString(canonical[2:]) {
		return fastMeasure
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

// Eval runs the formula in env. The result is normalized: a decimal, a map of them, or nil.
func (f *Formula) Eval(env *Env) (any, error) {
	switch f.fast {
	case fastMeasure:
		return env.M[f.canonical[2:]], nil
	case fastSumInWin, fastMaxInWin:
		if env.End < env.From || env.End >= env.To {
			return env.A, nil
		}
		if v, ok := f.combine(env.A, env.Qty); ok {
			return v, nil
		}
	case fastSum, fastMax:
		if v, ok := f.combine(env.A, env.Qty); ok {
			return v, nil
		}
	case fastDelta:
		a, ok1 := dec(env.A)
		c, ok2 := dec(env.Curr)
		p, ok3 := dec(env.Prev)
		if ok1 && ok2 && ok3 {
			return a.Add(c).Sub(p), nil
		}
	case fastProduct:
		p, ok1 := dec(env.P)
		q, ok2 := dec(env.Qty)
		if ok1 && ok2 {
			return p.Mul(q), nil
		}
	case fastQty:
		return env.Qty, nil
	case fastCost:
		return env.Cost, nil
	}
	out, err := expr.Run(f.program, env)
	if err != nil {
		return nil, err
	}
	return Normalize(out)
}

// combine is a + qty or max(a, qty) on decimals and nil.
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
			return y, true
		}
		return x, true
	}
	x, ok1 := dec(a)
	y, ok2 := dec(qty)
	if !ok1 || !ok2 {
		return nil, false
	}
	return x.Add(y), true
}

// EvalError is a formula that failed at run time: the usage it was evaluated for is rejected
// with this reason.
type EvalError struct {
	Plan   string
	Metric string
	Stage  Stage
	Err    error
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("plan %s, metric %s: %s formula failed: %v", e.Plan, e.Metric, e.Stage, e.Err)
}

func (e *EvalError) Unwrap() error { return e.Err }
