package plans

import (
	"math/big"
	"math/bits"
	"strconv"

	"github.com/shopspring/decimal"
)

// The processor formats every changed cell's value and cost and checks every changed cell
// against Decimal(38, 12), many times per document. shopspring's String, RoundBank and
// NumDigits work on big.Int and allocate for each call; the functions below give the same
// results without that for the decimals of usage (coefficients of up to 128 bits, exponents
// within ±64) and fall back to shopspring for any other. TestDecimalFastPaths checks them
// against shopspring.

// fastExponent bounds the exponents the fast paths take.
const fastExponent = 64

// AppendDecimal appends d.String() to b.
func AppendDecimal(b []byte, d decimal.Decimal) []byte {
	return appendDecimal(b, d, false)
}

// AppendStored appends the decimal a topic or a table stores for d: d rounded half to even to
// StoredScale places when it has more, then as d.String() gives it (trailing zeros trimmed).
func AppendStored(b []byte, d decimal.Decimal) []byte {
	return appendDecimal(b, d, true)
}

func appendDecimal(b []byte, d decimal.Decimal, stored bool) []byte {
	e := int(d.Exponent())
	hi, lo, neg, ok := coefficient(d)
	if !ok || e > fastExponent || e < -fastExponent {
		if stored && e < -StoredScale {
			d = d.RoundBank(StoredScale)
		}
		return append(b, d.String()...)
	}
	if stored && e < -StoredScale {
		if hi, lo, ok = roundBank(hi, lo, -StoredScale-e); !ok {
			return append(b, d.RoundBank(StoredScale).String()...)
		}
		e = -StoredScale
	}
	if hi == 0 && lo == 0 {
		return append(b, '0')
	}
	if neg {
		b = append(b, '-')
	}
	var buf [40]byte
	digits := appendUint128(buf[:0], hi, lo)
	if e >= 0 {
		b = append(b, digits...)
		for range e {
			b = append(b, '0')
		}
		return b
	}
	places := -e
	// Trailing zeros of the fraction are trimmed, as String does.
	frac := digits
	if len(digits) > places {
		b = append(b, digits[:len(digits)-places]...)
		frac = digits[len(digits)-places:]
		places = len(frac)
	} else {
		b = append(b, '0')
	}
	end := len(frac)
	for end > 0 && frac[end-1] == '0' {
		end--
	}
	if end == 0 {
		return b
	}
	b = append(b, '.')
	for range places - len(frac) {
		b = append(b, '0')
	}
	return append(b, frac[:end]...)
}

// coefficient returns the magnitude of d's coefficient as two 64-bit words and its sign,
// when it fits 128 bits. One below 2^63 in magnitude, as most are, is read without copying
// the big.Int (shopspring's Coefficient copies it): its exponent's int64 bounds tell.
func coefficient(d decimal.Decimal) (hi, lo uint64, neg, ok bool) {
	if e := int(d.Exponent()); e <= 0 && e >= -fastExponent {
		if b := &int64Bounds[e+fastExponent]; d.Cmp(b[0]) < 0 && d.Cmp(b[1]) > 0 {
			c := d.CoefficientInt64()
			if c < 0 {
				return 0, uint64(-c), true, true
			}
			return 0, uint64(c), false, true
		}
	}
	c := d.Coefficient()
	hi, lo, ok = magnitude(c)
	return hi, lo, c.Sign() < 0, ok
}

// int64Bounds[e+fastExponent] holds ±2^63 with exponent e (e ≤ 0): a decimal of exponent e
// strictly between them has a coefficient an int64 holds, whose negation too.
var int64Bounds = func() (t [fastExponent + 1][2]decimal.Decimal) {
	c := new(big.Int).Lsh(big.NewInt(1), 63)
	for i := range t {
		e := int32(i - fastExponent)
		t[i] = [2]decimal.Decimal{decimal.NewFromBigInt(c, e), decimal.NewFromBigInt(new(big.Int).Neg(c), e)}
	}
	return t
}()

// magnitude returns |c| as two 64-bit words when it fits 128 bits.
func magnitude(c *big.Int) (hi, lo uint64, ok bool) {
	if c.BitLen() > 128 {
		return 0, 0, false
	}
	w := c.Bits()
	if bits.UintSize != 64 {
		return 0, 0, false
	}
	switch len(w) {
	case 0:
	case 1:
		lo = uint64(w[0])
	default:
		hi, lo = uint64(w[1]), uint64(w[0])
	}
	return hi, lo, true
}

// pow10 are the powers of ten a uint64 holds.
var pow10 = func() (p [20]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// roundBank divides the magnitude hi:lo by 10^k, rounding half to even (RoundBank's
// rounding of a magnitude: half away from zero, then back when that is odd); false when 10^k
// is beyond a uint64.
func roundBank(hi, lo uint64, k int) (uint64, uint64, bool) {
	if k >= len(pow10) {
		return 0, 0, false
	}
	div := pow10[k]
	qhi := hi / div
	qlo, r := bits.Div64(hi%div, lo, div)
	half := div / 2
	if r > half || (r == half && qlo&1 == 1) {
		var carry uint64
		qlo, carry = bits.Add64(qlo, 1, 0)
		qhi += carry
	}
	return qhi, qlo, true
}

// appendUint128 appends the decimal digits of hi:lo.
func appendUint128(b []byte, hi, lo uint64) []byte {
	const chunk = 1e19 // the largest power of ten below 2^64
	if hi == 0 {
		return strconv.AppendUint(b, lo, 10)
	}
	qhi := hi / chunk
	qlo, r := bits.Div64(hi%chunk, lo, chunk)
	b = appendUint128(b, qhi, qlo)
	var buf [20]byte
	s := strconv.AppendUint(buf[:0], r, 10)
	for range 19 - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// storedBounds[e+fastExponent] holds ±10^(StoredIntegerDigits-1) and ±10^StoredIntegerDigits
// with exponent e (e ≤ 0), so that comparing a decimal of exponent e with them compares
// coefficients only, as shopspring does for equal exponents, without rescaling.
var storedBounds = func() (t [fastExponent + 1][2][2]decimal.Decimal) {
	ten := big.NewInt(10)
	for i := range t {
		e := int32(i - fastExponent)
		for j, digits := range [...]int64{StoredIntegerDigits - 1, StoredIntegerDigits} {
			c := new(big.Int).Exp(ten, big.NewInt(digits-int64(e)), nil)
			t[i][j] = [2]decimal.Decimal{decimal.NewFromBigInt(c, e), decimal.NewFromBigInt(new(big.Int).Neg(c), e)}
		}
	}
	return t
}()

// below reports whether |d| < 10^digits, for digits StoredIntegerDigits-1 or
// StoredIntegerDigits: d.NumDigits()+d.Exponent() <= digits, without NumDigits' allocations
// when d's exponent is within [-64, 0].
func below(d decimal.Decimal, digits int) bool {
	e := int(d.Exponent())
	if e > 0 || e < -fastExponent {
		return d.NumDigits()+e <= digits
	}
	bound := &storedBounds[e+fastExponent][digits-(StoredIntegerDigits-1)]
	return d.Cmp(bound[0]) < 0 && d.Cmp(bound[1]) > 0
}

// BelowStoredLimit reports whether |d| < 10^(StoredIntegerDigits-1): rounding d to
// StoredScale places then cannot carry it past what Decimal(38, 12) holds.
func BelowStoredLimit(d decimal.Decimal) bool { return below(d, StoredIntegerDigits-1) }
