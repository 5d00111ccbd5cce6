package plans

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

// decimalCases are decimals at the edges of the fast paths: 64- and 128-bit coefficients,
// exponents at ±64 and beyond, halves that round to even either way, carries into a new
// digit, and the stored limits.
func decimalCases() []decimal.Decimal {
	var ds []decimal.Decimal
	for _, s := range []string{
		"0", "-0", "1", "-1", "0.5", "2468.149780647456645965576172", "-2468.149780647456645965576172",
		"0.0000000000005", "0.0000000000015", "0.0000000000025", "-0.0000000000025", "0.00000000000050000001",
		"0.9999999999995", "-0.9999999999995", "99999999999999999999999999.9999999999995",
		"99999999999999999999999999", "100000000000000000000000000", "9999999999999999999999999.999999999999",
		"10000000000000000000000000", "-10000000000000000000000000", "1.000000000000", "100", "1e3", "1.5e-30",
		"340282366920938463463374607431768211455", "340282366920938463463374607431768211456",
		"-340282366920938463463374607431768211455e-20", "18446744073709551615", "18446744073709551616",
		"1e64", "1e65", "1e-64", "1e-65", "9223372036854775807", "-9223372036854775807", "9223372036854775808",
		"-9223372036854775808", "-92233720368.54775808", "92233720368.54775807", "-92233720368.54775809", "123456789012345678901234567890e-64", "5e-20", "15e-31",
	} {
		ds = append(ds, decimal.RequireFromString(s))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		c := new(big.Int).SetUint64(r.Uint64())
		c.Lsh(c, 64).Or(c, new(big.Int).SetUint64(r.Uint64())).Lsh(c, 64).Or(c, new(big.Int).SetUint64(r.Uint64()))
		c.Rsh(c, uint(r.IntN(193))) // 0 to 192 bits
		if r.IntN(2) == 0 {
			c.Neg(c)
		}
		ds = append(ds, decimal.NewFromBigInt(c, int32(r.IntN(150)-80)))
	}
	return ds
}

func TestDecimalFastPaths(t *testing.T) {
	for _, d := range decimalCases() {
		if got, want := string(AppendDecimal(nil, d)), d.String(); got != want {
			t.Fatalf("AppendDecimal(%s, exp %d) = %q, want %q", d.Coefficient(), d.Exponent(), got, want)
		}
		want := d
		if d.Exponent() < -StoredScale {
			want = d.RoundBank(StoredScale)
		}
		if got := string(AppendStored([]byte("x"), d)); got != "x"+want.String() {
			t.Fatalf("AppendStored(%s, exp %d) = %q, want %q", d.Coefficient(), d.Exponent(), got, "x"+want.String())
		}
		for _, digits := range []int{StoredIntegerDigits - 1, StoredIntegerDigits} {
			if got, want := below(d, digits), d.NumDigits()+int(d.Exponent()) <= digits; got != want {
				t.Fatalf("below(%s, exp %d, %d) = %v, want %v", d.Coefficient(), d.Exponent(), digits, got, want)
			}
		}
	}
}

func FuzzAppendStored(f *testing.F) {
	f.Add([]byte{1, 2, 3}, int32(-24), false)
	f.Fuzz(func(t *testing.T, coef []byte, exp int32, neg bool) {
		if len(coef) > 40 || exp > 200 || exp < -200 {
			return
		}
		c := new(big.Int).SetBytes(coef)
		if neg {
			c.Neg(c)
		}
		d := decimal.NewFromBigInt(c, exp)
		if got, want := string(AppendDecimal(nil, d)), d.String(); got != want {
			t.Fatalf("AppendDecimal = %q, want %q", got, want)
		}
		want := d
		if exp < -StoredScale {
			want = d.RoundBank(StoredScale)
		}
		if got := string(AppendStored(nil, d)); got != want.String() {
			t.Fatalf("AppendStored = %q, want %q", got, want.String())
		}
	})
}
