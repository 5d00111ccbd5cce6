package plans

import (
	"fmt"
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
	number := func() any {
		switch r.IntN(8) {
		case 0:
			return nil
		case 1:
			return decimal.Zero
		case 2:
			return int64(r.IntN(1000))
		case 3:
			return true
		default:
			return decimal.New(r.Int64N(2e9)-1e9, int32(r.IntN(40)-30))
		}
	}
	value := func() any {
		switch r.IntN(10) {
		case 0:
			return nil
		case 1:
			return decimal.NewFromInt(5)
		case 2:
			return map[string]any{}
		}
		m := map[string]any{}
		for _, k := range []string{"consuming", "consumed", "price", "since"} {
			if r.IntN(6) > 0 {
				m[k] = number()
			}
		}
		return m
	}
	fast := 0
	for i := range 20000 {
		from := int64(1_796_083_200_000) + r.Int64N(1e10)
		to := from + []int64{0, 1, 3_600_000, 86_400_000, 2_678_400_000}[r.IntN(5)]
		tm := []int64{from - 1, from, (from + to) / 2, to, to + 1, 0}[r.IntN(6)]
		for _, f := range []*Formula{sum, charge} {
			env := Env{T: tm, From: from, To: to}
			if f == sum {
				env.Qty = value()
			} else {
				env.Cost = value()
			}
			want, werr := f.run(&env)
			got, ok := f.evalFast(&env)
			if !ok {
				continue
			}
			fast++
			if werr != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%d: %s of %v at %d in [%d, %d): fast %#v, program %#v (%v)", i, f.Stage, fmt.Sprint(env.Qty, env.Cost), tm, from, to, got, want, werr)
			}
		}
	}
	if fast < 10000 {
		t.Errorf("only %d of 40000 evaluations took the fast path", fast)
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
	cell := func() any {
		switch r.IntN(8) {
		case 0:
			return nil
		case 1:
			return decimal.NewFromInt(3)
		case 2:
			return map[string]any{"consumed": decimal.NewFromInt(1)}
		case 3:
			return map[string]any{"consuming": []any{decimal.Zero, decimal.New(0, -4), int64(5), true, "s"}[r.IntN(5)]}
		}
		return map[string]any{"consuming": decimal.New(r.Int64N(2e9)-1e9, int32(r.IntN(40)-30)), "since": int64(1)}
	}
	fast := 0
	for i := range 20000 {
		from := int64(1_796_083_200_000) + r.Int64N(1e10)
		to := from + []int64{0, 1, 3_600_000, 86_400_000, 2_678_400_000}[r.IntN(5)]
		if r.IntN(50) == 0 {
			from, to = -1<<63, 1<<62 // to - from overflows int64
		}
		env := Env{A: cell(), From: from, To: to}
		want, werr := f.run(&env)
		got, ok := f.evalFast(&env)
		if !ok {
			continue
		}
		fast++
		if werr != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%d: carry of %v into [%d, %d): fast %#v, program %#v (%v)", i, env.A, from, to, got, want, werr)
		}
	}
	if fast < 10000 {
		t.Errorf("only %d of 20000 evaluations took the fast path", fast)
	}
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
	number := func() any {
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
	value := func(fields ...string) any {
		switch r.IntN(10) {
		case 0:
			return nil
		case 1:
			return decimal.NewFromInt(4)
		}
		m := map[string]any{}
		for _, k := range fields {
			if r.IntN(6) == 0 {
				continue
			}
			if k == "since" {
				at := base + r.Int64N(7_200_000) - 3_600_000
				m[k] = []any{at, decimal.NewFromInt(at), decimal.New(at*10, -1), number()}[r.IntN(4)]
			} else if m[k] = number(); m[k] == nil {
				delete(m, k)
			}
		}
		return m
	}
	fast := 0
	for i := range 30000 {
		start := base + r.Int64N(3_600_000) - 1_800_000
		end := start + r.Int64N(3_600_000)
		from := base - []int64{0, 3_600_000, 86_400_000}[r.IntN(3)]
		to := from + []int64{1000, 3_600_000, 86_400_000, 2_678_400_000}[r.IntN(4)]
		if r.IntN(40) == 0 {
			start, from, to = -1<<62, 1<<62, 1<<62+1 // td overflows int64
			end = from
		}
		if r.IntN(30) == 0 {
			start = -5 // a cell with no since is later than the start
		}
		env := Env{A: value("consuming", "consumed", "since"), Qty: value("consuming", "previous_consuming"),
			Start: start, End: end, From: from, To: to}
		if m, ok := env.A.(map[string]any); ok && r.IntN(6) == 0 {
			m["since"] = []any{start, decimal.NewFromInt(start)}[r.IntN(2)] // since the start itself
		}
		want, werr := f.run(&env)
		got, ok := f.evalFast(&env)
		if !ok {
			continue
		}
		fast++
		if werr != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%d: accumulate %v, %v, [%d, %d] into [%d, %d): fast %#v, program %#v (%v)", i, env.A, env.Qty, start, end, from, to, got, want, werr)
		}
	}
	if fast < 10000 {
		t.Errorf("only %d of 30000 evaluations took the fast path", fast)
	}
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
		fast := 0
		for i := range 3000 {
			var qty any = map[string]any{"consuming": decimal.New(r.Int64N(1e6), -3), "consumed": int64(r.IntN(9)), "since": int64(4)}
			switch r.IntN(6) {
			case 0:
				qty = nil
			case 1:
				qty = decimal.NewFromInt(2)
			case 2:
				qty = map[string]any{"consumed": decimal.Zero}
			}
			env := Env{P: []any{nil, decimal.New(3, -2), int64(2), "s"}[r.IntN(4)], Qty: qty}
			want, werr := f.run(&env)
			got, ok := f.evalFast(&env)
			if !ok {
				continue
			}
			fast++
			if werr != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s %d: rate %v at %v: fast %#v, program %#v (%v)", src, i, env.Qty, env.P, got, want, werr)
			}
		}
		if key != "" && fast < 1000 {
			t.Errorf("%s: only %d of 3000 evaluations took the fast path", src, fast)
		}
	}
}
