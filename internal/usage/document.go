// Package usage holds Meterline's resource usage document (the Cloud Foundry Abacus document
// of seed 001): its validation, its identity, and its conversions to the usage event of the
// Kafka contract. It does no I/O.
package usage

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// UnknownConsumer is the consumer a document without consumer_id is metered under, as in
// Abacus.
const UnknownConsumer = "UNKNOWN"

// Document is a validated resource usage document.
type Document struct {
	Start              int64 // epoch ms, UTC
	End                int64 // epoch ms, UTC; End >= Start
	OrganizationID     string
	SpaceID            string
	ConsumerID         string // "" when the document named none; see Consumer
	ResourceID         string
	PlanID             string
	ResourceInstanceID string
	MeasuredUsage      []Measure
	DedupID            string
}

// Measure is one measured quantity of a document.
type Measure struct {
	Measure  string
	Quantity decimal.Decimal
}

// Consumer returns the consumer the document's usage is metered under.
func (d *Document) Consumer() string {
	if d.ConsumerID == "" {
		return UnknownConsumer
	}
	return d.ConsumerID
}

// ID returns the document's identity: "<end>-<hash>", where hash is 32 hex digits of a SHA-256
// over the document's canonical form. Two documents that differ only in the order of their
// measures or in how a quantity is written (10 and 10.0) have the same id; so the same
// document submitted twice is recognised as a duplicate, and a dedup_id makes two otherwise
// identical documents distinct. The end time leads so that an id tells which monthly
// partition of the event tables holds the document.
func (d *Document) ID() string {
	// The canonical form is written into one buffer (on the stack for a common document)
	// and hashed at once: the same bytes as a streamed hash, without its allocations.
	var scratch [1024]byte
	buf := scratch[:0]
	writeInt := func(v int64) { buf = binary.BigEndian.AppendUint64(buf, uint64(v)) }
	writeStr := func(s string) { // length-prefixed, so field boundaries cannot shift
		writeInt(int64(len(s)))
		buf = append(buf, s...)
	}
	writeInt(d.Start)
	writeInt(d.End)
	for _, s := range [...]string{d.OrganizationID, d.SpaceID, d.ConsumerID, d.ResourceID, d.PlanID, d.ResourceInstanceID, d.DedupID} {
		writeStr(s)
	}
	ms := d.MeasuredUsage
	byName := func(a, b Measure) int { return strings.Compare(a.Measure, b.Measure) }
	if !slices.IsSortedFunc(ms, byName) {
		ms = slices.Clone(ms)
		slices.SortFunc(ms, byName)
	}
	writeInt(int64(len(ms)))
	for _, m := range ms {
		writeStr(m.Measure)
		writeStr(m.Quantity.String())
	}
	sum := sha256.Sum256(buf)
	id := strconv.AppendInt(scratch[:0], d.End, 10)
	id = append(id, '-')
	id = hex.AppendEncode(id, sum[:16])
	return string(id)
}

// ValidID reports whether s has the form of a document id.
func ValidID(s string) bool {
	end, hash, ok := strings.Cut(s, "-")
	if !ok || len(hash) != 32 || end == "" || len(end) > 19 {
		return false
	}
	if _, err := strconv.ParseInt(end, 10, 64); err != nil || end[0] == '+' || end[0] == '-' {
		return false
	}
	_, err := hex.DecodeString(hash)
	return err == nil && strings.ToLower(hash) == hash
}

// EndOfID returns the end time (epoch ms) an id carries; ok is false for a malformed id.
func EndOfID(id string) (end int64, ok bool) {
	if !ValidID(id) {
		return 0, false
	}
	s, _, _ := strings.Cut(id, "-")
	end, err := strconv.ParseInt(s, 10, 64)
	return end, err == nil
}

// MarshalJSON renders the document as the resource usage JSON of seed 001, fields in the
// seed's order; optional fields the document did not have are left out.
func (d Document) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.Grow(256 + 64*len(d.MeasuredUsage))
	b.WriteString(`{"start":`)
	b.WriteString(strconv.FormatInt(d.Start, 10))
	b.WriteString(`,"end":`)
	b.WriteString(strconv.FormatInt(d.End, 10))
	field := func(name, v string) {
		b.WriteString(`,"`)
		b.WriteString(name)
		b.WriteString(`":`)
		q, _ := json.Marshal(v) // a string always marshals
		b.Write(q)
	}
	field("organization_id", d.OrganizationID)
	field("space_id", d.SpaceID)
	if d.ConsumerID != "" {
		field("consumer_id", d.ConsumerID)
	}
	field("resource_id", d.ResourceID)
	field("plan_id", d.PlanID)
	field("resource_instance_id", d.ResourceInstanceID)
	b.WriteString(`,"measured_usage":[`)
	for i, m := range d.MeasuredUsage {
		if i > 0 {
			b.WriteByte(',')
		}
		q, _ := json.Marshal(m.Measure)
		fmt.Fprintf(&b, `{"measure":%s,"quantity":%s}`, q, m.Quantity.String())
	}
	b.WriteByte(']')
	if d.DedupID != "" {
		field("dedup_id", d.DedupID)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Proto returns the document as the payload of the Kafka contract.
func (d *Document) Proto() *meterlinev1.UsageDocument {
	p := &meterlinev1.UsageDocument{
		Start:              d.Start,
		End:                d.End,
		OrganizationId:     d.OrganizationID,
		SpaceId:            d.SpaceID,
		ConsumerId:         d.ConsumerID,
		ResourceId:         d.ResourceID,
		PlanId:             d.PlanID,
		ResourceInstanceId: d.ResourceInstanceID,
		DedupId:            d.DedupID,
		MeasuredUsage:      make([]*meterlinev1.Measure, len(d.MeasuredUsage)),
	}
	for i, m := range d.MeasuredUsage {
		p.MeasuredUsage[i] = &meterlinev1.Measure{Measure: m.Measure, Quantity: m.Quantity.String()}
	}
	return p
}

// FromProto returns the document of a payload. It fails only on a quantity that is not a
// decimal number, which no Meterline producer writes.
func FromProto(p *meterlinev1.UsageDocument) (Document, error) {
	d := Document{
		Start:              p.GetStart(),
		End:                p.GetEnd(),
		OrganizationID:     p.GetOrganizationId(),
		SpaceID:            p.GetSpaceId(),
		ConsumerID:         p.GetConsumerId(),
		ResourceID:         p.GetResourceId(),
		PlanID:             p.GetPlanId(),
		ResourceInstanceID: p.GetResourceInstanceId(),
		DedupID:            p.GetDedupId(),
		MeasuredUsage:      make([]Measure, len(p.GetMeasuredUsage())),
	}
	for i, m := range p.GetMeasuredUsage() {
		q, err := decimal.NewFromString(m.GetQuantity())
		if err != nil {
			return Document{}, fmt.Errorf("measure %q: quantity %q: %w", m.GetMeasure(), m.GetQuantity(), err)
		}
		d.MeasuredUsage[i] = Measure{Measure: m.GetMeasure(), Quantity: q}
	}
	return d, nil
}
