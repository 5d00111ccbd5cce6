package plans

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"

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
		// A float64 has lost digits already (neither literals nor quantities are floats): it is
		// refused, never rounded into a sum.
		return decimal.Zero, fmt.Errorf("%w: %v is a float64, not an exact decimal", errNotNumber, x)
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
		a, b, err := nums(args[0], args[1])
		if err != nil {
			return nil, err
		}
		return f(a, b)
	}, new(func(any, any) any))
}

// nums is num of a and of b.
func nums(a, b any) (x, y decimal.Decimal, err error) {
	if x, err = num(a); err != nil {
		return x, y, err
	}
	y, err = num(b)
	return x, y, err
}

// additive is _add (a + b) or, with sub, _sub (a - b). Arithmetic on times (int64 epoch
// milliseconds) is done in int64 when that gives exactly the decimal Add or Sub would: see
// integers; the result must not overflow, and must not be 0, whose coefficient Add and Sub
// leave as an empty big.Int where decimal.NewFromInt leaves none.
func additive(name string, sub bool) expr.Option {
	return expr.Function(name, func(args ...any) (any, error) { return addSub(args[0], args[1], sub) }, new(func(any, any) any))
}

// addSub is additive's a + b, or a - b with sub.
func addSub(a, b any, sub bool) (any, error) {
	if x, y, ok := integers(a, b); ok {
		r, overflow := x+y, false
		if sub {
			r = x - y
			overflow = (x^y)&(x^r) < 0
		} else {
			overflow = (x^r)&(y^r) < 0
		}
		if !overflow && r != 0 {
			return decimal.NewFromInt(r), nil
		}
	}
	x, y, err := nums(a, b)
	if err != nil {
		return nil, err
	}
	if sub {
		return x.Sub(y), nil
	}
	return x.Add(y), nil
}

// integers returns a and b as int64 when at least one of them is an int64 (a time) and the
// other is one too or a decimal at exponent 0 with at most 18 digits: their sum, difference
// and order are then those of the decimals num makes of them, which are at exponent 0 too.
// Formulas of time-based metrics compute with times (to - start, since > start); this spares
// converting each time to a decimal.
func integers(a, b any) (x, y int64, ok bool) {
	x, okx := a.(int64)
	y, oky := b.(int64)
	switch {
	case okx && oky:
		return x, y, true
	case okx:
		y, oky = smallInt(b)
	case oky:
		x, okx = smallInt(a)
	}
	return x, y, okx && oky
}

// smallInt is v's coefficient when v is a decimal at exponent 0 with at most 18 digits.
func smallInt(v any) (int64, bool) {
	if d, ok := v.(decimal.Decimal); ok && d.Exponent() == 0 && d.NumDigits() <= 18 {
		return d.CoefficientInt64(), true
	}
	return 0, false
}

func compare(name string, f func(c int) bool) expr.Option {
	return expr.Function(name, func(args ...any) (any, error) {
		c, err := compareValues(args[0], args[1])
		if err != nil {
			return nil, err
		}
		return f(c), nil
	}, new(func(any, any) bool))
}

// compareValues is the order of a and b as the comparison operators see it.
func compareValues(a, b any) (int, error) {
	if x, y, ok := integers(a, b); ok {
		return cmp.Compare(x, y), nil
	}
	x, err := num(a)
	if err != nil {
		return 0, err
	}
	y, err := num(b)
	if err != nil {
		return 0, err
	}
	return x.Cmp(y), nil
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

// Size limits of a formula's numbers. Only multiplication and division can make a number
// grow fast (squaring doubles its digits), so their results are checked: with the limit on a
// formula's size this bounds the time and memory a formula can use.
const (
	maxDigitsBits = 512 // about 154 decimal digits
	maxExponent   = 200
)

var errTooLarge = errors.New("a number grew beyond 154 digits or an exponent of ±200")

// bounded returns d, or errTooLarge when d is beyond the size limits.
func bounded(d decimal.Decimal) (decimal.Decimal, error) {
	if e := d.Exponent(); e > maxExponent || e < -maxExponent || d.Coefficient().BitLen() > maxDigitsBits {
		return decimal.Zero, errTooLarge
	}
	return d, nil
}

func mulOp(a, b decimal.Decimal) (decimal.Decimal, error) { return bounded(a.Mul(b)) }

func divOp(a, b decimal.Decimal) (decimal.Decimal, error) {
	if b.IsZero() {
		return decimal.Zero, errDivZero
	}
	return bounded(a.DivRound(b, DivisionScale))
}

// functions are the operators and functions every formula is compiled with.
var functions = []expr.Option{
	additive("_add", false),
	additive("_sub", true),
	arith("_mul", mulOp),
	arith("_div", divOp),
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
			if p.Abs().GreaterThan(decimal.NewFromInt(DivisionScale)) {
				return nil, fmt.Errorf("round: %v places is beyond ±%d", p, DivisionScale)
			}
			places = int32(p.IntPart())
		}
		return d.Round(places), nil
	}),
	extreme("max", func(c int) bool { return c > 0 }),
	extreme("min", func(c int) bool { return c < 0 }),
}

// The stored decimals: quantities, costs and prices are Decimal(38, 12) in ClickHouse, 38
// digits of which StoredScale are after the point.
const (
	// StoredScale is the number of decimal places of stored quantities, costs and charges.
	StoredScale = 12
	// StoredIntegerDigits is the number of digits before the point a stored decimal may have.
	StoredIntegerDigits = 38 - StoredScale
)

// FitsStored reports whether d fits Decimal(38, 12) as it is, unrounded: see CheckStored. It
// costs no allocation for the decimals of everyday usage.
func FitsStored(d decimal.Decimal) bool {
	if e := int(d.Exponent()); e <= 0 && e >= -StoredScale {
		return below(d, StoredIntegerDigits)
	}
	return CheckStored(d) == ""
}

// CheckStored says why d does not fit Decimal(38, 12) unrounded ("" when it does): more than
// StoredIntegerDigits digits before the point, or more than StoredScale decimal places that
// are not zeros. The test costs no more than the digits of d, however large its exponent.
func CheckStored(d decimal.Decimal) string {
	if d.IsZero() {
		return ""
	}
	digits, e := d.NumDigits(), int(d.Exponent())
	switch {
	case digits+e > StoredIntegerDigits:
		return fmt.Sprintf("has more than %d digits before the decimal point: Decimal(38, %d) cannot hold it", StoredIntegerDigits, StoredScale)
	// The coefficient, not 0, has fewer trailing zeros than digits: with -e-StoredScale places
	// too many or more, some of them are not zeros.
	case e < -StoredScale && (-e-StoredScale >= digits || !d.Equal(d.Truncate(StoredScale))):
		return fmt.Sprintf("has more than %d decimal places: Decimal(38, %d) cannot hold it", StoredScale, StoredScale)
	}
	return ""
}

// ShortNumber is d as a problem may show it: its decimal form when short, else its
// coefficient and exponent ("1e400"), else only its size, never thousands of digits.
func ShortNumber(d decimal.Decimal) string {
	digits, e := d.NumDigits(), d.Exponent()
	switch {
	case digits > 40:
		return fmt.Sprintf("a number of %d digits", digits)
	case e >= -40 && e <= 40:
		return d.String()
	default:
		return d.Coefficient().String() + "e" + fmt.Sprint(e)
	}
}

// Round rounds a formula value to StoredScale places, half to even, the one rounding values
// get when they leave the formulas for a table or a topic. Maps are rounded entry by entry;
// other values are returned as they are.
func Round(v any) any {
	switch x := v.(type) {
	case decimal.Decimal:
		return x.RoundBank(StoredScale)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Round(e)
		}
		return out
	default:
		return v
	}
}

// Normalize turns a formula's result into Meterline's value model: numbers become decimals,
// maps are normalized entry by entry, nil stays nil.
func Normalize(v any) (any, error) {
	switch x := v.(type) {
	case nil, decimal.Decimal, bool, string:
		return v, nil
	case int64, int, float64:
		return num(x) // a float64 is refused
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

// normalized reports whether v is in Meterline's value model already, so that Normalize would
// return an equal copy of it, and is not (and holds not) the map measures, which a formula may
// return but whose owner may reuse it. Eval returns such a result as it is.
func normalized(v any, measures map[string]any) bool {
	switch x := v.(type) {
	case nil, decimal.Decimal, bool, string:
		return true
	case map[string]any:
		if reflect.ValueOf(x).UnsafePointer() == reflect.ValueOf(measures).UnsafePointer() {
			return false
		}
		for _, e := range x {
			if !normalized(e, measures) {
				return false
			}
		}
		return true
	}
	return false
}

// Equal reports whether two formula values are equal: numbers by value (1.0 is 1), maps entry
// by entry, nil only to nil.
func Equal(a, b any) bool { return equal(a, b) }
