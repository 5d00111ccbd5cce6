package plans

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/fault"
)

// builtinSet compiles every built-in plan, failing the test on any error.
type builtinSet struct {
	metering map[string]*Metering
	rating   map[string]*Rating
	pricing  map[string]*Pricing
}

func compileBuiltin(t testing.TB) builtinSet {
	t.Helper()
	b, err := LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	s := builtinSet{map[string]*Metering{}, map[string]*Rating{}, map[string]*Pricing{}}
	for _, p := range b.Metering {
		c, err := CompileMetering(p)
		if err != nil {
			t.Fatalf("built-in metering plan %s: %v", p.PlanID, err)
		}
		s.metering[p.PlanID] = c
	}
	for _, p := range b.Rating {
		c, err := CompileRating(p)
		if err != nil {
			t.Fatalf("built-in rating plan %s: %v", p.PlanID, err)
		}
		s.rating[p.PlanID] = c
	}
	for _, p := range b.Pricing {
		c, err := CompilePricing(p)
		if err != nil {
			t.Fatalf("built-in pricing plan %s: %v", p.PlanID, err)
		}
		s.pricing[p.PlanID] = c
	}
	for kind, byType := range b.Mappings {
		for rt, byPlan := range byType {
			for plan, id := range byPlan {
				var ok bool
				switch kind {
				case "metering":
					_, ok = s.metering[id]
				case "rating":
					_, ok = s.rating[id]
				case "pricing":
					_, ok = s.pricing[id]
				}
				if !ok {
					t.Errorf("built-in %s mapping %s/%s names plan %s, which is not built in", kind, rt, plan, id)
				}
			}
		}
	}
	return s
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// cells is a miniature of the pipeline: one window [from, to), instance cells accumulated,
// the organization cell aggregated from the instances' changes, then rated.
type cells struct {
	t        *testing.T
	m        *Metering
	from, to int64
	instance map[string]map[string]any // instance -> metric -> accumulated
	org      map[string]any            // metric -> aggregated
}

func newCells(t *testing.T, m *Metering, from, to time.Time) *cells {
	return &cells{t: t, m: m, from: from.UnixMilli(), to: to.UnixMilli(), instance: map[string]map[string]any{}, org: map[string]any{}}
}

func (c *cells) submit(instance string, start, end time.Time, measures map[string]any) {
	c.t.Helper()
	metered, err := c.m.MeterDocument(measures, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.instance[instance] == nil {
		c.instance[instance] = map[string]any{}
	}
	for i, mm := range c.m.Metrics {
		if metered[i] == nil {
			continue
		}
		prev := c.instance[instance][mm.Name]
		curr, err := c.m.Accumulate(mm, prev, metered[i], start.UnixMilli(), end.UnixMilli(), c.from, c.to)
		if err != nil {
			c.t.Fatal(err)
		}
		c.instance[instance][mm.Name] = curr
		agg, err := c.m.Aggregate(mm, c.org[mm.Name], prev, curr)
		if err != nil {
			c.t.Fatal(err)
		}
		c.org[mm.Name] = agg
	}
}

func wantDec(t *testing.T, what string, got any, want string) {
	t.Helper()
	g, ok := got.(decimal.Decimal)
	if !ok || !g.Equal(d(want)) {
		t.Errorf("%s = %v (%T), want %s", what, got, got, want)
	}
}

var (
	monthStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	monthEnd   = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
)

func objectDoc() map[string]any {
	return map[string]any{"storage": d("1073741824"), "light_api_calls": d("1000"), "heavy_api_calls": d("100")}
}

// TestObjectStorageFigures reproduces Abacus' object storage test: three documents for one
// instance give storage 1 GB (the max), 3 thousand light calls, 300 heavy calls, and charges
// 1 + 0.09 + 45 = 46.09 in the USA.
func TestObjectStorageFigures(t *testing.T) {
	s := compileBuiltin(t)
	c := newCells(t, s.metering["basic-object-storage"], monthStart, monthEnd)
	for i := range 3 {
		at := monthStart.Add(time.Duration(i+1) * time.Hour)
		c.submit("instance-1", at, at.Add(time.Second), objectDoc())
	}
	wantDec(t, "storage", c.org["storage"], "1")
	wantDec(t, "thousand_light_api_calls", c.org["thousand_light_api_calls"], "3")
	wantDec(t, "heavy_api_calls", c.org["heavy_api_calls"], "300")

	r, p := s.rating["object-rating-plan"], s.pricing["object-pricing-basic"]
	total := decimal.Zero
	for metric, want := range map[string]string{"storage": "1", "thousand_light_api_calls": "0.09", "heavy_api_calls": "45"} {
		price, ok := p.Price(metric, "USA")
		if !ok {
			t.Fatalf("no USA price for %s", metric)
		}
		cost, err := r.Rate(metric, price, c.org[metric])
		if err != nil {
			t.Fatal(err)
		}
		charge, err := r.Charge(metric, monthEnd.UnixMilli(), cost, c.from, c.to)
		if err != nil {
			t.Fatal(err)
		}
		wantDec(t, metric+" charge", charge, want)
		total = total.Add(charge.(decimal.Decimal))
	}
	wantDec(t, "total charge", total, "46.09")
}

// TestObjectStorageInstances: storage is the max per instance, summed across instances.
func TestObjectStorageInstances(t *testing.T) {
	s := compileBuiltin(t)
	c := newCells(t, s.metering["basic-object-storage"], monthStart, monthEnd)
	for i := range 4 {
		for j := range 4 {
			at := monthStart.Add(time.Duration(i*4+j+1) * time.Minute)
			c.submit(string(rune('a'+i)), at, at.Add(time.Second), objectDoc())
		}
	}
	wantDec(t, "storage", c.org["storage"], "4")
	wantDec(t, "thousand_light_api_calls", c.org["thousand_light_api_calls"], "16")
	wantDec(t, "heavy_api_calls", c.org["heavy_api_calls"], "1600")
}

func memoryDoc(gb, instances, prevGB, prevInstances int64) map[string]any {
	return map[string]any{
		"current_instance_memory": decimal.NewFromInt(gb << 30), "current_running_instances": decimal.NewFromInt(instances),
		"previous_instance_memory": decimal.NewFromInt(prevGB << 30), "previous_running_instances": decimal.NewFromInt(prevInstances),
	}
}

// TestLinuxContainerGBHours: 2 GB x 1 instance for a whole day is 48 GB-hours for the day; at
// noon, 24; usage of a month does not leak into the next.
func TestLinuxContainerGBHours(t *testing.T) {
	s := compileBuiltin(t)
	m := s.metering["basic-linux-container"]
	mem := m.Metric("memory")
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	next := day.Add(24 * time.Hour) // 2026-12-01: a new month

	dayCell := newCells(t, m, day, next)
	dayCell.submit("app-1", day, day, memoryDoc(2, 1, 0, 0))
	monthCell := newCells(t, m, monthStart, monthEnd)
	monthCell.submit("app-1", day, day, memoryDoc(2, 1, 0, 0))

	for _, c := range []struct {
		name     string
		cells    *cells
		at       time.Time
		gbHours  string
		currency string
	}{
		{"day cell, end of day", dayCell, next, "48", "0.00672"},
		{"day cell, noon", dayCell, day.Add(12 * time.Hour), "24", "0.00336"},
		{"month cell, read in the next month", monthCell, next.Add(10 * 24 * time.Hour), "48", "0.00672"},
	} {
		got, err := m.Summarize(mem, c.at.UnixMilli(), c.cells.org["memory"], c.cells.from, c.cells.to)
		if err != nil {
			t.Fatal(err)
		}
		wantDec(t, c.name+": GB-hours", got, c.gbHours)
		// Rated at linux-pricing-basic's USA price 0.00014 per GB-hour.
		r := s.rating["linux-rating-plan"]
		price, _ := s.pricing["linux-pricing-basic"].Price("memory", "USA")
		cost, err := r.Rate("memory", price, c.cells.org["memory"])
		if err != nil {
			t.Fatal(err)
		}
		charge, err := r.Charge("memory", c.at.UnixMilli(), cost, c.cells.from, c.cells.to)
		if err != nil {
			t.Fatal(err)
		}
		wantDec(t, c.name+": charge", charge, c.currency)
	}

	// The December month cell has no usage until a document is submitted in December.
	dec := newCells(t, m, monthEnd, monthEnd.AddDate(0, 1, 0))
	dec.submit("app-1", day, day, memoryDoc(2, 1, 0, 0)) // November usage: outside December's window
	got, err := m.Summarize(mem, monthEnd.Add(24*time.Hour).UnixMilli(), dec.org["memory"], dec.from, dec.to)
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "December GB-hours from a November document", got, "0")
	dec.submit("app-1", monthEnd, monthEnd, memoryDoc(2, 1, 0, 0))
	got, err = m.Summarize(mem, monthEnd.Add(24*time.Hour).UnixMilli(), dec.org["memory"], dec.from, dec.to)
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "December GB-hours after a December document, read a day in", got, "48")
}

// TestFormulaForms covers the arrow and bare forms, defaults, fast paths and decimal
// arithmetic.
func TestFormulaForms(t *testing.T) {
	f := func(stage Stage, src string, env Env, want string, fast bool) {
		t.Helper()
		fm, err := CompileFormula(stage, src, nil)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if fm.Fast() != fast {
			t.Errorf("%q: fast path %v, want %v", src, fm.Fast(), fast)
		}
		got, err := fm.Eval(&env)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if want == "nil" {
			if got != nil {
				t.Errorf("%q = %v, want nil", src, got)
			}
			return
		}
		wantDec(t, src, got, want)
	}
	in := Env{A: d("2"), Qty: d("3"), Start: 5, End: 10, From: 0, To: 100}
	f(Accumulate, defaultSource(Accumulate, ""), in, "5", true)
	f(Accumulate, "(acc, q) => acc + q", in, "5", true)
	f(Accumulate, "a + qty * 2", in, "8", false)
	f(Accumulate, "(a, qty) => max(a, qty)", in, "3", true)
	f(Accumulate, defaultSource(Accumulate, ""), Env{A: d("2"), Qty: d("3"), End: 100, From: 0, To: 100}, "2", true)
	f(Accumulate, defaultSource(Accumulate, ""), Env{Qty: d("3"), End: 1, To: 100}, "3", true)
	f(Accumulate, "(a, qty) => a ? a + qty : qty", Env{Qty: d("3")}, "3", false)
	f(Aggregate, "a + curr - prev", Env{A: d("10"), Prev: d("4"), Curr: d("7")}, "13", true)
	f(Rate, "(price, qty) => price * qty", Env{P: d("0.03"), Qty: d("3")}, "0.09", true)
	f(Rate, "p * qty", Env{Qty: d("3")}, "0", true)
	f(Meter, "(m) => m.storage / 1073741824", Env{M: map[string]any{"storage": d("536870912")}}, "0.5", false)
	f(Meter, "m.storage", Env{M: map[string]any{}}, "nil", true)
	f(Meter, "(m) => m.x / 3", Env{M: map[string]any{"x": d("1")}}, "0.333333333333333333333333", false)
	f(Meter, "0.1 + 0.2", Env{}, "0.3", false)
	f(Summarize, "(t, qty, from, to) => round(qty * 1.005, 2)", Env{Qty: d("1")}, "1.01", false)
}

// TestBadPlansAreRefused: each problem names plan, metric, formula and position.
func TestBadPlansAreRefused(t *testing.T) {
	_, err := CompileMetering(MeteringPlan{
		PlanID:   "broken",
		Measures: []Measure{{Name: "storage", Unit: "BYTE"}},
		Metrics: []MeteringMetric{
			{Name: "storage", Unit: "GB", Meter: "(m) => m.storage / "},
			{Name: "calls", Unit: "CALL", Meter: "(m) => m.calls"},
			{Name: "other", Unit: "X", Meter: "m.storage", Accumulate: "(a, qty) => a + start"},
			{Name: "nodefault", Unit: "X"},
		},
	})
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.KindInvalid {
		t.Fatalf("got %v, want an invalid-plan error", err)
	}
	want := map[string]string{
		"metrics[0].meter":      "plan broken: metric storage: meter formula: line 1, column",
		"metrics[1].meter":      "unknown measure calls",
		"metrics[2].accumulate": "unknown name start",
		"metrics[3].meter":      "no meter formula and no measure of its name",
	}
	for field, reason := range want {
		found := false
		for _, p := range fe.Problems {
			if p.Field == field && strings.Contains(p.Reason, reason) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem %s containing %q in %v", field, reason, fe.Problems)
		}
	}
	_, err = CompileRating(RatingPlan{PlanID: "a/b"})
	if !errors.As(err, &fe) || fe.Problems[0].Field != "plan_id" || !strings.Contains(fe.Problems[0].Reason, "'/'") {
		t.Errorf("a plan id with a slash: %v, want it refused", err)
	}
	// The position points at the formula's source, arrow included.
	_, err = CompileFormula(Meter, "(m) => m.calls", map[string]bool{"storage": true})
	var ferr *FormulaError
	if !errors.As(err, &ferr) || ferr.Column != 10 {
		t.Errorf("unknown measure at column %v (%v), want 10, where calls starts", ferr, err)
	}
}

// TestRuntimeErrorsAreTyped: a failing formula returns an *EvalError, never panics.
func TestRuntimeErrorsAreTyped(t *testing.T) {
	m, err := CompileMetering(MeteringPlan{PlanID: "p", Measures: []Measure{{Name: "x"}},
		Metrics: []MeteringMetric{{Name: "x", Meter: "(m) => m.x / 0"}, {Name: "y", Meter: "(m) => m.x.deep"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.MeterDocument(map[string]any{"x": d("1")}, nil)
	var ee *EvalError
	if !errors.As(err, &ee) || ee.Plan != "p" || ee.Metric != "x" || ee.Stage != Meter {
		t.Errorf("got %v, want an EvalError for plan p, metric x", err)
	}
}

// TestConsistency: a rating plan fits a metering plan only when it rates metered metrics and
// every rated metric has a price.
func TestConsistency(t *testing.T) {
	s := compileBuiltin(t)
	m, r := s.metering["basic-object-storage"], s.rating["object-rating-plan"]
	if err := CheckConsistent(m, r, s.pricing["object-pricing-basic"]); err != nil {
		t.Errorf("the sample object storage plans do not fit: %v", err)
	}
	noHeavy, err := CompilePricing(PricingPlan{PlanID: "cheap", Metrics: []PricingMetric{
		{Name: "storage", Prices: []Price{{Country: "USA", Price: d("1")}}},
		{Name: "thousand_light_api_calls", Prices: []Price{{Country: "USA", Price: d("0.03")}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	err = CheckConsistent(m, r, noHeavy)
	if err == nil || !strings.Contains(err.Error(), "heavy_api_calls has no price in pricing plan cheap") {
		t.Errorf("a pricing plan without a price for a rated metric: %v", err)
	}
	if err := CheckConsistent(s.metering["basic-linux-container"], r, nil); err == nil {
		t.Error("object storage rating fits the linux container metering plan?")
	}
}

// TestArgumentNamedLikeAField: renaming an argument leaves fields of the same name alone.
func TestArgumentNamedLikeAField(t *testing.T) {
	f, err := CompileFormula(Meter, "(storage) => storage.storage", map[string]bool{"storage": true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Eval(&Env{M: map[string]any{"storage": d("7"), "m": d("1")}})
	if err != nil || !f.Fast() {
		t.Fatalf("got %v, %v (fast %v)", got, err, f.Fast())
	}
	wantDec(t, "(storage) => storage.storage", got, "7")
}

// TestFormulasAreBounded: numbers cannot grow without bound, so no formula runs unbounded.
func TestFormulasAreBounded(t *testing.T) {
	squares := "let v0 = 9.9; "
	for i := 1; i < 40; i++ {
		squares += fmt.Sprintf("let v%d = v%d * v%d; ", i, i-1, i-1)
	}
	for _, src := range []string{squares + "v39", "round(qty, 100000000)", "round(qty, -100000000)", "qty / 0.0000000000000000000001 / 0.0000000000000000000001 / 0.0000000000000000000001 / 0.0000000000000000000001 / 0.0000000000000000000001 / 0.0000000000000000000001 / 0.0000000000000000000001"} {
		f, err := CompileFormula(Summarize, src, nil)
		if err != nil {
			t.Fatalf("%.40s...: %v", src, err)
		}
		if _, err := f.Eval(&Env{Qty: d("3")}); err == nil {
			t.Errorf("%.60s... ran to the end; want an error for a number too large", src)
		}
	}
}

// TestPositionsAndLiterals: error positions count from the formula's source, whatever line
// they are on; number literals keep every digit.
func TestPositionsAndLiterals(t *testing.T) {
	_, err := CompileFormula(Meter, "(m) =>\n  m.storage *", map[string]bool{"storage": true})
	var fe *FormulaError
	if !errors.As(err, &fe) || fe.Line != 2 {
		t.Errorf("error after a newline: %v, want it on line 2", err)
	}
	f, err := CompileFormula(Summarize, "qty * 0.123456789012345678901", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Eval(&Env{Qty: d("1")})
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "literal with 21 decimals", got, "0.123456789012345678901")
}

// TestLiteralsAfterNonASCII: expr-lang's locations count runes, not bytes; a literal after a
// string or a name with a non-ASCII letter keeps every digit too (it was read as a float64,
// 0.12345678901234568, before).
func TestLiteralsAfterNonASCII(t *testing.T) {
	for src, want := range map[string]string{
		`(m) => "ééééé" == "" ? 1 : 0.1234567890123456789`:                   "0.1234567890123456789",
		`(m) => m.x == "日本" ? 0.1234567890123456789 : 0.1234567890123456789`: "0.1234567890123456789",
		`(m) => "€" != "" ? 1_000.000_000_000_000_000_1 - 1000 : 0`:          "0.0000000000000001",
	} {
		f, err := CompileFormula(Meter, src, nil)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := f.Eval(&Env{M: map[string]any{}})
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		wantDec(t, src, got, want)
	}
}

func TestByteOffset(t *testing.T) {
	s := "aé日b"
	for r, want := range []int{0, 1, 3, 6, 7, -1} {
		if got := byteOffset(s, r); got != want {
			t.Errorf("byteOffset(%q, %d) = %d, want %d", s, r, got, want)
		}
	}
	if got := byteOffset(s, -1); got != -1 {
		t.Errorf("byteOffset(%q, -1) = %d, want -1", s, got)
	}
}

// TestFloatsRefused: a float64 in a formula's measures or result is an error, not its shortest
// decimal form (NewFromFloat, taken before: the float64 nearest 0.3 is not 0.3).
func TestFloatsRefused(t *testing.T) {
	f, err := CompileFormula(Meter, "(m) => m.x + 1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := f.Eval(&Env{M: map[string]any{"x": 0.1 + 0.2}}); err == nil {
		t.Errorf("a float64 measure gave %v, want an error", v)
	}
	if v, err := Normalize(map[string]any{"x": 0.5}); err == nil {
		t.Errorf("Normalize(float64) = %v, want an error", v)
	}
}

func TestRound(t *testing.T) {
	wantDec(t, "Round(1/3)", Round(d("0.333333333333333333333333")), "0.333333333333")
	wantDec(t, "Round half to even", Round(d("0.0000000000005")), "0")
	wantDec(t, "Round half to even", Round(d("0.0000000000015")), "0.000000000002")
	m := Round(map[string]any{"consumed": d("1.00000000000049"), "since": int64(5)}).(map[string]any)
	wantDec(t, "Round of a map entry", m["consumed"], "1")
	if m["since"] != int64(5) {
		t.Errorf("Round changed a time: %v", m["since"])
	}
}

// TestPricesAreBounded: a price must fit the cost column, Decimal(38, 12), as written: at
// most 26 digits before the point and 12 after it. Beyond that it is refused, never rounded,
// with a problem naming the field, a short form of the value and the reason.
func TestPricesAreBounded(t *testing.T) {
	plan := func(price string) (*Pricing, error) {
		var p PricingPlan
		doc := `{"plan_id": "p", "metrics": [{"name": "storage", "prices": [{"country": "USA", "price": 1},
			{"country": "EUR", "price": ` + price + `}]}]}`
		if err := json.Unmarshal([]byte(doc), &p); err != nil {
			t.Fatalf("price %s: %v", price, err)
		}
		return CompilePricing(p)
	}
	for _, price := range []string{"0", "0.000000000001", "99999999999999999999999999.999999999999",
		"1.5000000000000000000", "1e25", "12345678901234567890123456", "1E-12"} {
		if _, err := plan(price); err != nil {
			t.Errorf("price %s: %v, want it accepted", price, err)
		}
	}
	for price, reason := range map[string]string{
		"1e400":                       "more than 26 digits before the decimal point",
		"1e10000":                     "more than 26 digits before the decimal point",
		"1e26":                        "more than 26 digits before the decimal point",
		"123456789012345678901234567": "more than 26 digits before the decimal point",
		"0.0000000000001":             "more than 12 decimal places",
		"1e-10000":                    "more than 12 decimal places",
		"1.0000000000005":             "more than 12 decimal places",
		// A price of 900,000 digits took 3.4 CPU-s to convert before it was refused.
		strings.Repeat("9", 900_000): "longer than 64 characters",
	} {
		_, err := plan(price)
		var fe *fault.Error
		if !errors.As(err, &fe) || fe.Kind != fault.KindInvalid || len(fe.Problems) != 1 {
			t.Errorf("price %s: %v, want one problem", price, err)
			continue
		}
		p := fe.Problems[0]
		if p.Field != "metrics[0].prices[1].price" || !strings.Contains(p.Reason, reason) ||
			!strings.Contains(p.Reason, "Decimal(38, 12)") {
			t.Errorf("price %s: problem %+v, want field metrics[0].prices[1].price and %q", price, p, reason)
		}
		// The value is named, in a short form: never ten thousand digits echoed back.
		if b, _ := json.Marshal(p.Value); len(b) > 64 || len(b) < 3 {
			t.Errorf("price %s: the problem's value is %s", price, b)
		}
	}
}

// TestStoredBounds: the limits of a stored quantity, cost or price, Decimal(38, 12).
func TestStoredBounds(t *testing.T) {
	for s, want := range map[string]string{
		"0": "", "-99999999999999999999999999.999999999999": "", "99999999999999999999999999.999999999999": "",
		"1.100000000000000000000": "", "123e10": "", "7": "",
		"100000000000000000000000000": "more than 26 digits", "-1e26": "more than 26 digits", "1e-13": "more than 12 decimal places",
	} {
		got := CheckStored(d(s))
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("CheckStored(%s) = %q, want %q", s, got, want)
		}
		if FitsStored(d(s)) != (want == "") {
			t.Errorf("FitsStored(%s) = %v, want %v", s, !(want == ""), want == "")
		}
	}
}

// TestOpenStackComputeHours: the Nova poller's seconds are metered as hours, carried to 24
// places per document and summed exactly; an m1.small instance hour is 0.026 in the USA.
func TestOpenStackComputeHours(t *testing.T) {
	s := compileBuiltin(t)
	c := newCells(t, s.metering["openstack-compute"], monthStart, monthEnd)
	at := monthStart.Add(time.Hour)
	c.submit("server-1", at, at.Add(time.Hour-time.Millisecond), map[string]any{"instance_seconds": d("2575.458723"),
		"vcpu_seconds": d("2575.458723"), "memory_mb_seconds": d("5274629.664704"), "local_gb_seconds": d("51509.17446")})
	c.submit("server-2", at, at.Add(time.Hour-time.Millisecond), map[string]any{"instance_seconds": d("3600"),
		"vcpu_seconds": d("3600"), "memory_mb_seconds": d("7372800"), "local_gb_seconds": d("72000")})
	wantDec(t, "instance_hours", c.org["instance_hours"], "1.715405200833333333333333")
	wantDec(t, "memory_mb_hours", c.org["memory_mb_hours"], "3513.174906862222222222222222")
	wantDec(t, "local_gb_hours", c.org["local_gb_hours"], "34.308104016666666666666667")
	price, ok := s.pricing["openstack-compute-m1.small"].Price("instance_hours", "USA")
	if !ok {
		t.Fatal("no USA price for m1.small instance hours")
	}
	cost, err := s.rating["openstack-compute-rating"].Rate("instance_hours", price, c.org["instance_hours"])
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "cost", Round(cost), "0.044600535222")
}
