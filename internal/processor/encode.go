package processor

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
)

// output holds the records of one transaction and the bytes of their keys and values. Kafka
// holds on to a produced record until its transaction ends, so both are only reused by the
// next transaction: a transaction of a hundred thousand records then costs a few allocations,
// not a few per record.
type output struct {
	slabs  [][]kgo.Record
	slab   int // the slab records are taken from
	n      int // records taken from it
	chunks [][]byte
	chunk  int     // the chunk bytes are appended to
	rated  *output // the bytes of the v2 rated records, built while the others are taken from o
}

// ratedOutput returns the output whose bytes the v2 rated records are built in (its records
// are not used); reset resets it with o.
func (o *output) ratedOutput() *output {
	if o.rated == nil {
		o.rated = &output{}
	}
	return o.rated
}

const (
	slabRecords = 4096
	chunkBytes  = 1 << 20
)

// reset makes every record and byte available again; the transaction must have ended.
func (o *output) reset() {
	o.slab, o.n = 0, 0
	for i := range o.chunks[:min(o.chunk+1, len(o.chunks))] {
		o.chunks[i] = o.chunks[i][:0]
	}
	o.chunk = 0
	if o.rated != nil {
		o.rated.reset()
	}
}

// record returns a zeroed record.
func (o *output) record() *kgo.Record {
	if o.slab < len(o.slabs) && o.n == slabRecords {
		o.slab, o.n = o.slab+1, 0
	}
	if o.slab == len(o.slabs) {
		o.slabs = append(o.slabs, make([]kgo.Record, slabRecords))
	}
	o.n++
	r := &o.slabs[o.slab][o.n-1]
	*r = kgo.Record{}
	return r
}

// buf returns the chunk to append about n bytes to; done takes what was appended.
func (o *output) buf(n int) []byte {
	if o.chunk < len(o.chunks) && cap(o.chunks[o.chunk])-len(o.chunks[o.chunk]) < n {
		o.chunk++
	}
	if o.chunk == len(o.chunks) {
		o.chunks = append(o.chunks, make([]byte, 0, max(chunkBytes, n)))
	}
	return o.chunks[o.chunk]
}

// done takes b, the chunk buf returned with bytes appended, and returns those bytes. When
// they outgrew the chunk, b is a copy of it in a larger array, which replaces it (the records
// given the old array keep it until they are done).
func (o *output) done(b []byte) []byte {
	start := len(o.chunks[o.chunk])
	o.chunks[o.chunk] = b
	return b[start:len(b):len(b)]
}

// bytes appends s and returns it as a slice of the output.
func (o *output) bytes(s string) []byte {
	return o.done(append(o.buf(len(s)), s...))
}

// appendValue appends the protobuf encoding of a cell value (meterline.v1.Value) to b, rounded
// to the stored scale when round is set: what proto.Marshal of metering.ValueProto of the
// value (rounded with plans.Round) gives, a map's entries in the order of their names.
func appendValue(b []byte, v any, round bool) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return b, nil
	case decimal.Decimal:
		b = protowire.AppendTag(b, 1, protowire.BytesType) // Value.decimal
		// The string goes after a one-byte length (a decimal of up to 127 characters, as
		// nearly all are), moved when it needs more.
		at := len(b)
		b = append(b, 0)
		if round {
			b = plans.AppendStored(b, x)
		} else {
			b = plans.AppendDecimal(b, x)
		}
		return fixLength(b, at, 1), nil
	case int64:
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		at := len(b)
		b = append(b, 0)
		return fixLength(strconv.AppendInt(b, x, 10), at, 1), nil
	case map[string]any:
		return appendMapValue(b, x, round)
	default:
		return nil, fmt.Errorf("a cell value of type %T cannot be encoded", v)
	}
}

// appendMapValue appends the Value.map of m: a MapValue whose fields are m's entries (those
// with a value), each a map entry with its name (field 1) and its value (field 2).
func appendMapValue(b []byte, m map[string]any, round bool) ([]byte, error) {
	// The names in order, without an allocation for the few fields of a plan's map values.
	var buf [16]string
	names := buf[:0]
	for name, e := range m {
		if e != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	b = protowire.AppendTag(b, 2, protowire.BytesType) // Value.map
	at := len(b)
	b = append(b, 0, 0)
	for _, name := range names {
		b = protowire.AppendTag(b, 1, protowire.BytesType) // MapValue.fields
		entry := len(b)
		b = append(b, 0, 0)
		b = protowire.AppendTag(b, 1, protowire.BytesType) // key, written even when empty
		b = protowire.AppendString(b, name)
		b = protowire.AppendTag(b, 2, protowire.BytesType) // value
		value := len(b)
		b = append(b, 0)
		var err error
		if b, err = appendValue(b, m[name], round); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		b = fixLength(fixLength(b, value, 1), entry, 2)
	}
	return fixLength(b, at, 2), nil
}

// appendString appends a string field unless it is empty, as proto.Marshal does.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendInt64 appends an int64 field unless it is 0, as proto.Marshal does.
func appendInt64(b []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

// appendMessage appends a message field whose encoding appendBody appends; nothing for a
// nil value.
func appendMessage(b []byte, num protowire.Number, v any) ([]byte, error) {
	if v == nil {
		return b, nil
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	// The length goes before the body: leave room for a one-byte length, move the body when
	// it needs more.
	at := len(b)
	b = append(b, 0)
	b, err := appendValue(b, v, true)
	if err != nil {
		return nil, err
	}
	return fixLength(b, at, 1), nil
}

// fixLength writes at b[at] the varint length of the body that runs from b[at+room] to the
// end of b, room bytes having been left for it, and moves the body when the length takes
// more or fewer bytes than that.
func fixLength(b []byte, at, room int) []byte {
	n := len(b) - at - room
	size := protowire.SizeVarint(uint64(n))
	if size != room {
		if size > room {
			b = append(b, make([]byte, size-room)...)
		}
		copy(b[at+size:], b[at+room:at+room+n])
		b = b[:at+size+n]
	}
	protowire.AppendVarint(b[at:at], uint64(n))
	return b
}

// ratedUsage is the content of a RatedUsage record.
type ratedUsage struct {
	key               metering.CellKey
	to                int64
	quantity, cost    any
	account, currency string
	processed         int64
}

// appendRated appends the protobuf encoding of the meterline.v1.RatedUsage of r to b,
// quantity and cost rounded to the stored scale: what proto.Marshal of the message gives,
// without building it.
func appendRated(b []byte, r *ratedUsage) ([]byte, error) {
	k := &r.key
	b = appendString(b, 1, r.account)
	b = appendString(b, 2, k.Org)
	b = appendString(b, 3, k.Space)
	b = appendString(b, 4, k.Consumer)
	b = appendString(b, 5, k.Instance)
	b = appendString(b, 6, k.Resource)
	b = appendString(b, 7, k.Plan)
	b = appendString(b, 8, k.Metric)
	b = appendString(b, 9, k.Scope.String())
	b = appendString(b, 10, k.Level.String())
	b = appendInt64(b, 11, k.From)
	b = appendInt64(b, 12, r.to)
	b, err := appendMessage(b, 13, r.quantity)
	if err != nil {
		return nil, err
	}
	if b, err = appendMessage(b, 14, r.cost); err != nil {
		return nil, err
	}
	b = appendString(b, 15, r.currency)
	return appendInt64(b, 16, r.processed), nil
}

// batchSlack is room for one more cell past the limit of a v2 rated record.
const batchSlack = 4096

// appendBatchCell appends the RatedUsage of r to b as one element of RatedUsageBatch.cells
// (field 1): what proto.Marshal of a batch gives, cell by cell.
func appendBatchCell(b []byte, r *ratedUsage) ([]byte, error) {
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	// As appendMessage: room for a two-byte length (a cell is under 16 KB), moved when it
	// needs more or less.
	at := len(b)
	b = append(b, 0, 0)
	b, err := appendRated(b, r)
	if err != nil {
		return nil, err
	}
	return fixLength(b, at, 2), nil
}
