package processor

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/meterline/meterline/internal/metering"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// The changelog codec. Changelog partition p holds the state of input partition p in three
// kinds of records, told apart by their key's prefix; the topic is compacted, so the newest
// record of a key is its value, and a nil value (a tombstone) deletes the key:
//
//   - "c/<scope>/<org>/.../<level>/<from>" (metering.CellKey.AppendTo): a cell's committed
//     value, a meterline.v1.Value; a tombstone once the cell's period is pruned.
//   - "d/<document id>": a decided (counted or finally rejected) document's end time, decimal
//     epoch ms; a tombstone once the id is pruned (a copy is then too late, never counted).
//   - "p/": the partition's progress, "<processed> <floor> <hour> <pending> <after>": the
//     processing time of the last transaction, the floor it pruned up to, and the carry
//     pass's progress (metering.CarryProgress: the hour of the latest pass, 1 while it is
//     under way, else 0, and the hexadecimal id of the last instance group it carried). One
//     key: the newest record wins. A record of the first two fields alone (written before
//     the carry was batched) has no pass.
//
// Cell values are encoded by appendValue (encode.go), the hot-path encoder the rated records
// use too; the progress and decided values by appendProgress and appendDecided below.
//
// A record that is none of these fails the restore: a state rebuilt without it could count a
// document twice.

// keyKind is the kind of a changelog record, the first byte of its key.
type keyKind byte

// The kinds of changelog records.
const (
	keyCell     keyKind = 'c'
	keyDecided  keyKind = 'd'
	keyProgress keyKind = 'p'
)

func (k keyKind) String() string {
	switch k {
	case keyCell:
		return "cell"
	case keyDecided:
		return "decided id"
	case keyProgress:
		return "progress"
	}
	return fmt.Sprintf("kind(%q)", byte(k))
}

// progressKey is the key of the partition's progress record.
const progressKey = "p/"

// errBadRecord is the cause of every changelog decoding error.
var errBadRecord = errors.New("not a changelog record")

// kindOf returns the kind of changelog key key.
func kindOf(key []byte) (keyKind, error) {
	if len(key) >= 2 && key[1] == '/' {
		switch k := keyKind(key[0]); {
		case k == keyCell, k == keyDecided:
			return k, nil
		case k == keyProgress && len(key) == len(progressKey):
			return k, nil
		}
	}
	return 0, fmt.Errorf("changelog key %q: %w", key, errBadRecord)
}

// appendDecidedKey appends the key of decided document id to b.
func appendDecidedKey(b []byte, id string) []byte {
	return append(append(b, byte(keyDecided), '/'), id...)
}

// appendDecided appends the value of a decided document, its end time, to b.
func appendDecided(b []byte, end int64) []byte { return strconv.AppendInt(b, end, 10) }

// appendProgress appends the value of the progress record to b.
func appendProgress(b []byte, processed, floor int64, carry metering.CarryProgress) []byte {
	b = strconv.AppendInt(b, processed, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, floor, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, carry.Hour, 10)
	b = append(b, ' ', '0', ' ')
	if carry.Pending {
		b[len(b)-2] = '1'
	}
	return hex.AppendEncode(b, []byte(carry.After))
}

// maxCarryAfter bounds the id of the group in a progress record: a group id holds a cell
// key's ids, which the collector bounds far below it.
const maxCarryAfter = 64 << 10

// entry is one decoded changelog record. A tombstone has the key's fields and no value.
type entry struct {
	kind      keyKind
	tombstone bool

	cell  metering.CellKey // keyCell
	value any              // keyCell: the cell's committed value

	id  string // keyDecided
	end int64  // keyDecided: the document's end time

	processed, floor int64                  // keyProgress
	carry            metering.CarryProgress // keyProgress
}

// decodeEntry decodes the changelog record of key and value; a nil value is a tombstone, of
// which the progress record has none.
func decodeEntry(key, value []byte) (entry, error) {
	kind, err := kindOf(key)
	if err != nil {
		return entry{}, err
	}
	e := entry{kind: kind, tombstone: value == nil}
	bad := func(err error) (entry, error) {
		return entry{}, fmt.Errorf("changelog %s %s: %w", kind, key, errors.Join(errBadRecord, err))
	}
	switch kind {
	case keyProgress:
		if e, err = decodeProgress(e, value); err != nil {
			return bad(err)
		}
	case keyDecided:
		e.id = string(key[2:])
		if e.tombstone {
			return e, nil
		}
		if e.end, err = strconv.ParseInt(string(value), 10, 64); err != nil {
			return bad(err)
		}
	case keyCell:
		if e.cell, err = metering.ParseCellKey(string(key)); err != nil {
			return bad(err)
		}
		if e.tombstone {
			return e, nil
		}
		var pv meterlinev1.Value
		if err := proto.Unmarshal(value, &pv); err != nil {
			return bad(err)
		}
		if e.value, err = metering.ValueFromProto(&pv); err != nil {
			return bad(err)
		}
	}
	return e, nil
}

// decodeProgress decodes the value of a progress record into e.
func decodeProgress(e entry, value []byte) (entry, error) {
	fields := bytes.Split(value, []byte{' '})
	if (len(fields) != 2 && len(fields) != 5) || len(value) > 4*20+2*maxCarryAfter {
		return e, fmt.Errorf("%.100q is not \"<processed> <floor> <hour> <pending> <after>\"", value)
	}
	var ints [3]int64
	for i := range min(len(fields), 3) {
		n, err := strconv.ParseInt(string(fields[i]), 10, 64)
		if err != nil {
			return e, err
		}
		ints[i] = n
	}
	e.processed, e.floor = ints[0], ints[1]
	if len(fields) == 2 {
		return e, nil
	}
	switch string(fields[3]) {
	case "0":
	case "1":
		e.carry.Pending = true
	default:
		return e, fmt.Errorf("carry pending %q is not 0 or 1", fields[3])
	}
	after, err := hex.DecodeString(string(fields[4]))
	if err != nil {
		return e, err
	}
	if !e.carry.Pending && len(after) > 0 {
		return e, errors.New("a carry pass that is not under way has visited no group")
	}
	e.carry.Hour, e.carry.After = ints[2], string(after)
	return e, nil
}
