package report

import (
	"encoding/json"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/plans"
)

// Number is a decimal written as a JSON number, rounded to plans.Round's precision: the
// summaries and charges of reports, computed exactly and rounded once, on output.
type Number decimal.Decimal

// Decimal returns the number unrounded.
func (n Number) Decimal() decimal.Decimal { return decimal.Decimal(n) }

// MarshalJSON writes the number rounded.
func (n Number) MarshalJSON() ([]byte, error) {
	return []byte(plans.Round(decimal.Decimal(n)).(decimal.Decimal).String()), nil
}

// Value is a cell's quantity or cost: a decimal, a map of values (the state of a time-based
// metric, such as {consuming, consumed, since}), or nothing. The zero Value is nothing: a
// cell whose formula left it unset, or an unrated cell's cost.
type Value struct {
	v any // nil, decimal.Decimal, or a map[string]any of decimals, int64s, bools and maps
}

// DecimalValue is the value d.
func DecimalValue(d decimal.Decimal) Value { return Value{v: d} }

// ValueOf checks a formula's or a codec's value (nil, a decimal, an int64 time, a bool, or a
// map of them) and wraps it; any other type is an error, so that a report never meets a value
// it cannot write.
func ValueOf(v any) (Value, error) {
	if err := check(v); err != nil {
		return Value{}, err
	}
	return Value{v: v}, nil
}

func check(v any) error {
	switch x := v.(type) {
	case nil, decimal.Decimal, int64, bool:
		return nil
	case map[string]any:
		for k, e := range x {
			if err := check(e); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		return nil
	default:
		return fmt.Errorf("a value of type %T has no report form", v)
	}
}

// IsZero reports whether the value is nothing.
func (v Value) IsZero() bool { return v.v == nil }

// Any is the value as the plans' formulas take it.
func (v Value) Any() any { return v.v }

// Decimal returns the value when it is a decimal.
func (v Value) Decimal() (decimal.Decimal, bool) {
	d, ok := v.v.(decimal.Decimal)
	return d, ok
}

// String writes the value as fmt writes what it holds.
func (v Value) String() string { return fmt.Sprint(v.v) }

// MarshalJSON writes decimals as rounded numbers and maps as objects of them; nothing is null.
func (v Value) MarshalJSON() ([]byte, error) { return json.Marshal(jsonValue(v.v)) }

// jsonValue turns a checked value into what a report writes: numbers as Number, maps of them
// as objects (json.Marshal sorts their keys).
func jsonValue(v any) any {
	switch x := v.(type) {
	case decimal.Decimal:
		return Number(x)
	case int64:
		return Number(decimal.NewFromInt(x))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	default:
		return v
	}
}

// number returns a summary's or charge's formula value as a decimal: nil counts as 0, as
// Abacus' reports show a missing charge.
func number(v any) (decimal.Decimal, error) {
	switch x := v.(type) {
	case nil:
		return decimal.Zero, nil
	case decimal.Decimal:
		return x, nil
	case int64:
		return decimal.NewFromInt(x), nil
	default:
		s := fmt.Sprintf("%T", v)
		if check(v) == nil {
			b, _ := json.Marshal(jsonValue(v))
			s = string(b)
		}
		return decimal.Zero, fmt.Errorf("not a number: %s", s)
	}
}
