package clickhouse

import (
	"strings"
	"testing"
)

// TestDecimalSum: a sum whose Float64 twin reaches the bound is refused (ClickHouse's Decimal
// sum may have wrapped around); below it the exact text is read as it is.
func TestDecimalSum(t *testing.T) {
	if d, err := decimalSum("12.000000000001", 12); err != nil || d.String() != "12.000000000001" {
		t.Errorf("decimalSum(12.000000000001) = %v, %v", d, err)
	}
	if d, err := decimalSum("5", 3.4028236692093846e26); err == nil || !strings.Contains(err.Error(), "beyond what ClickHouse sums exactly") {
		t.Errorf("decimalSum(5, 3.4e26) = %v, %v; want it refused", d, err)
	}
	if _, err := decimalSum("1\x00\x00", 1e21); err == nil {
		t.Error("decimalSum of ClickHouse's broken text of a large Decimal128 was read")
	}
}
