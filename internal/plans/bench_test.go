package plans

import (
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// The document benchmarks run one usage document through the formula stages of the metering
// pipeline for every metric of a built-in plan: meter, accumulate into an instance cell,
// aggregate the instance's change into the organization cell, rate the organization cell at
// the USA price. Figures and how to read them: docs/benchmarks.md.
//
// The cells live across iterations, as a busy month cell does: every document falls into the
// window, so each accumulate and aggregate does its arithmetic (none takes the "outside the
// window" shortcut). Prices are looked up and boxed once per plan, as a pipeline caches them
// with the compiled plan; what is measured is the formula engine, not map look-ups of the
// harness.

// docBench is one plan's pipeline state for the document benchmarks.
type docBench struct {
	m        *Metering
	r        *Rating
	prices   []any // by metric index; the USA price
	inst     []any // the instance cell, by metric index
	org      []any // the organization cell, by metric index
	metered  []any // MeterDocument's reused output
	from, to int64
}

func newDocBench(b *testing.B, metering, rating, pricing string) *docBench {
	b.Helper()
	s := compileBuiltin(b)
	m, r, p := s.metering[metering], s.rating[rating], s.pricing[pricing]
	if m == nil || r == nil || p == nil {
		b.Fatalf("built-in plans %s, %s, %s: not all found", metering, rating, pricing)
	}
	db := &docBench{m: m, r: r, from: monthStart.UnixMilli(), to: monthEnd.UnixMilli(),
		prices: make([]any, len(m.Metrics)), inst: make([]any, len(m.Metrics)), org: make([]any, len(m.Metrics))}
	for i, mm := range m.Metrics {
		price, ok := p.Price(mm.Name, "USA")
		if !ok {
			b.Fatalf("pricing plan %s has no USA price for %s", pricing, mm.Name)
		}
		db.prices[i] = price
	}
	return db
}

// document runs one document through every metric's stages; start and end are the document's
// times in epoch milliseconds.
func (db *docBench) document(b *testing.B, measures map[string]any, start, end int64) {
	var err error
	db.metered, err = db.m.MeterDocument(measures, db.metered)
	if err != nil {
		b.Fatal(err)
	}
	for i, mm := range db.m.Metrics {
		qty := db.metered[i]
		if qty == nil {
			continue
		}
		prev := db.inst[i]
		curr, err := db.m.Accumulate(mm, prev, qty, start, end, db.from, db.to)
		if err != nil {
			b.Fatal(err)
		}
		db.inst[i] = curr
		agg, err := db.m.Aggregate(mm, db.org[i], prev, curr)
		if err != nil {
			b.Fatal(err)
		}
		db.org[i] = agg
		cost, err := db.r.Rate(mm.Name, db.prices[i], agg)
		if err != nil {
			b.Fatal(err)
		}
		if cost == nil {
			b.Fatalf("metric %s: no cost", mm.Name)
		}
	}
}

// run benchmarks documents and reports the figures per document (ns/op, allocs/op) and per
// metric (ns/metric, allocs/metric: the same totals divided by the plan's metric count).
func (db *docBench) run(b *testing.B, measures map[string]any, start, end int64) {
	db.document(b, measures, start, end) // the first document creates the cells
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		db.document(b, measures, start, end)
	}
	runtime.ReadMemStats(&after)
	perMetric(b, len(db.m.Metrics), after.Mallocs-before.Mallocs)
}

// perMetric reports ns/metric and allocs/metric of a finished b.Loop whose iterations each
// handled metrics metrics and which made mallocs allocations in all.
func perMetric(b *testing.B, metrics int, mallocs uint64) {
	n := float64(b.N) * float64(metrics)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/metric")
	b.ReportMetric(float64(mallocs)/n, "allocs/metric")
}

// BenchmarkObjectStorageDocument: basic-object-storage (three discrete metrics: the maximum
// of storage in GB, thousands of light calls, heavy calls) with object-rating-plan and
// object-pricing-basic.
func BenchmarkObjectStorageDocument(b *testing.B) {
	db := newDocBench(b, "basic-object-storage", "object-rating-plan", "object-pricing-basic")
	at := monthStart.Add(time.Hour).UnixMilli()
	doc := objectDoc()
	db.run(b, doc, at, at+1000)
}

// BenchmarkLinuxContainerDocument: basic-linux-container (one time-based metric, memory in
// GB-hours, kept as a map {consuming, consumed, since}) with linux-rating-plan and
// linux-pricing-basic. The document reports an application that went from 1 instance of 1 GB
// to 1 instance of 2 GB.
func BenchmarkLinuxContainerDocument(b *testing.B) {
	db := newDocBench(b, "basic-linux-container", "linux-rating-plan", "linux-pricing-basic")
	at := monthStart.Add(time.Hour).UnixMilli()
	doc := memoryDoc(2, 1, 1, 1)
	db.run(b, doc, at, at)
}

// The formula benchmarks compare each fast path with the expr program of the same formula.
// The program's variant is the fast form in parentheses: the same formula, which the fast-path
// recognizer does not match (benchFormula checks both, so a recognizer that learns to match
// it fails the benchmark instead of silently measuring the fast path twice).

// benchFormula benchmarks f.Eval of the stage's formula src in env; fast is whether src must
// run as plain Go.
func benchFormula(b *testing.B, stage Stage, src string, fast bool, env Env) {
	b.Helper()
	f, err := CompileFormula(stage, src, nil)
	if err != nil {
		b.Fatal(err)
	}
	if f.Fast() != fast {
		b.Fatalf("%s formula %q: fast path %v, want %v", stage, src, f.Fast(), fast)
	}
	if _, err := f.Eval(&env); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Eval(&env); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	benchMeasures = Env{M: map[string]any{"storage": decimal.NewFromInt(1 << 30), "light_api_calls": decimal.NewFromInt(1000)}}
	benchAccEnv   = Env{A: decimal.NewFromInt(41000), Qty: decimal.NewFromInt(1000),
		Start: monthStart.Add(time.Hour).UnixMilli(), End: monthStart.Add(time.Hour).UnixMilli(),
		From: monthStart.UnixMilli(), To: monthEnd.UnixMilli()}
	benchAggEnv  = Env{A: decimal.NewFromInt(123000), Prev: decimal.NewFromInt(41000), Curr: decimal.NewFromInt(42000)}
	benchRateEnv = Env{P: decimal.RequireFromString("0.15"), Qty: decimal.NewFromInt(123000)}
)

func BenchmarkMeterFastMeasure(b *testing.B) {
	benchFormula(b, Meter, "m.storage", true, benchMeasures)
}
func BenchmarkMeterExpr(b *testing.B) { benchFormula(b, Meter, "(m.storage)", false, benchMeasures) }

func BenchmarkMeterFastMeasureOr0Div(b *testing.B) {
	benchFormula(b, Meter, "(m.storage || 0) / 1073741824", true, benchMeasures)
}
func BenchmarkMeterExprMeasureOr0Div(b *testing.B) {
	benchFormula(b, Meter, "((m.storage || 0) / 1073741824)", false, benchMeasures)
}

func BenchmarkAccumulateFastSumInWindow(b *testing.B) {
	benchFormula(b, Accumulate, "end < from || end >= to ? a : a + qty", true, benchAccEnv)
}
func BenchmarkAccumulateExprSumInWindow(b *testing.B) {
	benchFormula(b, Accumulate, "(end < from || end >= to ? a : a + qty)", false, benchAccEnv)
}

func BenchmarkAccumulateFastSum(b *testing.B) {
	benchFormula(b, Accumulate, "a + qty", true, benchAccEnv)
}
func BenchmarkAccumulateExpr(b *testing.B) {
	benchFormula(b, Accumulate, "(a + qty)", false, benchAccEnv)
}

func BenchmarkAccumulateFastMax(b *testing.B) {
	benchFormula(b, Accumulate, "max(a, qty)", true, benchAccEnv)
}
func BenchmarkAccumulateExprMax(b *testing.B) {
	benchFormula(b, Accumulate, "(max(a, qty))", false, benchAccEnv)
}

func BenchmarkAggregateFastDelta(b *testing.B) {
	benchFormula(b, Aggregate, "a + curr - prev", true, benchAggEnv)
}
func BenchmarkAggregateExprDelta(b *testing.B) {
	benchFormula(b, Aggregate, "(a + curr - prev)", false, benchAggEnv)
}

func BenchmarkAggregateFastDeltaOr0(b *testing.B) {
	benchFormula(b, Aggregate, "(a || 0) + curr - (prev || 0)", true, benchAggEnv)
}
func BenchmarkAggregateExprDeltaOr0(b *testing.B) {
	benchFormula(b, Aggregate, "((a || 0) + curr - (prev || 0))", false, benchAggEnv)
}

func BenchmarkRateFastProduct(b *testing.B) { benchFormula(b, Rate, "p * qty", true, benchRateEnv) }
func BenchmarkRateExprProduct(b *testing.B) { benchFormula(b, Rate, "(p * qty)", false, benchRateEnv) }

func BenchmarkRateFastProductOr0(b *testing.B) {
	benchFormula(b, Rate, "(p || 0) * qty", true, benchRateEnv)
}
func BenchmarkRateExprProductOr0(b *testing.B) {
	benchFormula(b, Rate, "((p || 0) * qty)", false, benchRateEnv)
}

// The benchmarks above compare fast paths with programs that must give the same results, and
// programs whose arithmetic on times must give what decimal arithmetic gives. These tests check
// both to the last detail (reflect.DeepEqual of the decimals: coefficient, its representation,
// exponent) over operands of every kind.

// benchOperands are formula values of every kind a fast path meets or refuses.
func benchOperands() []any {
	return []any{nil, decimal.Zero, decimal.NewFromInt(0), decimal.New(0, 2), decimal.New(0, -3),
		d("5"), d("-5"), d("1.5"), d("1000"), decimal.New(7, 3), d("1").DivRound(d("3"), DivisionScale),
		d("123456789012345678901234567890"), decimal.NewFromInt(1 << 62), int64(7), true, false, "s",
		map[string]any{"x": d("1")}}
}

// TestFastPathsMatchPrograms: every fast form gives what its program gives, or runs it.
func TestFastPathsMatchPrograms(t *testing.T) {
	ops := benchOperands()
	check := func(stage Stage, src string, envs []Env) {
		t.Helper()
		fast, err := CompileFormula(stage, src, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The same formula in parentheses, which runs its program.
		args, body, arrow := strings.Cut(src, "=>")
		paren := "(" + src + ")"
		if arrow {
			paren = args + "=> (" + body + ")"
		}
		prog, err := CompileFormula(stage, paren, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !fast.Fast() || prog.Fast() {
			t.Fatalf("%q: fast path %v, %q: fast path %v", src, fast.Fast(), paren, prog.Fast())
		}
		for _, env := range envs {
			got, gerr := fast.Eval(&env)
			want, werr := prog.Eval(&env)
			if (gerr != nil) != (werr != nil) || !reflect.DeepEqual(got, want) {
				t.Errorf("%q in %+v = %#v (%v), the program gives %#v (%v)", src, env, got, gerr, want, werr)
			}
		}
	}
	var envs []Env
	for _, a := range ops {
		for _, b := range ops {
			for _, c := range ops {
				envs = append(envs, Env{A: a, Qty: b, Prev: b, Curr: c, P: c, Cost: a, End: 5, From: 0, To: 10})
			}
		}
	}
	out := Env{A: d("2"), Qty: d("3"), End: 10, From: 0, To: 10}
	for _, src := range []string{"end < from || end >= to ? a : a + qty", "end < from || end >= to ? a : max(a, qty)",
		"a + qty", "max(a, qty)"} {
		check(Accumulate, src, append(envs, out))
	}
	for _, src := range []string{"a + curr - prev", "a - prev + curr", "(a || 0) + curr - (prev || 0)"} {
		check(Aggregate, src, envs)
	}
	for _, src := range []string{"p * qty", "qty * p", "(p || 0) * qty", "qty * (p || 0)"} {
		check(Rate, src, envs)
	}
	check(Summarize, "qty", envs)
	for _, src := range []string{"cost", "cost ? cost : 0"} {
		check(Charge, src, envs)
	}

	var meter []Env
	for _, v := range ops {
		meter = append(meter, Env{M: map[string]any{"storage": v, "m": d("2")}})
	}
	meter = append(meter, Env{}, Env{M: map[string]any{}})
	for _, src := range []string{"m.storage", "m.storage || 0", "(m.storage || 0) / 1073741824", "(m.storage || 0) / 1000",
		"(s) => s.storage", "(storage) => storage.storage", "(storage) => storage.storage || 0"} {
		check(Meter, src, meter)
	}
}

// TestTimeArithmetic: sums, differences and comparisons of times with times and numbers give
// what decimals do.
func TestTimeArithmetic(t *testing.T) {
	nums := []any{int64(0), int64(1), int64(-1), int64(1 << 62), int64(-1 << 63), int64(1<<63 - 1), int64(1795000000000),
		decimal.Zero, decimal.NewFromInt(0), d("1795000000000"), d("-3"), d("1.5"), decimal.New(3, 1),
		d("999999999999999999"), d("1000000000000000000"), d("-123456789012345678901234567890")}
	for _, op := range []string{"+", "-", "<", "<=", ">", ">=", "*"} {
		f, err := CompileFormula(Summarize, "qty "+op+" t", nil)
		if err != nil {
			t.Fatal(err)
		}
		g, err := CompileFormula(Summarize, "t "+op+" qty", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range nums {
			for _, tv := range nums {
				tm, ok := tv.(int64)
				if !ok {
					continue
				}
				x, y := mustNum(t, q), decimal.NewFromInt(tm)
				got1, err1 := f.Eval(&Env{Qty: q, T: tm})
				got2, err2 := g.Eval(&Env{Qty: q, T: tm})
				if err1 != nil || err2 != nil {
					t.Fatalf("%v %s %v: %v, %v", q, op, tm, err1, err2)
				}
				want1, want2 := decimalOp(op, x, y), decimalOp(op, y, x)
				if !reflect.DeepEqual(got1, want1) || !reflect.DeepEqual(got2, want2) {
					t.Errorf("%v %s %v = %#v, %v %s %v = %#v; want %#v and %#v", q, op, tm, got1, tm, op, q, got2, want1, want2)
				}
			}
		}
	}
}

func mustNum(t *testing.T, v any) decimal.Decimal {
	t.Helper()
	x, err := num(v)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func decimalOp(op string, x, y decimal.Decimal) any {
	switch op {
	case "+":
		return x.Add(y)
	case "-":
		return x.Sub(y)
	case "*":
		return x.Mul(y)
	case "<":
		return x.Cmp(y) < 0
	case "<=":
		return x.Cmp(y) <= 0
	case ">":
		return x.Cmp(y) > 0
	default:
		return x.Cmp(y) >= 0
	}
}

// TestAggregateEach: aggregating one change into many cells at once gives, cell by cell,
// what Aggregate gives (the same number at the same exponent), for the delta forms, whose
// change is computed once, and for a form without that path.
func TestAggregateEach(t *testing.T) {
	ops := benchOperands()
	for _, src := range []string{"", "(a, prev, curr) => a - prev + curr", "(a, prev, curr) => (a || 0) + curr - (prev || 0)",
		"(a, prev, curr) => max(a, curr)", "(a, prev, curr) => (a + curr - prev)"} {
		m, err := CompileMetering(MeteringPlan{PlanID: "p", Measures: []Measure{{Name: "x"}},
			Metrics: []MeteringMetric{{Name: "x", Aggregate: src}}})
		if err != nil {
			t.Fatal(err)
		}
		mm := m.Metrics[0]
		for _, prev := range ops {
			for _, curr := range ops {
				// The cells Aggregate takes the change into; AggregateEach must fail where it
				// fails.
				var cells, want []any
				for _, a := range ops {
					v, err := m.Aggregate(mm, a, prev, curr)
					if err != nil {
						if m.AggregateEach(mm, []any{d("1"), a}, prev, curr) == nil {
							t.Errorf("%q, a %v, %v -> %v: no error, Aggregate's %v", src, a, prev, curr, err)
						}
						continue
					}
					cells, want = append(cells, a), append(want, v)
				}
				got := append([]any(nil), cells...)
				if err := m.AggregateEach(mm, got, prev, curr); err != nil {
					t.Fatalf("%q, %v -> %v: %v", src, prev, curr, err)
				}
				for i := range want {
					g, gok := got[i].(decimal.Decimal)
					w, wok := want[i].(decimal.Decimal)
					same := gok == wok && (gok && g.Cmp(w) == 0 && g.Exponent() == w.Exponent() && g.String() == w.String() ||
						!gok && reflect.DeepEqual(got[i], want[i]))
					if !same {
						t.Errorf("%q, a %v, %v -> %v: %#v, Aggregate gives %#v", src, cells[i], prev, curr, got[i], want[i])
					}
				}
			}
		}
	}
}
