package processor

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/meterline/meterline/internal/metering"
)

// TestChangelogCodec: every kind of changelog record decodes to what was encoded, tombstones
// included, and a record of no known kind (or a bad value) fails the restore with
// errBadRecord rather than being skipped.
func TestChangelogCodec(t *testing.T) {
	cell := metering.CellKey{Scope: metering.ScopeOrganization, Org: "o/1", Resource: "r", Plan: metering.PlanKey("p", "m", "r", "x"),
		Metric: "storage", Level: metering.Month, From: 1_780_000_000_000}
	value, err := appendValue(nil, decimal.RequireFromString("12.5"), false)
	if err != nil {
		t.Fatal(err)
	}
	f := func(key, value []byte, want string) {
		t.Helper()
		e, err := decodeEntry(key, value)
		got := fmt.Sprintf("%s tombstone=%v %+v %v %s %d %d/%d", e.kind, e.tombstone, e.cell, e.value, e.id, e.end, e.processed, e.floor)
		if err != nil {
			got = "error"
			if !errors.Is(err, errBadRecord) {
				t.Errorf("decodeEntry(%q, %q): %v, want errBadRecord", key, value, err)
			}
		}
		if got != want {
			t.Errorf("decodeEntry(%q, %q) = %s, want %s", key, value, got, want)
		}
	}
	f(cell.AppendTo(nil), value, fmt.Sprintf("cell tombstone=false %+v 12.5  0 0/0", cell))
	f(cell.AppendTo(nil), nil, fmt.Sprintf("cell tombstone=true %+v <nil>  0 0/0", cell))
	f(appendDecidedKey(nil, "doc/1"), appendDecided(nil, -1500), "decided id tombstone=false {Scope:instance Org: Space: Consumer: Instance: Resource: Plan: Metric: Level:second From:0} <nil> doc/1 -1500 0/0")
	f(appendDecidedKey(nil, "doc/1"), nil, "decided id tombstone=true {Scope:instance Org: Space: Consumer: Instance: Resource: Plan: Metric: Level:second From:0} <nil> doc/1 0 0/0")
	f([]byte(progressKey), appendProgress(nil, 1_780_000_000_001, 1_779_000_000_000),
		"progress tombstone=false {Scope:instance Org: Space: Consumer: Instance: Resource: Plan: Metric: Level:second From:0} <nil>  0 1780000000001/1779000000000")
	f([]byte(progressKey), nil, "error")                         // the progress is never deleted
	f([]byte("p/x"), []byte("1 2"), "error")                     // one progress key
	f(appendDecidedKey(nil, "doc"), []byte("soon"), "error")     // an end time is a number
	f([]byte("c/organization/o/r/m/month/0"), []byte{}, "error") // a cell key has every field
	f(cell.AppendTo(nil), []byte{0xff}, "error")                 // a value is a meterline.v1.Value
	// Decimals no processor writes, which cost seconds to convert or a gigabyte to print.
	decimalValue := func(s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), s)
	}
	f(cell.AppendTo(nil), decimalValue(strings.Repeat("9", 900_000)), "error")
	f(cell.AppendTo(nil), decimalValue("1e999999999"), "error")
	f([]byte("x/1"), []byte("1"), "error") // no such kind
	f([]byte("d"), nil, "error")           // no kind without its slash
}
