package processor

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"
)

// FuzzChangelog decodes any changelog record: a key and a value, or a tombstone. Its seeds are
// in testdata/fuzz/FuzzChangelog: records of every kind as the processor writes them (cells of
// every scope and level with decimal and time-based values, decided ids, the progress), and
// hostile ones (900,000-digit and 1e400 decimals, truncated and nested protobuf, invalid
// UTF-8, NUL, ".", "..", bad escapes, keys of the wrong shape).
//
// A record either fails with errBadRecord, never a panic, or decodes to an entry that encodes
// to a record decoding to the same entry (see removes for a cell without a value): the codec
// decodes what it encodes.
func FuzzChangelog(f *testing.F) {
	f.Fuzz(func(t *testing.T, key, value []byte, tombstone bool) {
		if tombstone {
			value = nil
		} else if value == nil {
			value = []byte{} // an empty value, not a tombstone
		}
		e, err := decodeEntry(key, value)
		if err != nil {
			if !errors.Is(err, errBadRecord) || err.Error() == "" {
				t.Fatalf("decodeEntry(%q, %q): %v, want errBadRecord", key, value, err)
			}
			return
		}
		if e.tombstone != (value == nil) {
			t.Fatalf("decodeEntry(%q, %q): tombstone %v", key, value, e.tombstone)
		}
		key2, value2 := encodeEntry(t, e)
		e2, err := decodeEntry(key2, value2)
		if err != nil {
			t.Fatalf("the encoding of %+v, %q %q, does not decode: %v", e, key2, value2, err)
		}
		if e2.kind != e.kind || removes(e2) != removes(e) || e2.cell != e.cell || e2.id != e.id || e2.end != e.end ||
			e2.processed != e.processed || e2.floor != e.floor || e2.carry != e.carry || !sameValue(e2.value, e.value) {
			t.Fatalf("%q %q decodes to %+v, which encodes to %q %q, which decodes to %+v", key, value, e, key2, value2, e2)
		}
	})
}

// removes reports whether e deletes its key on restore: a tombstone, or a cell without a
// value (an empty meterline.v1.Value), which Cells.Load removes as it does a tombstone's and
// appendValue encodes as one.
func removes(e entry) bool { return e.tombstone || e.kind == keyCell && e.value == nil }

// encodeEntry encodes e as the processor writes its kind of record.
func encodeEntry(t *testing.T, e entry) (key, value []byte) {
	t.Helper()
	switch e.kind {
	case keyCell:
		key = e.cell.AppendTo(nil)
		if !e.tombstone {
			var err error
			if value, err = appendValue(nil, e.value, false); err != nil {
				t.Fatalf("the value %#v of a decoded cell does not encode: %v", e.value, err)
			}
		}
	case keyDecided:
		key = appendDecidedKey(nil, e.id)
		if !e.tombstone {
			value = appendDecided(nil, e.end)
		}
	case keyProgress:
		key, value = []byte(progressKey), appendProgress(nil, e.processed, e.floor, e.carry)
	default:
		t.Fatalf("an entry of kind %s", e.kind)
	}
	return key, value
}

// sameValue reports whether two cell values are the same numbers: a decimal's representation
// may change (1.50 is written 1.5), not its value.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case decimal.Decimal:
		y, ok := b.(decimal.Decimal)
		return ok && x.Equal(y)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	}
	return false
}
