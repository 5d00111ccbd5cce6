package clickhouse

import (
	"strings"
	"testing"
)

// TestFromParts: two parts read back as hi * 10^13 + lo, past what a Decimal128 at 12 places
// holds; too many values summed, or a text ClickHouse 18.16 printed with NUL bytes, is refused.
func TestFromParts(t *testing.T) {
	f := func(hi, lo string, n uint64, want string) {
		t.Helper()
		d, err := fromParts(hi, lo, n)
		if err != nil || d.String() != want {
			t.Errorf("fromParts(%q, %q, %d) = %v, %v; want %s", hi, lo, n, d, err, want)
		}
	}
	f("0", "12.000000000001", 1, "12.000000000001")
	f("34028236692093", "8463463374612.431768211456", 4, "340282366920938463463374612.431768211456")
	f("-9999999999999", "-9999999999999.999999999999", 1, "-99999999999999999999999999.999999999999")
	f("0", "0", 0, "0")
	refused := func(hi, lo string, n uint64, why string) {
		t.Helper()
		if d, err := fromParts(hi, lo, n); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("fromParts(%q, %q, %d) = %v, %v; want an error saying %q", hi, lo, n, d, err, why)
		}
	}
	refused("1", "1", maxPartsSummed+1, "beyond what ClickHouse sums exactly")
	refused("1\x00\x00", "0", 1e9, "beyond what ClickHouse 18.16 prints")
	refused("x", "0", 1, `sum "x"`)
}
