package plans

import "github.com/shopspring/decimal"

// The time-based summary and charge of Abacus' linux-container and service plans (and the
// built-in cf and openstack ones): the integral of consumption over the window up to t, in
// hours, and that times the cost's price.
const (
	timeSummaryForm = "!qty?0:(qty.consumed-qty.consuming*(from-min(t,to)+to-min(t,to)))/2/3600000"
	timeChargeForm  = "!cost||!cost.price?0:(cost.consumed-cost.consuming*(from-min(t,to)+to-min(t,to)))/2/3600000*cost.price"
)

var (
	two           = decimal.NewFromInt(2)
	msPerHourLit  = decimal.NewFromInt(3_600_000)
	fastTimeForms = map[Stage]map[string]fastPath{Summarize: {timeSummaryForm: fastTimeSummary}, Charge: {timeChargeForm: fastTimeCharge}}
)

// timeBased runs the time-based summary (or, with price, charge) of v as the program does,
// the same operations on the same operands in the same order: ((from - min(t, to)) + to) -
// min(t, to) with _add and _sub (addSub), min's decimals of t and to, consuming times that,
// consumed minus it, / 2, / 3600000 (divOp), times the price (mulOp). So the result is the
// program's down to the representation. ok is false when v is not a map, or a step fails
// (not a number, too large): the program then runs and gives its result or names its error.
func timeBased(v any, t, from, to int64, price bool) (any, bool) {
	if !price && !Truthy(v) {
		return zeroLiteral, true // the condition is lazy: qty.consumed is not read
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false // the charge's || reads cost.price of a nil cost: the program's error
	}
	if price && !Truthy(m["price"]) {
		return zeroLiteral, true
	}
	s, err := addSub(from, minTime(t, to), true)
	if err == nil {
		s, err = addSub(s, to, false)
	}
	if err == nil {
		s, err = addSub(s, minTime(t, to), true)
	}
	if err != nil {
		return nil, false
	}
	r, ok := arithOf(mulOp, m["consuming"], s)
	if !ok {
		return nil, false
	}
	if r, err = addSub(m["consumed"], r, true); err != nil {
		return nil, false
	}
	for _, d := range []decimal.Decimal{two, msPerHourLit} {
		if r, ok = arithOf(divOp, r, d); !ok {
			return nil, false
		}
	}
	if price {
		if r, ok = arithOf(mulOp, r, m["price"]); !ok {
			return nil, false
		}
	}
	return r, true
}

// minTime is min(t, to): num's decimal of the smaller, the first when equal.
func minTime(t, to int64) any {
	if to < t {
		return decimal.NewFromInt(to)
	}
	return decimal.NewFromInt(t)
}

// arithOf is arith's function f of a and b.
func arithOf(f func(a, b decimal.Decimal) (decimal.Decimal, error), a, b any) (any, bool) {
	x, y, err := nums(a, b)
	if err != nil {
		return nil, false
	}
	r, err := f(x, y)
	return r, err == nil
}
