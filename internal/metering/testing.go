package metering

import (
	"fmt"
	"strconv"

	"github.com/shopspring/decimal"

	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// ValueProto encodes a cell value (a decimal, a map of values, nil) as a message of the
// topics; times in maps (int64) become decimals. It returns nil for nil. The processor writes
// values with its own encoder (internal/processor appendValue); this is the reference its
// tests check it against, and ValueFromProto's inverse.
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
