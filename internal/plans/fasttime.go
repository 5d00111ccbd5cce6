package plans

import (
	"regexp"

	"github.com/shopspring/decimal"
)

// The time-based summary and charge of Abacus' linux-container and service plans (and the
// built-in cf and openstack ones): the integral of consumption over the window up to t, in
// hours, and that times the cost's price.
const (
	timeSummaryForm = "!qty?0:(qty.consumed-qty.consuming*(from-min(t,to)+to-min(t,to)))/2/3600000"
	timeChargeForm  = "!cost||!cost.price?0:(cost.consumed-cost.consuming*(from-min(t,to)+to-min(t,to)))/2/3600000*cost.price"
	// timeCarryForm is their carry: a cell still consuming at the end of its period goes on
	// consuming in the next, from its start.
	timeCarryForm = "{consuming:a?.consuming||0,consumed:(a?.consuming||0)*(to-from),since:from}"
	// timeAccumulateForm is their accumulate: within the window, the consumption since the
	// cell's or the document's start, and what the document's span consumed at its current and
	// previous rates.
	timeAccumulateForm = "end<from||end>=to?a:lettd=from-start+to-start;{consuming:a?.since>start?a.consuming:qty.consuming," +
		"consumed:qty.consuming*td+qty.previous_consuming*td+(a?.consumed||0),since:a?.since>start?a.since:start}"
)

var (
	two           = decimal.NewFromInt(2)
	msPerHourLit  = decimal.NewFromInt(3_600_000)
	msPerTwoHours = decimal.NewFromInt(7_200_000)
	fastTimeForms = map[Stage]map[string]fastPath{Summarize: {timeSummaryForm: fastTimeSummary}, Charge: {timeChargeForm: fastTimeCharge},
		Carry: {timeCarryForm: fastTimeCarry}, Accumulate: {timeAccumulateForm: fastTimeAccumulate}}
)

// timeBased runs the time-based summary (or, with price, charge) of v as the program does,
// giving the same decimal, value and exponent: ((from - min(t, to)) + to) - min(t, to) (in
// int64, exact), consuming times that and consumed minus it (mulOp, addSub: the program's
// operations), / 2 / 3600000 at DivisionScale (divOp), times the price (mulOp). A divOp's
// result is at exponent -DivisionScale whatever its operands', so only the values of the
// steps matter; / 2 of a number of at most DivisionScale-1 places is exact, so then one
// division by 7200000 rounds as the program's two do. ok is false when v is not a map, a time
// overflows or a step fails (not a number, too large): the program then runs and gives its
// result or names its error.
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
	mn := min(t, to)
	s1, o1 := sub64(from, mn)
	s2, o2 := add64(s1, to)
	s3, o3 := sub64(s2, mn)
	if o1 || o2 || o3 {
		return nil, false
	}
	r, ok := arithOf(mulOp, m["consuming"], decimal.NewFromInt(s3))
	if !ok {
		return nil, false
	}
	r, err := addSub(m["consumed"], r, true)
	if err != nil {
		return nil, false
	}
	if d := r.(decimal.Decimal); d.Exponent() > -DivisionScale && d.NumDigits() <= 100 {
		if r, ok = arithOf(divOp, d, msPerTwoHours); !ok {
			return nil, false
		}
	} else {
		for _, d := range []decimal.Decimal{two, msPerHourLit} {
			if r, ok = arithOf(divOp, r, d); !ok {
				return nil, false
			}
		}
	}
	if price {
		if r, ok = arithOf(mulOp, r, m["price"]); !ok {
			return nil, false
		}
	}
	return r, true
}

// timeCarry runs the time-based carry as the program does: a?.consuming || 0 (the literal 0
// when falsy), times to - from (addSub, mulOp), the map normalized as the program's result is
// (since, a time, becomes a decimal). ok is false when a is neither nil nor a map or a step
// fails: the program then runs and gives its result or names its error.
func timeCarry(env *Env) (any, bool) {
	c, ok := entry(env.A, "consuming")
	if !ok {
		return nil, false
	}
	c = or0(c)
	span, err := addSub(env.To, env.From, true)
	if err != nil {
		return nil, false
	}
	consumed, ok := arithOf(mulOp, c, span)
	if !ok {
		return nil, false
	}
	return resultMap(env.M, "consuming", c, "consumed", consumed, "since", env.From)
}

// resultMap is the map of the three entries k1: v1, k2: v2, k3: v3 as a formula's result
// leaves the program: normalized (a time becomes a decimal). Run normalizes the whole map
// when an entry is not, copying every entry; entry by entry gives the same values without
// the second map. ok is false when an entry does not normalize.
func resultMap(measures map[string]any, k1 string, v1 any, k2 string, v2 any, k3 string, v3 any) (any, bool) {
	var ok1, ok2, ok3 bool
	v1, ok1 = normalizedEntry(v1, measures)
	v2, ok2 = normalizedEntry(v2, measures)
	v3, ok3 = normalizedEntry(v3, measures)
	if !ok1 || !ok2 || !ok3 {
		return nil, false
	}
	return map[string]any{k1: v1, k2: v2, k3: v3}, true
}

// normalizedEntry is v as Normalize of a map holding it leaves it.
func normalizedEntry(v any, measures map[string]any) (any, bool) {
	switch x := v.(type) {
	case nil, decimal.Decimal, bool, string:
		return v, true
	case int64:
		return decimal.NewFromInt(x), true
	}
	if normalized(v, measures) {
		return v, true // a map of normalized values, which Normalize would copy: the same values
	}
	n, err := Normalize(v)
	return n, err == nil
}

// timeAccumulate runs the time-based accumulate as the program does: the window's test on
// the times, td = ((from - start) + to) - start and the sums with addSub and mulOp, a?.since
// > start as the comparison operators order them, the map normalized as the program's
// result is. ok is false when a or qty is not what the program reads without failing (a map,
// or nil where ?. allows it) or a step fails: the program then runs.
func timeAccumulate(env *Env) (any, bool) {
	if env.End < env.From || env.End >= env.To {
		return env.A, normalized(env.A, env.M)
	}
	q, isMap := env.Qty.(map[string]any)
	if !isMap {
		return nil, false
	}
	td, err := addSub(env.From, env.Start, true)
	if err == nil {
		if td, err = addSub(td, env.To, false); err == nil {
			td, err = addSub(td, env.Start, true)
		}
	}
	if err != nil {
		return nil, false
	}
	since, ok := entry(env.A, "since")
	if !ok {
		return nil, false
	}
	c, err := compareValues(since, env.Start)
	if err != nil {
		return nil, false
	}
	consuming, newSince := q["consuming"], any(env.Start)
	if c > 0 {
		if env.A == nil {
			return nil, false // a.consuming of no cell: the program's to report
		}
		consuming, _ = entry(env.A, "consuming")
		newSince = since
	}
	now, ok := arithOf(mulOp, q["consuming"], td)
	if !ok {
		return nil, false
	}
	before, ok := arithOf(mulOp, q["previous_consuming"], td)
	if !ok {
		return nil, false
	}
	had, _ := entry(env.A, "consumed")
	consumed, err := addSub(now, before, false)
	if err == nil {
		consumed, err = addSub(consumed, or0(had), false)
	}
	if err != nil {
		return nil, false
	}
	return resultMap(env.M, "consuming", consuming, "consumed", consumed, "since", newSince)
}

// timeRateForm is the linux container's rate: the price kept beside the consumption, for the
// charge to multiply; rateKey reads the price's key in the formula's body.
const timeRateForm = "{p:p,consuming:qty.consuming,consumed:qty.consumed}"

var rateKey = regexp.MustCompile(`^\{([A-Za-z_][A-Za-z0-9_]*):`)

// timeRate runs the time-based rate as the program does: a map of the price under key and
// qty's two entries, normalized as the program's result is. ok is false when qty is not a map.
func timeRate(key string, env *Env) (any, bool) {
	q, ok := env.Qty.(map[string]any)
	if !ok {
		return nil, false
	}
	return resultMap(env.M, key, env.P, "consuming", q["consuming"], "consumed", q["consumed"])
}

func sub64(x, y int64) (int64, bool) {
	r := x - y
	return r, (x^y)&(x^r) < 0
}

func add64(x, y int64) (int64, bool) {
	r := x + y
	return r, (x^r)&(y^r) < 0
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
