package metering

import (
	"fmt"

	"github.com/shopspring/decimal"

	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// Bounds of a decimal in a value of the topics. The processor writes none near them: a
// formula's numbers are held to 154 digits and an exponent of ±200 (internal/plans), a sum of
// two of them to some 400 digits. A decimal beyond them, which only a corrupt record holds,
// is an error: converting a number of a million digits costs seconds, and printing one of
// exponent 1e9 a gigabyte.
const (
	maxDecimalText     = 1000 // characters
	maxDecimalExponent = 1000
)

// ValueFromProto decodes a value of the topics. A map entry without a value is left out, as
// ValueProto leaves out a nil entry, so that a decoded value encodes to itself.
func ValueFromProto(p *meterlinev1.Value) (any, error) {
	switch k := p.GetKind().(type) {
	case nil:
		return nil, nil
	case *meterlinev1.Value_Decimal:
		if len(k.Decimal) > maxDecimalText {
			return nil, fmt.Errorf("a decimal of %d characters, more than %d", len(k.Decimal), maxDecimalText)
		}
		d, err := decimal.NewFromString(k.Decimal)
		if err != nil {
			return nil, err
		}
		if e := d.Exponent(); e > maxDecimalExponent || e < -maxDecimalExponent {
			return nil, fmt.Errorf("decimal %.40s: an exponent beyond ±%d", k.Decimal, maxDecimalExponent)
		}
		return d, nil
	case *meterlinev1.Value_Map:
		out := make(map[string]any, len(k.Map.GetFields()))
		for name, e := range k.Map.GetFields() {
			v, err := ValueFromProto(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if v != nil {
				out[name] = v
			}
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unknown value kind %T", k)
	}
}
