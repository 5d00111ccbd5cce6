package plans

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/clock"
)

// FuzzPlan feeds the plan compiler plan documents of each kind (kind is one of Kinds, or
// anything else). Its seeds are in testdata/fuzz/FuzzPlan: the built-in plans, Abacus' sample
// plans with their JavaScript formulas (/work/shared/abacus-plans, all refused), and hostile
// plans (1e400 and 900,000-digit prices, "." and NUL in ids, formulas that do not parse).
//
// A document that decodes (strictly, as the provisioning API decodes it) either compiles, and
// then renders to JSON that decodes and compiles to the same plan, whose formulas evaluate
// on every usage of fuzzValues without a panic, giving a value or an *EvalError; or it is
// refused with a fault.Error of kind invalid whose every problem names a field and a reason.
func FuzzPlan(f *testing.F) {
	f.Fuzz(func(t *testing.T, kind string, body []byte) {
		doc, err := NewDocument(kind)
		if err != nil {
			if IsKind(kind) {
				t.Fatalf("NewDocument(%q): %v", kind, err)
			}
			return
		}
		if decodeStrict(body, doc) != nil {
			return // the API's to refuse, before the compiler sees it
		}
		compiled, err := doc.Compile()
		if err != nil {
			checkPlanRefusal(t, err)
			return
		}
		out, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("a compiled plan does not render: %v", err)
		}
		again, _ := NewDocument(kind)
		if err := decodeStrict(out, again); err != nil {
			t.Fatalf("the rendering of a compiled plan does not decode: %v\n%s", err, out)
		}
		if _, err := again.Compile(); err != nil {
			t.Fatalf("the rendering of a compiled plan does not compile: %v\n%s", err, out)
		}
		if out2, _ := json.Marshal(again); !bytes.Equal(out, out2) {
			t.Fatalf("the plan does not round-trip:\n%s\n%s", out, out2)
		}
		if got, _ := json.Marshal(DocumentOf(compiled)); !bytes.Equal(got, out) {
			t.Fatalf("DocumentOf gives %s, not the plan compiled, %s", got, out)
		}
		runPlan(t, compiled)
	})
}

// decodeStrict decodes a plan document as the provisioning API does: one JSON value, no
// field the document's type lacks.
func decodeStrict(body []byte, doc Document) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(doc); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the document")
	}
	return nil
}

func checkPlanRefusal(t *testing.T, err error) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.KindInvalid || len(fe.Problems) == 0 {
		t.Fatalf("refused with %v, want an invalid-input fault with problems", err)
	}
	for _, p := range fe.Problems {
		if p.Field == "" || p.Reason == "" {
			t.Errorf("problem %+v does not name a field and a reason", p)
		}
		if _, err := json.Marshal(p.Value); err != nil {
			t.Errorf("problem %s: the value %v cannot be rendered: %v", p.Field, p.Value, err)
		}
	}
}

// fuzzValues are the quantities, cells and prices a compiled plan's formulas are run on:
// what documents and cells hold (nil, decimals at the edges of Decimal(38, 12)), a
// time-based cell, and a time.
func fuzzValues() []any {
	return []any{nil, decimal.Zero, d("1"), d("1073741824"), d("0.5"), d("99999999999999999999999999.999999999999"),
		d("0.000000000001"), d("-3"), map[string]any{"consuming": d("2"), "consumed": d("7200000"), "since": int64(1)},
		int64(1435622400000)}
}

// runPlan runs every formula of a compiled plan on fuzzValues: each gives a value or an
// *EvalError naming the plan, the metric and the stage; none panics.
func runPlan(t *testing.T, compiled any) {
	t.Helper()
	values := fuzzValues()
	at := clock.Instants[0].UnixMilli()
	from, to := at-at%86_400_000, at-at%86_400_000+86_400_000
	check := func(metric string, stage Stage, v any, err error) {
		t.Helper()
		var ee *EvalError
		switch {
		case err == nil:
			checkValue(t, v)
		case !errors.As(err, &ee) || ee.Metric != metric || ee.Stage != stage:
			t.Errorf("metric %s, %s formula: error %v, want an *EvalError naming the metric and the stage", metric, stage, err)
		}
	}
	switch c := compiled.(type) {
	case *Metering:
		for _, v := range values {
			measures := map[string]any{}
			for _, m := range c.Plan.Measures {
				measures[m.Name] = v
			}
			if _, err := c.MeterDocument(measures, nil); err != nil {
				var ee *EvalError
				if !errors.As(err, &ee) || ee.Stage != Meter || ee.Plan != c.Plan.PlanID {
					t.Errorf("MeterDocument: %v, want an *EvalError of a meter formula", err)
				}
			}
			for _, mm := range c.Metrics {
				for _, a := range values {
					got, err := c.Accumulate(mm, a, v, at, at, from, to)
					check(mm.Name, Accumulate, got, err)
					got, err = c.Aggregate(mm, a, v, a)
					check(mm.Name, Aggregate, got, err)
				}
				got, err := c.Summarize(mm, at, v, from, to)
				check(mm.Name, Summarize, got, err)
			}
		}
	case *Rating:
		for name := range c.Metrics {
			for _, p := range values {
				for _, q := range values {
					got, err := c.Rate(name, p, q)
					check(name, Rate, got, err)
				}
				got, err := c.Charge(name, at, p, from, to)
				check(name, Charge, got, err)
			}
		}
	case *Pricing:
		for _, m := range c.Plan.Metrics {
			for _, pr := range m.Prices {
				if got, ok := c.Price(m.Name, pr.Country); !ok || !FitsStored(got) {
					t.Errorf("metric %s, %s: price %v (%v), want the stored price %v", m.Name, pr.Country, got, ok, pr.Price)
				}
			}
		}
	default:
		t.Fatalf("Compile returned a %T", compiled)
	}
}

// checkValue fails the test unless v is in the value model of formulas: nil, a decimal, a
// time, a boolean, a string or a map of them.
func checkValue(t *testing.T, v any) {
	t.Helper()
	switch x := v.(type) {
	case nil, decimal.Decimal, int64, bool, string:
	case map[string]any:
		for _, e := range x {
			checkValue(t, e)
		}
	default:
		t.Errorf("a formula gave %#v, a %T", v, v)
	}
}

// FuzzFormula compiles any source as a formula of any stage and runs it on operands x and y
// (decimals as a document or a cell holds them, or nil) at time at. Its seeds are in
// testdata/fuzz/FuzzFormula: every formula of the built-in plans, the fast forms, Abacus'
// JavaScript formulas and hostile ones (1e400, 900,000 digits, deep nesting, squaring loops).
//
// A source either fails to compile with a *FormulaError at a position inside the source, or
// compiles to a formula whose every run gives a value or an error, never a panic, the same
// on a second run, and, for a formula with a fast path, exactly what its program gives.
func FuzzFormula(f *testing.F) {
	f.Fuzz(func(t *testing.T, stage uint8, source, x, y string, at int64) {
		st := Stage(stage % uint8(len(stageNames)))
		var measures map[string]bool
		if st == Meter {
			measures = map[string]bool{"storage": true, "calls": true}
		}
		fm, err := CompileFormula(st, source, measures)
		if err != nil {
			var fe *FormulaError
			if !errors.As(err, &fe) || fe.Message == "" {
				t.Fatalf("compile error %v, want a *FormulaError with a message", err)
			}
			if fe.Line < 1 || fe.Line > strings.Count(source, "\n")+1 || fe.Column < 1 || fe.Column > len(source)+1 {
				t.Fatalf("compile error at line %d, column %d: not a position of the source", fe.Line, fe.Column)
			}
			return
		}
		a, b := fuzzOperand(x), fuzzOperand(y)
		at = max(0, at%4_294_967_296_000) // a time a document may name
		from := at - at%86_400_000
		env := Env{M: map[string]any{"storage": a, "calls": b}, A: a, Qty: b, Start: at, End: at, From: from, To: from + 86_400_000,
			Prev: b, Curr: a, T: at, P: a, Cost: b}
		got, err := fm.Eval(&env)
		if err == nil {
			checkValue(t, got)
		}
		again, err2 := fm.Eval(&env)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(got, again) {
			t.Fatalf("two runs differ: %#v (%v), then %#v (%v)", got, err, again, err2)
		}
		if fm.Fast() {
			want, werr := fm.run(&env)
			if (err == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
				t.Fatalf("the fast path gives %#v (%v), the program %#v (%v)", got, err, want, werr)
			}
		}
	})
}

// fuzzOperand is s as a formula's operand: a decimal as a document or a cell holds one (at most
// 40 digits, an exponent within ±24), else nil.
func fuzzOperand(s string) any {
	v, err := decimal.NewFromString(s)
	if err != nil || v.NumDigits() > 40 || v.Exponent() > 24 || v.Exponent() < -24 {
		return nil
	}
	return v
}
