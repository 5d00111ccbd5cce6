// Package plans holds Abacus' metering, rating and pricing plans (seed 001) with their
// formulas in expr-lang: the plan documents, their validation, and the compiled plans the
// metering pipeline runs. It does no I/O.
//
// Every formula is compiled when its plan is submitted, so a plan that does not compile, reads
// a measure the plan lacks or names a metric the metering plan lacks is refused with each
// problem named (plan, metric, formula, position). At run time a formula never panics the
// process: its errors are *EvalError values naming plan, metric and stage.
package plans

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/fault"
)

// Metric types.
const (
	Discrete  = "discrete"
	TimeBased = "time-based"
)

// Measure is a measure a metering plan reads from usage documents.
type Measure struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
}

// UnmarshalJSON also takes "units", as seed 001's own example spells it.
func (m *Measure) UnmarshalJSON(b []byte) error {
	var raw struct {
		Name  string `json:"name"`
		Unit  string `json:"unit"`
		Units string `json:"units"`
	}
	// Strict like the document around it: an unknown field of a measure is an error too.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	m.Name, m.Unit = raw.Name, raw.Unit
	if m.Unit == "" {
		m.Unit = raw.Units
	}
	return nil
}

// MeteringMetric is a metric of a metering plan. An empty formula is Abacus' default.
type MeteringMetric struct {
	Name       string `json:"name"`
	Unit       string `json:"unit"`
	Type       string `json:"type,omitempty"`
	Meter      string `json:"meter,omitempty"`
	Accumulate string `json:"accumulate,omitempty"`
	Aggregate  string `json:"aggregate,omitempty"`
	Summarize  string `json:"summarize,omitempty"`
	// Carry is what a cell of a time-based metric still consuming at the end of its period
	// becomes in the next period, with no document; empty: the metric is not carried.
	Carry string `json:"carry,omitempty"`
}

// MeteringPlan is a metering plan document.
type MeteringPlan struct {
	PlanID   string           `json:"plan_id"`
	Measures []Measure        `json:"measures"`
	Metrics  []MeteringMetric `json:"metrics"`
}

// RatingMetric is a metric of a rating plan.
type RatingMetric struct {
	Name   string `json:"name"`
	Rate   string `json:"rate,omitempty"`
	Charge string `json:"charge,omitempty"`
}

// RatingPlan is a rating plan document.
type RatingPlan struct {
	PlanID  string         `json:"plan_id"`
	Metrics []RatingMetric `json:"metrics"`
}

// Price is a metric's price in one country.
type Price struct {
	Country string          `json:"country"`
	Price   decimal.Decimal `json:"price"`
	// tooLong is the length of a price that was not converted, for CompilePricing to refuse.
	tooLong int
}

// MaxPriceLength bounds the characters of a price as written. A price must fit Decimal(38,
// 12), so it needs at most 40 (38 digits, a point and a sign) plus an exponent. A longer one
// is refused by its length, never converted: converting a number of a million digits costs
// seconds.
const MaxPriceLength = 64

// UnmarshalJSON takes a price as a number or a string holding one, as decimal.Decimal does,
// and leaves a price longer than MaxPriceLength unconverted.
func (p *Price) UnmarshalJSON(b []byte) error {
	var raw struct {
		Country string          `json:"country"`
		Price   json.RawMessage `json:"price"`
	}
	// Strict like the document around it: an unknown field of a price is an error too.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	*p = Price{Country: raw.Country}
	switch {
	case len(raw.Price) > MaxPriceLength:
		p.tooLong = len(raw.Price)
	case raw.Price != nil:
		return p.Price.UnmarshalJSON(raw.Price)
	}
	return nil
}

// MarshalJSON writes the price as a JSON number, as plans are written.
func (p Price) MarshalJSON() ([]byte, error) {
	country, err := json.Marshal(p.Country)
	if err != nil {
		return nil, err
	}
	return []byte(`{"country":` + string(country) + `,"price":` + p.Price.String() + `}`), nil
}

// PricingMetric is a metric of a pricing plan.
type PricingMetric struct {
	Name   string  `json:"name"`
	Prices []Price `json:"prices"`
}

// PricingPlan is a pricing plan document.
type PricingPlan struct {
	PlanID  string          `json:"plan_id"`
	Metrics []PricingMetric `json:"metrics"`
}

// Metric is a compiled metering metric: its four formulas, defaults filled in.
type Metric struct {
	Name, Unit, Type                        string
	Meter, Accumulate, Aggregate, Summarize *Formula
	// Carry is nil when the plan gives none: the metric's cells are not carried.
	Carry *Formula
}

// Metering is a compiled metering plan.
type Metering struct {
	Plan    MeteringPlan
	Metrics []*Metric
}

// RatedMetric is a compiled rating metric.
type RatedMetric struct {
	Name         string
	Rate, Charge *Formula
}

// Rating is a compiled rating plan.
type Rating struct {
	Plan    RatingPlan
	Metrics map[string]*RatedMetric
}

// Pricing is a validated pricing plan, prices by metric and country.
type Pricing struct {
	Plan   PricingPlan
	prices map[string]map[string]decimal.Decimal
}

// Price returns the price of metric in country.
func (p *Pricing) Price(metric, country string) (decimal.Decimal, bool) {
	v, ok := p.prices[metric][country]
	return v, ok
}

// problems collects what is wrong with a plan.
type problems struct {
	plan string
	list []fault.Problem
}

func (ps *problems) add(field string, value any, format string, args ...any) {
	ps.list = append(ps.list, fault.Problem{Field: field, Value: value,
		Reason: fmt.Sprintf("plan %s: ", ps.plan) + fmt.Sprintf(format, args...)})
}

func (ps *problems) err(kind string) error {
	if len(ps.list) == 0 {
		return nil
	}
	return fault.Invalid("invalid "+kind+" plan "+ps.plan, ps.list...)
}

func checkID(ps *problems, id string) {
	switch {
	case id == "" || len(id) > 256:
		ps.add("plan_id", id, "must be 1 to 256 characters")
	case strings.Contains(id, "/"):
		// A plan id is a path segment of the API and a part of the "<plan_id>/<metering>/
		// <rating>/<pricing>" keys of window cells.
		ps.add("plan_id", id, "must not contain '/'")
	}
}

func (ps *problems) formula(field, metric string, stage Stage, src string, measures map[string]bool) *Formula {
	source := src
	if source == "" {
		source = defaultSource(stage, metric)
	}
	f, err := CompileFormula(stage, source, measures)
	if err != nil {
		var fe *FormulaError
		if !errors.As(err, &fe) {
			ps.add(field, src, "metric %s: %s formula: %v", metric, stage, err)
			return nil
		}
		if src == "" {
			ps.add(field, nil, "metric %s: the default %s formula (%s) does not apply: %s", metric, stage, source, fe.Message)
		} else {
			ps.add(field, src, "metric %s: %s formula: line %d, column %d: %s", metric, stage, fe.Line, fe.Column, fe.Message)
		}
		return nil
	}
	f.Source = src
	return f
}

// CompileMetering validates and compiles a metering plan.
func CompileMetering(p MeteringPlan) (*Metering, error) {
	ps := &problems{plan: p.PlanID}
	checkID(ps, p.PlanID)
	measures := map[string]bool{}
	if len(p.Measures) == 0 {
		ps.add("measures", nil, "must have at least one measure")
	}
	for i, m := range p.Measures {
		field := fmt.Sprintf("measures[%d]", i)
		switch {
		case !identifier.MatchString(m.Name):
			ps.add(field+".name", m.Name, "measure name must be a name (letters, digits, _)")
		case measures[m.Name]:
			ps.add(field+".name", m.Name, "measure %s is defined twice", m.Name)
		}
		measures[m.Name] = true
	}
	if len(p.Metrics) == 0 {
		ps.add("metrics", nil, "must have at least one metric")
	}
	out := &Metering{Plan: p}
	seen := map[string]bool{}
	for i, m := range p.Metrics {
		field := fmt.Sprintf("metrics[%d]", i)
		if !identifier.MatchString(m.Name) {
			ps.add(field+".name", m.Name, "metric name must be a name (letters, digits, _)")
			continue
		}
		if seen[m.Name] {
			ps.add(field+".name", m.Name, "metric %s is defined twice", m.Name)
		}
		seen[m.Name] = true
		typ := m.Type
		if typ == "" {
			typ = Discrete
		}
		if typ != Discrete && typ != TimeBased {
			ps.add(field+".type", m.Type, "metric %s: type must be %s or %s", m.Name, Discrete, TimeBased)
		}
		if m.Meter == "" && !measures[m.Name] {
			ps.add(field+".meter", nil, "metric %s: has no meter formula and no measure of its name to default to", m.Name)
			continue
		}
		c := &Metric{Name: m.Name, Unit: m.Unit, Type: typ,
			Meter:      ps.formula(field+".meter", m.Name, Meter, m.Meter, measures),
			Accumulate: ps.formula(field+".accumulate", m.Name, Accumulate, m.Accumulate, nil),
			Aggregate:  ps.formula(field+".aggregate", m.Name, Aggregate, m.Aggregate, nil),
			Summarize:  ps.formula(field+".summarize", m.Name, Summarize, m.Summarize, nil),
		}
		if m.Carry != "" {
			if typ != TimeBased {
				ps.add(field+".carry", m.Carry, "metric %s: only a %s metric is carried", m.Name, TimeBased)
			}
			c.Carry = ps.formula(field+".carry", m.Name, Carry, m.Carry, nil)
		}
		out.Metrics = append(out.Metrics, c)
	}
	if err := ps.err("metering"); err != nil {
		return nil, err
	}
	return out, nil
}

// metricName reports whether name, of the metric at field, is a name and not taken (defined
// before in the plan); when not, it adds the problem.
func (ps *problems) metricName(field, name string, taken bool) bool {
	switch {
	case !identifier.MatchString(name):
		ps.add(field+".name", name, "metric name must be a name (letters, digits, _)")
	case taken:
		ps.add(field+".name", name, "metric %s is defined twice", name)
	default:
		return true
	}
	return false
}

// CompileRating validates and compiles a rating plan.
func CompileRating(p RatingPlan) (*Rating, error) {
	ps := &problems{plan: p.PlanID}
	checkID(ps, p.PlanID)
	if len(p.Metrics) == 0 {
		ps.add("metrics", nil, "must have at least one metric")
	}
	out := &Rating{Plan: p, Metrics: map[string]*RatedMetric{}}
	for i, m := range p.Metrics {
		field := fmt.Sprintf("metrics[%d]", i)
		if !ps.metricName(field, m.Name, out.Metrics[m.Name] != nil) {
			continue
		}
		out.Metrics[m.Name] = &RatedMetric{Name: m.Name,
			Rate:   ps.formula(field+".rate", m.Name, Rate, m.Rate, nil),
			Charge: ps.formula(field+".charge", m.Name, Charge, m.Charge, nil),
		}
	}
	if err := ps.err("rating"); err != nil {
		return nil, err
	}
	return out, nil
}

// CompilePricing validates a pricing plan.
func CompilePricing(p PricingPlan) (*Pricing, error) {
	ps := &problems{plan: p.PlanID}
	checkID(ps, p.PlanID)
	if len(p.Metrics) == 0 {
		ps.add("metrics", nil, "must have at least one metric")
	}
	out := &Pricing{Plan: p, prices: map[string]map[string]decimal.Decimal{}}
	for i, m := range p.Metrics {
		field := fmt.Sprintf("metrics[%d]", i)
		if !ps.metricName(field, m.Name, out.prices[m.Name] != nil) {
			continue
		}
		// A metric may list no price (Abacus' standard-services-hours does); a mapping that
		// joins the plan with a rating plan that rates the metric is refused (CheckConsistent).
		byCountry := map[string]decimal.Decimal{}
		for j, pr := range m.Prices {
			pf := fmt.Sprintf("%s.prices[%d]", field, j)
			if pr.Country == "" {
				ps.add(pf+".country", pr.Country, "metric %s: a price needs a country", m.Name)
			}
			if _, dup := byCountry[pr.Country]; dup {
				ps.add(pf+".country", pr.Country, "metric %s: country %s is priced twice", m.Name, pr.Country)
			}
			switch {
			case pr.tooLong > 0:
				ps.add(pf+".price", fmt.Sprintf("a number of %d characters", pr.tooLong),
					"metric %s: a price is longer than %d characters: Decimal(38, %d) cannot hold it", m.Name, MaxPriceLength, StoredScale)
			case pr.Price.Sign() < 0:
				ps.add(pf+".price", pr.Price, "metric %s: a price must not be negative", m.Name)
			}
			// A price is a cost of one unit: it must fit the cost column as written. It is
			// refused rather than rounded, so that the price rated is the price submitted.
			if why := CheckStored(pr.Price); why != "" {
				ps.add(pf+".price", ShortNumber(pr.Price), "metric %s: a price %s", m.Name, why)
			}
			byCountry[pr.Country] = pr.Price
		}
		out.prices[m.Name] = byCountry
	}
	if err := ps.err("pricing"); err != nil {
		return nil, err
	}
	return out, nil
}

// CheckConsistent checks that a rating and a pricing plan fit a metering plan, as a mapping
// that joins them needs: every rated metric is a metered metric and has a price.
func CheckConsistent(m *Metering, r *Rating, p *Pricing) error {
	ps := &problems{plan: r.Plan.PlanID}
	metered := map[string]bool{}
	for _, mm := range m.Metrics {
		metered[mm.Name] = true
	}
	for i, rm := range r.Plan.Metrics {
		if !metered[rm.Name] {
			ps.add(fmt.Sprintf("metrics[%d].name", i), rm.Name, "metric %s is not a metric of metering plan %s", rm.Name, m.Plan.PlanID)
		}
		if p != nil && len(p.prices[rm.Name]) == 0 {
			ps.add(fmt.Sprintf("metrics[%d].name", i), rm.Name, "metric %s has no price in pricing plan %s", rm.Name, p.Plan.PlanID)
		}
	}
	return ps.err("rating")
}

// Metric returns the metering metric name, or nil.
func (m *Metering) Metric(name string) *Metric {
	for _, mm := range m.Metrics {
		if mm.Name == name {
			return mm
		}
	}
	return nil
}

// MeterDocument meters a document's measures (quantities by measure name) for every metric:
// the result holds each metric's metered quantity, nil where the metric has no usage in it.
func (m *Metering) MeterDocument(measures map[string]any, out []any) ([]any, error) {
	env := Env{M: measures}
	out = out[:0]
	for _, mm := range m.Metrics {
		v, err := mm.Meter.Eval(&env)
		if err != nil {
			return nil, &EvalError{Plan: m.Plan.PlanID, Metric: mm.Name, Stage: Meter, Err: err}
		}
		out = append(out, v)
	}
	return out, nil
}

// Accumulate runs the metric's accumulate formula for a cell of window [from, to).
func (m *Metering) Accumulate(mm *Metric, a, qty any, start, end, from, to int64) (any, error) {
	env := Env{A: a, Qty: qty, Start: start, End: end, From: from, To: to}
	v, err := mm.Accumulate.Eval(&env)
	if err != nil {
		return nil, &EvalError{Plan: m.Plan.PlanID, Metric: mm.Name, Stage: Accumulate, Err: err}
	}
	return v, nil
}

// Aggregate runs the metric's aggregate formula: a cell a takes the change prev -> curr.
func (m *Metering) Aggregate(mm *Metric, a, prev, curr any) (any, error) {
	env := Env{A: a, Prev: prev, Curr: curr}
	v, err := mm.Aggregate.Eval(&env)
	if err != nil {
		return nil, &EvalError{Plan: m.Plan.PlanID, Metric: mm.Name, Stage: Aggregate, Err: err}
	}
	return v, nil
}

// AggregateEach runs the metric's aggregate formula for every cell value of as, all taking
// the same change prev -> curr, and stores the results in as (on an error, some may have been
// stored). The results are Aggregate's, in value and exponent; for the delta forms of the
// formula (and the map-delta form's entries) the change is computed once, not once per cell.
func (m *Metering) AggregateEach(mm *Metric, as []any, prev, curr any) error {
	f := mm.Aggregate
	var ch change
	var mch mapChange
	var fast bool
	if f.fast == fastMapDelta {
		mch, fast = f.mapChangeOf(prev, curr)
	} else {
		ch, fast = f.changeOf(prev, curr)
	}
	for i, a := range as {
		if fast {
			var v any
			var ok bool
			if f.fast == fastMapDelta {
				v, ok = f.applyMap(&mch, a, nil)
			} else {
				v, ok = ch.apply(a)
			}
			if ok {
				as[i] = v
				continue
			}
		}
		v, err := m.Aggregate(mm, a, prev, curr)
		if err != nil {
			return err
		}
		as[i] = v
	}
	return nil
}

// CarryOf runs the metric's carry formula: the value a cell a becomes in the period [from,
// to) that follows its own, with no document. ok is false when the metric has no carry
// formula. Carried reports whether that value differs from what nothing (a nil cell) is
// carried into: only then is there usage to carry.
func (m *Metering) CarryOf(mm *Metric, a any, from, to int64) (v any, carried bool, err error) {
	if mm.Carry == nil {
		return nil, false, nil
	}
	run := func(a any) (any, error) {
		env := Env{A: a, From: from, To: to}
		v, err := mm.Carry.Eval(&env)
		if err != nil {
			return nil, &EvalError{Plan: m.Plan.PlanID, Metric: mm.Name, Stage: Carry, Err: err}
		}
		return v, nil
	}
	if v, err = run(a); err != nil {
		return nil, false, err
	}
	idle, err := run(nil)
	if err != nil {
		return nil, false, err
	}
	return v, !equal(v, idle), nil
}

// Summarize runs the metric's summarize formula at report time t for window [from, to).
func (m *Metering) Summarize(mm *Metric, t int64, qty any, from, to int64) (any, error) {
	env := Env{T: t, Qty: qty, From: from, To: to}
	v, err := mm.Summarize.Eval(&env)
	if err != nil {
		return nil, &EvalError{Plan: m.Plan.PlanID, Metric: mm.Name, Stage: Summarize, Err: err}
	}
	return v, nil
}

// Rate runs the metric's rate formula with price p.
func (r *Rating) Rate(metric string, p, qty any) (any, error) {
	rm := r.Metrics[metric]
	if rm == nil {
		return nil, nil // an unrated metric costs nothing
	}
	env := Env{P: p, Qty: qty}
	v, err := rm.Rate.Eval(&env)
	if err != nil {
		return nil, &EvalError{Plan: r.Plan.PlanID, Metric: metric, Stage: Rate, Err: err}
	}
	return v, nil
}

// Charge runs the metric's charge formula at report time t for window [from, to).
func (r *Rating) Charge(metric string, t int64, cost any, from, to int64) (any, error) {
	rm := r.Metrics[metric]
	if rm == nil {
		return nil, nil
	}
	env := Env{T: t, Cost: cost, From: from, To: to}
	v, err := rm.Charge.Eval(&env)
	if err != nil {
		return nil, &EvalError{Plan: r.Plan.PlanID, Metric: metric, Stage: Charge, Err: err}
	}
	return v, nil
}
