package plans

import (
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/expr-lang/expr"
	"github.com/shopspring/decimal"
)

// Values in formulas
//
// A formula computes with decimals, never floats: number literals, quantities, prices and
// costs are decimal.Decimal, times are int64 epoch milliseconds, and time-based metrics keep
// maps of them ({consuming, consumed, since}). Every operator works on those:
//
//   - + - * are exact; / is carried to DivisionScale decimal places (half up), the only
//     rounding inside a formula; % is exact.
//   - nil (a missing accumulator, a missing measure) counts as 0 in arithmetic and
//     comparisons, as JavaScript's null did in Abacus' formulas.
//   - ||, && and the condition of ?: follow JavaScript's truthiness: nil, false, 0 and ""
//     are false; a || b is a when a is true, else b.
//   - max and min ignore nil arguments; abs, floor, ceil and round(x, places) are provided.
//
// expr-lang's builtins are disabled: formulas have no loops, so their size bounds their cost.

// DivisionScale is the number of decimal places a division is carried to.
const DivisionScale = 24

var errNotNumber = errors.New("not a number")

// num converts a formula value to a decimal; nil is 0.
func num(v any) (decimal.Decimal, error) {
	switch x := v.(type) {
	case decimal.Decimal:
		return x, nil
	case nil:
		return decimal.Zero, nil
	case int64:
		return decimal.NewFromInt(x), nil
	case int:
		return decimal.NewFromInt(int64(x)), nil
	case float64:
		return decimal.NewFromFloat(x), nil
	case bool:
		if x {
			return decimal.NewFromInt(1), nil
		}
		return decimal.Zero, nil
	default:
		return decimal.Zero, fmt.Errorf("%w: %v (%T)", errNotNumber, v, v)
	}
}

func arith(name string, f func(a, b decimal.Decimal) (decimal.Decimal, error)) expr.Option {
	return expr.Function(name, func(args ...any) (any, error) {
		a, err := num(args[0])
		if err != nil {
			return nil, err
		}
		b, err := num(args[1])
		if err != nil {
			return nil, err
		}
		return f(a, b)
	}, new(func(any, any) any))
}

func compare(name string, f func(c int) bool) expr.Option {
	return expr.Function(name, func(args ...any) (any, error) {
		a, err := num(args[0])
		if err != nil {
			return nil, err
		}
		b, err := num(args[1])
		if err != nil {
			return nil, err
		}
		return f(a.Cmp(b)), nil
	}, new(func(any, any) bool))
}

// Truthy is JavaScript's truthiness of a formula value.
func Truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case decimal.Decimal:
		return !x.IsZero()
	case int64:
		return x != 0
	case int:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	default:
		return true
	}
}

// equal compares formula values: numbers by value, maps entry by entry.
func equal(a, b any) bool {
	if am, ok := a.(map[string]any); ok {
		bm, ok := b.(map[string]any)
		if !ok || len(am) != len(bm) {
			return false
		}
		for k, v := range am {
			if w, ok := bm[k]; !ok || !equal(v, w) {
				return false
			}
		}
		return true
	}
	if as, ok := a.(string); ok {
		bs, ok := b.(string)
		return ok && as == bs
	}
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	x, err1 := num(a)
	y, err2 := num(b)
	return err1 == nil && err2 == nil && x.Equal(y)
}

func extreme(name string, better func(c int) bool) expr.Option {
	return expr.Function(name, func(args ...any) (any, error) {
		var best any
		var bd decimal.Decimal
		for _, a := range args {
			if a == nil {
				continue
			}
			d, err := num(a)
			if err != nil {
				return nil, err
			}
			if best == nil || better(d.Cmp(bd)) {
				best, bd = d, d
			}
		}
		return best, nil
	})
}

func unary(name string, f func(decimal.Decimal) decimal.Decimal) expr.Option {
	return expr.Function(name, func(args ...any) (any, error) {
		d, err := num(args[0])
		if err != nil {
			return nil, err
		}
		return f(d), nil
	}, new(func(any) any))
}

var errDivZero = errors.New("division by zero")

// functions are the operators and functions every formula is compiled with.
var functions = []expr.Option{
	arith("_add", func(a, b decimal.Decimal) (decimal.Decimal, error) { return a.Add(b), nil }),
	arith("_sub", func(a, b decimal.Decimal) (decimal.Decimal, error) { return a.Sub(b), nil }),
	arith("_mul", func(a, b decimal.Decimal) (decimal.Decimal, error) { return a.Mul(b), nil }),
	arith("_div", func(a, b decimal.Decimal) (decimal.Decimal, error) {
		if b.IsZero() {
			return decimal.Zero, errDivZero
		}
		return a.DivRound(b, DivisionScale), nil
	}),
	arith("_mod", func(a, b decimal.Decimal) (decimal.Decimal, error) {
		if b.IsZero() {
			return decimal.Zero, errDivZero
		}
		return a.Mod(b), nil
	}),
	compare("_lt", func(c int) bool { return c < 0 }),
	compare("_le", func(c int) bool { return c <= 0 }),
	compare("_gt", func(c int) bool { return c > 0 }),
	compare("_ge", func(c int) bool { return c >= 0 }),
	expr.Function("_eq", func(args ...any) (any, error) { return equal(args[0], args[1]), nil }, new(func(any, any) bool)),
	expr.Function("_ne", func(args ...any) (any, error) { return !equal(args[0], args[1]), nil }, new(func(any, any) bool)),
	expr.Function("_or", func(args ...any) (any, error) {
		if Truthy(args[0]) {
			return args[0], nil
		}
		return args[1], nil
	}, new(func(any, any) any)),
	expr.Function("_and", func(args ...any) (any, error) {
		if !Truthy(args[0]) {
			return args[0], nil
		}
		return args[1], nil
	}, new(func(any, any) any)),
	expr.Function("_not", func(args ...any) (any, error) { return !Truthy(args[0]), nil }, new(func(any) bool)),
	expr.Function("_truthy", func(args ...any) (any, error) { return Truthy(args[0]), nil }, new(func(any) bool)),
	unary("_neg", decimal.Decimal.Neg),
	unary("abs", decimal.Decimal.Abs),
	unary("floor", decimal.Decimal.Floor),
	unary("ceil", decimal.Decimal.Ceil),
	expr.Function("round", func(args ...any) (any, error) {
		d, err := num(args[0])
		if err != nil {
			return nil, err
		}
		places := int32(0)
		if len(args) > 1 {
			p, err := num(args[1])
			if err != nil {
				return nil, err
			}
			places = int32(p.IntPart())
		}
		return d.Round(places), nil
	}),
	extreme("max", func(c int) bool { return c > 0 }),
	extreme("min", func(c int) bool { return c < 0 }),
}

// Normalize turns a formula's result into Meterline's value model: numbers become decimals,
// maps are normalized entry by entry, nil stays nil.
func Normalize(v any) (any, error) {
	switch x := v.(type) {
	case nil, decimal.Decimal, bool, string:
		return v, nil
	case int64, int, float64:
		return num(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := Normalize(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = n
		}
		return out, nil
	default:
		return nil, fmt.Errorf("a formula returned %T, not a number, a map or nil", v)
	}
}

func sortStrings(seq iter.Seq[string]) []string {
	return slices.Sorted(seq)
}
