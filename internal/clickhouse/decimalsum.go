package clickhouse

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// maxDecimalSum bounds the sums of Decimal(38, 12) columns that are read as exact. ClickHouse
// 18.16's sum of a Decimal128 wraps around silently past 2^127 units of 10^-12 (about
// 1.7 × 10^26): four quantities of 8.5 × 10^25 sum to 5. A query that sums such a column
// also sums it as Float64, only to see how large the sum is: below this bound (with a margin
// far wider than a float's error) the Decimal sum did not wrap and is exact.
const maxDecimalSum = 1.5e26

// decimalSum reads the exact sum exact of non-negative quantities, given approx, the same sum
// in Float64: a sum at or beyond maxDecimalSum, or a negative or unreadable one, is an error
// that says so, never a wrapped number.
func decimalSum(exact string, approx float64) (decimal.Decimal, error) {
	if approx >= maxDecimalSum || approx <= -maxDecimalSum {
		return decimal.Decimal{}, fmt.Errorf("a sum of about %.3g is beyond what ClickHouse sums exactly (%.2g, Decimal128 at 12 places)", approx, maxDecimalSum)
	}
	d, err := decimal.NewFromString(exact)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("sum %q: %w", exact, err)
	}
	return d, nil
}
