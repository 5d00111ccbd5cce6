package plans

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/shopspring/decimal"
)

// timeFormulas compiles the built-in plans' time-based summary and charge.
func timeFormulas(tb testing.TB) (sum, charge *Formula) {
	tb.Helper()
	var err error
	if sum, err = CompileFormula(Summarize, "(t, qty, from, to) => !qty ? 0 : (qty.consumed - qty.consuming * (from - min(t, to) + to - min(t, to))) / 2 / 3600000", nil); err != nil {
		tb.Fatal(err)
	}
	if charge, err = CompileFormula(Charge, "(t, qty, from, to) => !qty || !qty.price ? 0 : (qty.consumed - qty.consuming * (from - min(t, to) + to - min(t, to))) / 2 / 3600000 * qty.price", nil); err != nil {
		tb.Fatal(err)
	}
	return sum, charge
}

// TestTimeBasedFastPathIsTheProgram: the time-based summary and charge give what their
// programs give, to the decimal's representation, or run the program, on maps of decimals
// of any exponent, nils, missing entries, other types, and times before, in and after the
// window.
func TestTimeBasedFastPathIsTheProgram(t *testing.T) {
	sum, charge := timeFormulas(t)
	if sum.fast != fastTimeSummary || charge.fast != fastTimeCharge {
		t.Fatalf("not recognized: %q %q", sum.canonical, charge.canonical)
	}
	r := rand.New(rand.NewPCG(3, 4))
	window := func() (tm, from, to int64) {
		from = int64(1_796_083_200_000) + r.Int64N(1e10)
		to = from + []int64{0, 1, 3_600_000, 86_400_000, 2_678_400_000}[r.IntN(5)]
		return []int64{from - 1, from, (from + to) / 2, to, to + 1, 0}[r.IntN(6)], from, to
	}
	fields := []string{"consuming", "consumed", "price", "since"}
	fastIsProgram(t, sum, 20000, func(int) Env {
		tm, from, to := window()
		return Env{T: tm, From: from, To: to, Qty: randomMap(r, fields...)}
	})
	fastIsProgram(t, charge, 20000, func(int) Env {
		tm, from, to := window()
		return Env{T: tm, From: from, To: to, Cost: randomMap(r, fields...)}
	})
}

// randomNumber is an operand as cells and documents hold them, or not: nil, 0 at two
// exponents, a time, a boolean, a string, or a decimal of up to ten digits at an exponent
// from -30 to 9.
func randomNumber(r *rand.Rand) any {
	switch r.IntN(9) {
	case 0:
		return nil
	case 1:
		return decimal.Zero
	case 2:
		return decimal.New(0, -3)
	case 3:
		return int64(r.IntN(1000))
	case 4:
		return []any{true, "s"}[r.IntN(2)]
	}
	return decimal.New(r.Int64N(2e9)-1e9, int32(r.IntN(40)-30))
}

// randomMap is a cell value of a time-based metric, or not: nil, a decimal, an empty map,
// false, or a map of most of fields, each a randomNumber (nil leaves it out).
func randomMap(r *rand.Rand, fields ...string) any {
	switch r.IntN(12) {
	case 0:
		return nil
	case 1:
		return decimal.NewFromInt(5)
	case 2:
		return map[string]any{}
	case 3:
		return false
	}
	m := map[string]any{}
	for _, k := range fields {
		if v := randomNumber(r); v != nil && r.IntN(6) > 0 {
			m[k] = v
		}
	}
	return m
}

// fastIsProgram evaluates f in n environments env gives, with its fast path and with its
// program: where the fast path takes one, its result must be the program's, to the
// representation (reflect.DeepEqual), and the program must not fail; at least a third of
// them must take it.
func fastIsProgram(t *testing.T, f *Formula, n int, env func(i int) Env) {
	t.Helper()
	fast := 0
	for i := range n {
		e := env(i)
		want, werr := f.run(&e)
		got, ok := f.evalFast(&e)
		if !ok {
			continue
		}
		fast++
		if werr != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s %q, %d: %+v: fast %#v, program %#v (%v)", f.Stage, f.Source, i, e, got, want, werr)
		}
	}
	if fast < n/3 {
		t.Errorf("%s %q: only %d of %d evaluations took the fast path", f.Stage, f.Source, fast, n)
	}
}

// FuzzTimeBased: on a map of fuzzed decimals and times, the time-based summary and charge's
// fast path gives the program's result, to the representation, or leaves it to the program.
func FuzzTimeBased(f *testing.F) {
	f.Add("1", "86400000", "0.5", int64(1_796_083_200_000), int64(86_400_000), int64(3_600_000))
	f.Add("-2.000000000000", "0", "", int64(0), int64(0), int64(-1))
	sum, charge := timeFormulas(f)
	f.Fuzz(func(t *testing.T, consuming, consumed, price string, from, span, at int64) {
		m := map[string]any{}
		for k, s := range map[string]string{"consuming": consuming, "consumed": consumed, "price": price} {
			if v := fuzzOperand(s); v != nil {
				m[k] = v
			}
		}
		env := Env{Qty: m, Cost: m, From: from, To: from + span, T: from + at}
		for _, f := range []*Formula{sum, charge} {
			got, ok := f.evalFast(&env)
			if !ok {
				continue
			}
			want, werr := f.run(&env)
			if werr != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s of %v at %d in [%d, %d): fast %#v, program %#v (%v)", f.Stage, m, env.T, env.From, env.To, got, want, werr)
			}
		}
	})
}

// TestTimeCarryIsTheProgram: the time-based carry gives what its program gives, to the
// representation (since normalized into a decimal), or runs the program, on cells of any
// consumption (decimals at any exponent, zero, times, other types, missing) and periods of
// any length, overflowing ones included.
func TestTimeCarryIsTheProgram(t *testing.T) {
	f, err := CompileFormula(Carry, "(a, from, to) => {consuming: a?.consuming || 0, consumed: (a?.consuming || 0) * (to - from), since: from}", nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.fast != fastTimeCarry {
		t.Fatalf("not recognized: %q", f.canonical)
	}
	r := rand.New(rand.NewPCG(7, 8))
	fastIsProgram(t, f, 20000, func(int) Env {
		from := int64(1_796_083_200_000) + r.Int64N(1e10)
		to := from + []int64{0, 1, 3_600_000, 86_400_000, 2_678_400_000}[r.IntN(5)]
		if r.IntN(50) == 0 {
			from, to = -1<<63, 1<<62 // to - from overflows int64
		}
		return Env{A: randomMap(r, "consuming", "consumed", "since"), From: from, To: to}
	})
}

// TestTimeAccumulateIsTheProgram: the time-based accumulate gives what its program gives, to
// the representation, or runs the program, on cells and documents of any consumption
// (decimals at any exponent, zeros, times, other types, missing entries), since times as
// decimals or times, before, at and after the document's start, and documents in, before and
// after the window, overflowing spans included.
func TestTimeAccumulateIsTheProgram(t *testing.T) {
	f, err := CompileFormula(Accumulate, "(a, qty, start, end, from, to) => end < from || end >= to ? a : let td = from - start + to - start; {consuming: a?.since > start ? a.consuming : qty.consuming, consumed: qty.consuming * td + qty.previous_consuming * td + (a?.consumed || 0), since: a?.since > start ? a.since : start}", nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.fast != fastTimeAccumulate {
		t.Fatalf("not recognized: %q", f.canonical)
	}
	r := rand.New(rand.NewPCG(9, 10))
	base := int64(1_796_083_200_000)
	fastIsProgram(t, f, 30000, func(int) Env {
		start := base + r.Int64N(3_600_000) - 1_800_000
		end := start + r.Int64N(3_600_000)
		from := base - []int64{0, 3_600_000, 86_400_000}[r.IntN(3)]
		to := from + []int64{1000, 3_600_000, 86_400_000, 2_678_400_000}[r.IntN(4)]
		switch r.IntN(40) {
		case 0:
			start, from, to = -1<<62, 1<<62, 1<<62+1 // td overflows int64
			end = from
		case 1:
			start = -5 // a cell with no since is later than the start
		}
		a := randomMap(r, "consuming", "consumed")
		if m, ok := a.(map[string]any); ok && r.IntN(6) > 0 {
			// Since as the accumulate leaves it (a decimal) or as a time, before, at or after
			// the start, or not a time.
			at := []int64{start, base + r.Int64N(7_200_000) - 3_600_000}[r.IntN(2)]
			m["since"] = []any{at, decimal.NewFromInt(at), decimal.New(at*10, -1), randomNumber(r)}[r.IntN(4)]
		}
		return Env{A: a, Qty: randomMap(r, "consuming", "previous_consuming"), Start: start, End: end, From: from, To: to}
	})
}

// TestTimeRateIsTheProgram: the time-based rate gives what its program gives, whatever the
// price's key and argument are called, on any price and consumption, or runs the program.
func TestTimeRateIsTheProgram(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for src, key := range map[string]string{
		"(price, qty) => {price: price, consuming: qty.consuming, consumed: qty.consumed}":          "price",
		"(price, qty) => {p: price, consuming: qty.consuming, consumed: qty.consumed}":              "p",
		"(x, q) => { x : x , consuming: q.consuming, consumed: q.consumed }":                        "x",
		"{p: p, consuming: qty.consuming, consumed: qty.consumed}":                                  "p",
		"(consumed, qty) => {consumed: consumed, consuming: qty.consuming, consumed: qty.consumed}": "",
	} {
		f, err := CompileFormula(Rate, src, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.fast == fastTimeRate; got != (key != "") || got && f.fields[0] != key {
			t.Fatalf("%s: fast %v, fields %q; want key %q", src, got, f.fields, key)
		}
		if key != "" {
			fastIsProgram(t, f, 3000, func(int) Env {
				return Env{P: randomNumber(r), Qty: randomMap(r, "consuming", "consumed", "since")}
			})
		}
	}
}
