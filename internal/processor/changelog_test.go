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
	f([]byte(progressKey), appendProgress(nil, 1_780_000_000_001, 1_779_000_000_000, metering.CarryProgress{}),
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

// TestProgressCodec: the progress record keeps the carry pass's progress, a group id of any
// bytes included; a record written before the carry was batched has no pass.
func TestProgressCodec(t *testing.T) {
	f := func(value []byte, want string) {
		t.Helper()
		e, err := decodeEntry([]byte(progressKey), value)
		got := fmt.Sprintf("%d %d %+v", e.processed, e.floor, e.carry)
		if err != nil {
			got = "error"
			if !errors.Is(err, errBadRecord) {
				t.Errorf("decodeEntry(%q): %v, want errBadRecord", value, err)
			}
		}
		if got != want {
			t.Errorf("decodeEntry(%q) = %s, want %s", value, got, want)
		}
	}
	pass := metering.CarryProgress{Hour: 1_780_000_000_000, Pending: true, After: "\x00a b\xff"}
	f(appendProgress(nil, 5, 4, pass), fmt.Sprintf("5 4 %+v", pass))
	f(appendProgress(nil, 5, 4, metering.CarryProgress{Hour: 7, Pending: true}), "5 4 {Hour:7 Pending:true After:}")
	f(appendProgress(nil, 5, 4, metering.CarryProgress{Hour: 7}), "5 4 {Hour:7 Pending:false After:}")
	f([]byte("5 4"), "5 4 {Hour:0 Pending:false After:}") // before the carry was batched
	f([]byte("5 4 7 2 "), "error")                        // pending is 0 or 1
	f([]byte("5 4 7 0 61"), "error")                      // no group visited by a pass not under way
	f([]byte("5 4 7 1 6"), "error")                       // hexadecimal
	f([]byte("5 4 7 1"), "error")                         // every field
	f([]byte("5 4 7 1 61 x"), "error")
	f([]byte("5 4 x 1 61"), "error")
}
