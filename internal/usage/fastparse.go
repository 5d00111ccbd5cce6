package usage

import (
	"github.com/shopspring/decimal"
)

// maxIDLength is the schema's maxLength of an id ($defs.id), in characters; the fast path
// reads ASCII only, where a character is a byte.
const maxIDLength = 256

// maxMeasures is the schema's maxItems of measured_usage.
const maxMeasures = 100

// parseFast decodes the common document without the generic decoder and the JSON Schema
// validator: a JSON object of the document's fields, each named once and exactly, whose
// strings are printable ASCII without escapes, whose times are plain digits and whose
// quantities are plain decimals (no sign, no exponent). It accepts only documents Parse's full
// path accepts, and builds the same Document; for anything else, an error of the client's or
// merely a form it does not read (an escape, a non-ASCII character, an exponent, a field
// named twice), ok is false and the full path decides, naming every problem.
// FuzzParseFastPath checks that it never accepts what the full path refuses or builds another
// document.
func parseFast(body []byte) (Document, bool) {
	// One string of the whole body, which the document's strings are slices of: one
	// allocation for all its ids, not one each.
	p := fastParser{b: body, s: string(body)}
	var d Document
	if !p.byte('{') {
		return Document{}, false
	}
	var seen uint16 // one bit per field, in fieldOrder's numbering
	var okStart, okEnd bool
	for first := true; ; first = false {
		if p.byte('}') {
			if first {
				return Document{}, false
			}
			break
		}
		if !first && !p.byte(',') {
			return Document{}, false
		}
		key, ok := p.rawStr()
		if !ok || !p.byte(':') {
			return Document{}, false
		}
		bit, known := fieldOrder[string(key)]
		if !known || seen&(1<<bit) != 0 {
			return Document{}, false
		}
		seen |= 1 << bit
		switch string(key) {
		case "start":
			d.Start, okStart = p.millis()
			ok = okStart
		case "end":
			d.End, okEnd = p.millis()
			ok = okEnd
		case "measured_usage":
			d.MeasuredUsage, ok = p.measures()
		default:
			*idFieldOf(&d, string(key)), ok = p.id()
		}
		if !ok {
			return Document{}, false
		}
	}
	p.space()
	const required = 1<<1 | 1<<2 | 1<<3 | 1<<4 | 1<<6 | 1<<7 | 1<<8 | 1<<9
	if p.i != len(p.b) || seen&required != required || d.End < d.Start {
		return Document{}, false
	}
	return d, true
}

// fastParser reads a body from its offset i; every method skips the whitespace before what it
// reads and reports false, without consuming more, on anything else.
type fastParser struct {
	b []byte
	s string // b as a string
	i int
}

func (p *fastParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte consumes c if it comes next.
func (p *fastParser) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// rawStr reads a string of printable ASCII without escapes, returning its bytes in b.
func (p *fastParser) rawStr() ([]byte, bool) {
	start, end, ok := p.strAt()
	return p.b[start:end], ok
}

// str is rawStr as a string, a slice of s.
func (p *fastParser) str() (string, bool) {
	start, end, ok := p.strAt()
	return p.s[start:end], ok
}

// strAt reads a string of printable ASCII without escapes, returning where its content is.
func (p *fastParser) strAt() (int, int, bool) {
	if !p.byte('"') {
		return 0, 0, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return start, p.i - 1, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return 0, 0, false
		}
		p.i++
	}
	return 0, 0, false
}

// id reads a string that is an id: 1 to 256 characters, of which IDReason finds nothing wrong.
func (p *fastParser) id() (string, bool) {
	s, ok := p.str()
	if !ok || len(s) > maxIDLength || IDReason(s) != "" {
		return "", false
	}
	return s, true
}

// digits reads a run of decimal digits that is a JSON integer: "0" or one not starting with 0.
func (p *fastParser) digits() ([]byte, bool) {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	n := p.b[start:p.i]
	if len(n) == 0 || (len(n) > 1 && n[0] == '0') {
		return nil, false
	}
	return n, true
}

// millis reads a time: plain digits of at most MaxMillis.
func (p *fastParser) millis() (int64, bool) {
	p.space()
	n, ok := p.digits()
	if !ok || len(n) > 13 || p.numberGoesOn() {
		return 0, false
	}
	var v int64
	for _, c := range n {
		v = v*10 + int64(c-'0')
	}
	return v, v <= MaxMillis
}

// numberGoesOn tells whether a number continues past what was read (a fraction or exponent
// the caller does not take).
func (p *fastParser) numberGoesOn() bool {
	if p.i >= len(p.b) {
		return false
	}
	switch p.b[p.i] {
	case '.', 'e', 'E', '-', '+':
		return true
	}
	return false
}

// quantity reads a plain decimal (digits, optionally a point and digits) of at most
// QuantityIntegerDigits digits before the point and QuantityScale after it. checkQuantity
// accepts every such number and returns it unchanged (its Truncate to the scale is the number
// itself), so it is returned as decoded; any other number is left to the full path.
func (p *fastParser) quantity() (decimal.Decimal, bool) {
	p.space()
	start := p.i
	if _, ok := p.digits(); !ok || p.i-start > QuantityIntegerDigits {
		return decimal.Decimal{}, false
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		frac := p.i
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
		if p.i == frac || p.i-frac > QuantityScale {
			return decimal.Decimal{}, false
		}
	}
	if p.numberGoesOn() {
		return decimal.Decimal{}, false
	}
	q, err := decimal.NewFromString(p.s[start:p.i])
	return q, err == nil
}

// measures reads measured_usage: 1 to 100 objects of exactly a measure and a quantity, the
// measures distinct.
func (p *fastParser) measures() ([]Measure, bool) {
	if !p.byte('[') {
		return nil, false
	}
	var ms []Measure
	for {
		if len(ms) > 0 && p.byte(']') {
			return ms, true
		}
		if (len(ms) > 0 && !p.byte(',')) || len(ms) == maxMeasures || !p.byte('{') {
			return nil, false
		}
		var m Measure
		var haveName, haveQty bool
		for k := 0; k < 2; k++ {
			if k > 0 && !p.byte(',') {
				return nil, false
			}
			key, ok := p.rawStr()
			if !ok || !p.byte(':') {
				return nil, false
			}
			switch {
			case string(key) == "measure" && !haveName:
				m.Measure, ok = p.id()
				haveName = true
			case string(key) == "quantity" && !haveQty:
				m.Quantity, ok = p.quantity()
				haveQty = true
			default:
				ok = false
			}
			if !ok {
				return nil, false
			}
		}
		if !p.byte('}') {
			return nil, false
		}
		for _, o := range ms {
			if o.Measure == m.Measure {
				return nil, false
			}
		}
		if ms == nil {
			ms = make([]Measure, 0, 4)
		}
		ms = append(ms, m)
	}
}

// idFieldOf is the id field of d that key names (one of idFields).
func idFieldOf(d *Document, key string) *string {
	switch key {
	case "organization_id":
		return &d.OrganizationID
	case "space_id":
		return &d.SpaceID
	case "consumer_id":
		return &d.ConsumerID
	case "resource_id":
		return &d.ResourceID
	case "plan_id":
		return &d.PlanID
	case "resource_instance_id":
		return &d.ResourceInstanceID
	}
	return &d.DedupID
}
