package processor

import (
	"bytes"
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
//   - "p/": the partition's progress, "<processed> <floor>": the processing time of the last
//     transaction and the floor it pruned up to. One key: the newest record wins.
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
func appendProgress(b []byte, processed, floor int64) []byte {
	b = strconv.AppendInt(b, processed, 10)
	b = append(b, ' ')
	return strconv.AppendInt(b, floor, 10)
}

// entry is one decoded changelog record. A tombstone has the key's fields and no value.
type entry struct {
	kind      keyKind
	tombstone bool

	cell  metering.CellKey // keyCell
	value any              // keyCell: the cell's committed value

	id  string // keyDecided
	end int64  // keyDecided: the document's end time

	processed, floor int64 // keyProgress
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
		processed, floor, ok := bytes.Cut(value, []byte{' '})
		var err1, err2 error
		if ok {
			e.processed, err1 = strconv.ParseInt(string(processed), 10, 64)
			e.floor, err2 = strconv.ParseInt(string(floor), 10, 64)
		}
		if !ok || err1 != nil || err2 != nil {
			return bad(fmt.Errorf("%q is not \"<processed> <floor>\"", value))
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
