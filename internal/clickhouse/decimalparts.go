package clickhouse

import (
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// A Decimal(38, 12) quantity q is below 10^26 in size, so it splits exactly into two parts
// below 10^13 each: hi = trunc(q / 10^13), a Decimal(38, 0), and lo = q - hi * 10^13, a
// Decimal(38, 12) of the same sign; q = hi * 10^13 + lo. Summed apart, the parts of n
// quantities stay below n * 10^13: ClickHouse 18.16's Decimal128 sum, which wraps around
// silently past 2^127 units (about 1.7 * 10^26 at 12 places), cannot wrap on lo before
// 1.7 * 10^13 values, nor on hi before 10^25; and 18.16's toString, which prints a Decimal128
// of 22 integer digits or more with NUL bytes, prints both in full up to 10^8 values of the
// largest size. The Nova summaries (migration 0011) sum the parts in their day states, and
// the Nova view's queries read every quantity and sum as its two parts, added here.
const (
	partUnit = "toDecimal128(10000000000000, 0)" // 10^13, the unit of hi
	// maxPartsSummed bounds how many values a pair of summed parts may hold: below
	// 1.7 * 10^13, lo cannot have wrapped.
	maxPartsSummed = 10_000_000_000_000
)

// partUnitValue is 10^13 as a decimal.
var partUnitValue = decimal.New(1, 13)

// hiPart is the SQL of x's hi part (x a Decimal(38, 12) expression).
func hiPart(x string) string { return "toDecimal128(toInt64(" + x + " / " + partUnit + "), 0)" }

// loPart is the SQL of x's lo part.
func loPart(x string) string { return x + " - " + hiPart(x) + " * " + partUnit }

// runEndMs is the SQL of a document's run end in epoch ms, start_ms + secs (its instance
// seconds) rounded up to the millisecond, exactly: secs has 12 places, so secs * 1000 is a
// multiple of 10^-9 and adding 0.999999999 before truncating is its ceiling. The seconds are
// held within [0, 10^15] (quantities are never negative; 10^15 s is 31.7 million years): a
// longer run ends at start + 10^18 ms, past any period, and toInt64 never sees a number beyond
// Int64. Migration 0011 writes the same expression.
func runEndMs(secs string) string {
	return "start_ms + toInt64(greatest(least(" + secs + ", toDecimal128(1000000000000000, 12)), toDecimal128(0, 12))" +
		" * toDecimal128(1000, 0) + toDecimal128('0.999999999', 12))"
}

// fromParts reads hi * 10^13 + lo from the text of two parts, the sums of n values (1 for a
// single value). More values than maxPartsSummed, or a text 18.16 could not print, is an error
// that says so, never a wrapped or cut number.
func fromParts(hi, lo string, n uint64) (decimal.Decimal, error) {
	if n > maxPartsSummed {
		return decimal.Decimal{}, fmt.Errorf("a sum of %d values is beyond what ClickHouse sums exactly (%d, Decimal128 at 12 places)", n, uint64(maxPartsSummed))
	}
	var parts [2]decimal.Decimal
	for i, s := range []string{hi, lo} {
		if strings.ContainsRune(s, 0) {
			return decimal.Decimal{}, fmt.Errorf("a sum beyond what ClickHouse 18.16 prints (21 integer digits), over %d values", n)
		}
		d, err := decimal.NewFromString(s)
		if err != nil {
			return decimal.Decimal{}, fmt.Errorf("sum %q: %w", s, err)
		}
		parts[i] = d
	}
	return parts[0].Mul(partUnitValue).Add(parts[1]), nil
}
