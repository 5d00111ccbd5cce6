package usage

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/meterline/meterline/internal/fault"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// PollerSource returns the source of the documents a poller of provider publishes,
// "poller:<provider>" ("poller:cf", "poller:nova").
func PollerSource(provider string) string { return "poller:" + provider }

// NewEvent returns the usage event of doc: the envelope every intake (the HTTP collector, each
// poller) publishes to the collected-usage topic. It validates doc by the rules Parse applies
// to a submitted document (see Validate), so a document built in code is held to the same
// contract as one posted over HTTP, and it checks the envelope: source must be given and
// received must be a time a document may name. The event's id is doc.ID(), so the same
// document, whoever publishes it and however often (a retry, a re-poll, a restart), carries
// the same id and counts once downstream; a poller makes two genuinely distinct documents
// distinct through DedupID. account is the account owning the document's organization, ""
// when none is known.
//
// The stored time is not set: it is the Kafka record's timestamp, which the publisher stamps
// from its clock, and readers take it from there (kafka.DecodeEvent). A failure is a
// *fault.Error of kind KindInvalid naming every problem.
func NewEvent(doc Document, source string, received time.Time, account string) (*meterlinev1.UsageEvent, error) {
	var problems []fault.Problem
	if strings.TrimSpace(source) == "" {
		problems = append(problems, fault.Problem{Field: "source", Value: source, Reason: "must name where the document came from"})
	}
	if ms := received.UnixMilli(); received.IsZero() || ms < 0 || ms > MaxMillis {
		problems = append(problems, fault.Problem{Field: "received", Value: received.UTC().Format(time.RFC3339Nano),
			Reason: fmt.Sprintf("must be between the epoch and %d epoch milliseconds", int64(MaxMillis))})
	}
	if err := doc.Validate(); err != nil {
		var fe *fault.Error
		if !errors.As(err, &fe) {
			return nil, err
		}
		problems = append(problems, fe.Problems...)
	}
	if len(problems) > 0 {
		return nil, fault.Invalid("invalid usage event", problems...)
	}
	return &meterlinev1.UsageEvent{
		Id:         doc.ID(),
		Source:     source,
		AccountId:  account,
		ReceivedMs: received.UnixMilli(),
		Document:   doc.Proto(),
	}, nil
}

// Validate checks a document by the rules Parse applies to a submitted one: required fields,
// lengths, times, end not before start, measures named once, quantities non-negative and
// within Decimal(38, 12). The common case (a valid document) is checked field by field; any
// document that fails is rendered as JSON and parsed, so that its problems are exactly the
// ones a POST of it would be answered with. A string that is not UTF-8 is refused as such:
// as JSON it would silently become another string.
func (d Document) Validate() error {
	if d.valid() {
		return nil
	}
	var problems []fault.Problem
	check := func(field, s string) {
		if !utf8Valid(s) {
			problems = append(problems, fault.Problem{Field: field, Value: s, Reason: "is not UTF-8"})
		}
	}
	for _, f := range d.idFields() {
		check(f.name, f.value)
	}
	for i, m := range d.MeasuredUsage {
		check(fmt.Sprintf("measured_usage[%d].measure", i), m.Measure)
	}
	if len(problems) > 0 {
		return fault.Invalid("invalid resource usage document", problems...)
	}
	b, err := d.MarshalJSON()
	if err != nil {
		return fmt.Errorf("render resource usage document: %w", err)
	}
	if _, err := Parse(b); err != nil {
		return err
	}
	return nil
}

type namedField struct{ name, value string }

// idFields are the document's identifier fields, in the seed's order.
func (d *Document) idFields() [7]namedField {
	return [7]namedField{{"organization_id", d.OrganizationID}, {"space_id", d.SpaceID}, {"consumer_id", d.ConsumerID},
		{"resource_id", d.ResourceID}, {"plan_id", d.PlanID}, {"resource_instance_id", d.ResourceInstanceID},
		{"dedup_id", d.DedupID}}
}

// valid reports whether d passes every rule of Parse, without rendering it. It may only err
// towards false: a document it refuses is then checked by Parse itself, which has the last word.
func (d *Document) valid() bool {
	if d.Start < 0 || d.End < d.Start || d.End > MaxMillis {
		return false
	}
	for _, f := range d.idFields() {
		optional := f.name == "consumer_id" || f.name == "dedup_id"
		if !(optional && f.value == "") && !validID(f.value) {
			return false
		}
	}
	if n := len(d.MeasuredUsage); n < 1 || n > 100 {
		return false
	}
	for i, m := range d.MeasuredUsage {
		if !validID(m.Measure) {
			return false
		}
		for _, o := range d.MeasuredUsage[:i] {
			if o.Measure == m.Measure {
				return false
			}
		}
		// At most 12 decimal places as written and fewer than 10^26: a quantity written with
		// more places (trailing zeros) is left to Parse.
		q := m.Quantity
		if q.Sign() < 0 || q.Exponent() < -QuantityScale || q.NumDigits()+int(q.Exponent()) > QuantityIntegerDigits {
			return false
		}
	}
	return true
}

// validID reports whether s is a valid identifier: 1 to 256 characters of UTF-8.
func validID(s string) bool {
	n := utf8.RuneCountInString(s)
	return n >= 1 && n <= 256 && utf8Valid(s)
}

func utf8Valid(s string) bool { return utf8.ValidString(s) }
