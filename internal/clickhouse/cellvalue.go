package clickhouse

import (
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// maxFastDepth bounds the nesting of maps the fast decoder reads; a deeper value goes to
// protojson, which has its own limit.
const maxFastDepth = 32

// decodeMapJSON reads the JSON of a MapValue as protojson.Marshal writes it (Insert's
// quantity_json and cost_json): {"fields": {name: {"decimal": "..."} | {"map": {...}} | {}}},
// with any JSON white space. It is a plain scanner, without protojson's reflection, and it
// takes only that form: strings without escapes or non-ASCII bytes, each key once, nothing
// else. ok is false for anything else, for which the caller runs protojson.Unmarshal, so
// that what it reads, and the errors of what it does not, are protojson's.
func decodeMapJSON(js string) (*meterlinev1.MapValue, bool) {
	d := mapDecoder{s: js}
	m, ok := d.mapValue(0)
	if !ok {
		return nil, false
	}
	d.ws()
	return m, d.i == len(d.s)
}

type mapDecoder struct {
	s string
	i int
}

func (d *mapDecoder) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// byte consumes c after white space.
func (d *mapDecoder) byte(c byte) bool {
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

// peek reports whether c is next after white space, without consuming it.
func (d *mapDecoder) peek(c byte) bool {
	d.ws()
	return d.i < len(d.s) && d.s[d.i] == c
}

// str reads a string of printable ASCII without escapes.
func (d *mapDecoder) str() (string, bool) {
	if !d.byte('"') {
		return "", false
	}
	start := d.i
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			return d.s[start : d.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
		d.i++
	}
	return "", false
}

// mapValue reads {} or {"fields": {...}}.
func (d *mapDecoder) mapValue(depth int) (*meterlinev1.MapValue, bool) {
	if depth > maxFastDepth || !d.byte('{') {
		return nil, false
	}
	m := &meterlinev1.MapValue{}
	if d.byte('}') {
		return m, true
	}
	if k, ok := d.str(); !ok || k != "fields" || !d.byte(':') || !d.byte('{') {
		return nil, false
	}
	if !d.peek('}') {
		m.Fields = map[string]*meterlinev1.Value{}
		for {
			name, ok := d.str()
			if !ok || !d.byte(':') {
				return nil, false
			}
			if _, dup := m.Fields[name]; dup {
				return nil, false
			}
			v, ok := d.value(depth)
			if !ok {
				return nil, false
			}
			m.Fields[name] = v
			if !d.byte(',') {
				break
			}
		}
	}
	if !d.byte('}') || !d.byte('}') {
		return nil, false
	}
	return m, true
}

// value reads {}, {"decimal": "..."} or {"map": {...}}.
func (d *mapDecoder) value(depth int) (*meterlinev1.Value, bool) {
	if !d.byte('{') {
		return nil, false
	}
	v := &meterlinev1.Value{}
	if d.byte('}') {
		return v, true
	}
	k, ok := d.str()
	if !ok || !d.byte(':') {
		return nil, false
	}
	switch k {
	case "decimal":
		s, ok := d.str()
		if !ok {
			return nil, false
		}
		v.Kind = &meterlinev1.Value_Decimal{Decimal: s}
	case "map":
		m, ok := d.mapValue(depth + 1)
		if !ok {
			return nil, false
		}
		v.Kind = &meterlinev1.Value_Map{Map: m}
	default:
		return nil, false
	}
	return v, d.byte('}')
}
