package metering

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// ValueProto encodes a cell value (a decimal, a map of values, nil) for the topics; times in
// maps (int64) become decimals. It returns nil for nil.
func ValueProto(v any) (*meterlinev1.Value, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case decimal.Decimal:
		return &meterlinev1.Value{Kind: &meterlinev1.Value_Decimal{Decimal: x.String()}}, nil
	case int64:
		return &meterlinev1.Value{Kind: &meterlinev1.Value_Decimal{Decimal: strconv.FormatInt(x, 10)}}, nil
	case map[string]any:
		m := &meterlinev1.MapValue{Fields: make(map[string]*meterlinev1.Value, len(x))}
		for k, e := range x {
			ev, err := ValueProto(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if ev != nil {
				m.Fields[k] = ev
			}
		}
		return &meterlinev1.Value{Kind: &meterlinev1.Value_Map{Map: m}}, nil
	default:
		return nil, fmt.Errorf("a cell value of type %T cannot be encoded", v)
	}
}

// ValueFromProto decodes a value of the topics.
func ValueFromProto(p *meterlinev1.Value) (any, error) {
	switch k := p.GetKind().(type) {
	case nil:
		return nil, nil
	case *meterlinev1.Value_Decimal:
		return decimal.NewFromString(k.Decimal)
	case *meterlinev1.Value_Map:
		out := make(map[string]any, len(k.Map.GetFields()))
		for name, e := range k.Map.GetFields() {
			v, err := ValueFromProto(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			out[name] = v
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unknown value kind %T", k)
	}
}

// Key encodes a cell key as a string: "c/<scope>/<org>/<space>/<consumer>/<instance>/
// <resource>/<plan>/<metric>/<level>/<from>", every id path-escaped.
func (k CellKey) String() string { return string(k.AppendTo(nil)) }

// AppendTo appends k.String() to b.
func (k CellKey) AppendTo(b []byte) []byte {
	b = append(b, "c/"...)
	b = append(b, k.Scope.String()...)
	for _, s := range [...]string{k.Org, k.Space, k.Consumer, k.Instance, k.Resource, k.Plan, k.Metric} {
		b = append(b, '/')
		if plain(s) {
			b = append(b, s...)
		} else {
			b = append(b, url.PathEscape(s)...)
		}
	}
	b = append(b, '/')
	b = append(b, k.Level.String()...)
	b = append(b, '/')
	return strconv.AppendInt(b, k.From, 10)
}

// plain tells whether s has only unreserved characters, which url.PathEscape leaves as they
// are.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
		default:
			return false
		}
	}
	return true
}

var errBadKey = errors.New("not a cell key")

// ParseCellKey decodes CellKey.String.
func ParseCellKey(s string) (CellKey, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 11 || parts[0] != "c" {
		return CellKey{}, fmt.Errorf("%w: %q", errBadKey, s)
	}
	var k CellKey
	scope := -1
	for i, n := range scopeNames {
		if n == parts[1] {
			scope = i
		}
	}
	level := -1
	for i, n := range levelNames {
		if n == parts[9] {
			level = i
		}
	}
	from, err := strconv.ParseInt(parts[10], 10, 64)
	if scope < 0 || level < 0 || err != nil {
		return CellKey{}, fmt.Errorf("%w: %q", errBadKey, s)
	}
	k.Scope, k.Level, k.From = Scope(scope), Level(level), from
	ids := []*string{&k.Org, &k.Space, &k.Consumer, &k.Instance, &k.Resource, &k.Plan, &k.Metric}
	for i, p := range ids {
		v, err := url.PathUnescape(parts[2+i])
		if err != nil {
			return CellKey{}, fmt.Errorf("%w: %q", errBadKey, s)
		}
		*p = v
	}
	return k, nil
}
