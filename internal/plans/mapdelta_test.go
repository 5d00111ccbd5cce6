package plans

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

const linuxAggregate = "(a, prev, curr) => !curr ? a : {consuming: curr.consuming - (prev?.consuming || 0) + (a?.consuming || 0), consumed: curr.consumed - (prev?.consumed || 0) + (a?.consumed || 0)}"

// TestMapDeltaRecognized: the linux container's aggregate and the same form over other
// fields take the fast path; near misses (another name in an entry, a repeated entry, other
// operations) run the program.
func TestMapDeltaRecognized(t *testing.T) {
	for src, fields := range map[string][]string{
		linuxAggregate: {"consuming", "consumed"},
		"(a, prev, curr) => !curr ? a : {x: curr.x - (prev?.x || 0) + (a?.x || 0)}":                                           {"x"},
		"(x, y, z) => !z ? x : {n: z.n - (y?.n || 0) + (x?.n || 0), m: z.m - (y?.m || 0) + (x?.m || 0)}":                      {"n", "m"},
		"(a, prev, curr) => !curr ? a : {x: curr.y - (prev?.x || 0) + (a?.x || 0)}":                                           nil,
		"(a, prev, curr) => !curr ? a : {x: curr.x - (prev?.x || 0) + (a?.x || 0), x: curr.x - (prev?.x || 0) + (a?.x || 0)}": nil,
		"(a, prev, curr) => !curr ? a : {x: curr.x - (prev?.x || 1) + (a?.x || 0)}":                                           nil,
		"(a, prev, curr) => !curr ? a : {}":                                                                                   nil,
	} {
		f, err := CompileFormula(Aggregate, src, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.fast == fastMapDelta; got != (fields != nil) || !reflect.DeepEqual(f.fields, fields) {
			t.Errorf("%s: fast %v, fields %q; want %q", src, got, f.fields, fields)
		}
	}
}

// TestMapDeltaIsTheProgram: on maps of decimals at any exponent, zeros, missing entries,
// times, other types, nils and non-maps, the fast path and AggregateEach give what the program
// gives, to the decimal's representation, or leave it to the program (which then fails where
// it fails).
func TestMapDeltaIsTheProgram(t *testing.T) {
	m, err := CompileMetering(MeteringPlan{PlanID: "p", Measures: []Measure{{Name: "x"}},
		Metrics: []MeteringMetric{{Name: "x", Aggregate: linuxAggregate}}})
	if err != nil {
		t.Fatal(err)
	}
	mm := m.Metrics[0]
	f := mm.Aggregate
	if f.fast != fastMapDelta {
		t.Fatalf("not recognized: %q", f.canonical)
	}
	r := rand.New(rand.NewPCG(5, 6))
	value := func() any { return randomMap(r, "consuming", "consumed", "since") }
	fast := 0
	for i := range 30000 {
		prev, curr := value(), value()
		as := []any{value(), value(), value()}
		var want []any
		failed := false
		for _, a := range as {
			env := Env{A: a, Prev: prev, Curr: curr}
			w, werr := f.run(&env)
			if got, ok := f.evalFast(&env); ok {
				fast++
				if werr != nil || !reflect.DeepEqual(got, w) {
					t.Fatalf("%d: a %v, prev %v, curr %v: fast %#v, program %#v (%v)", i, a, prev, curr, got, w, werr)
				}
			}
			failed = failed || werr != nil
			want = append(want, w)
		}
		got := append([]any(nil), as...)
		err := m.AggregateEach(mm, got, prev, curr)
		if failed {
			if err == nil {
				t.Fatalf("%d: a %v, prev %v, curr %v: AggregateEach did not fail", i, as, prev, curr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%d: a %v, prev %v, curr %v: AggregateEach %v (%v), program %v", i, fmt.Sprint(as...), prev, curr, got, err, want)
		}
	}
	if fast < 10000 {
		t.Errorf("only %d of 90000 evaluations took the fast path", fast)
	}
}
