package clickhouse

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// randomMap is a MapValue of decimals, empty values and nested maps.
func randomMap(r *rand.Rand, depth int) *meterlinev1.MapValue {
	m := &meterlinev1.MapValue{}
	n := r.IntN(5)
	if n > 0 {
		m.Fields = map[string]*meterlinev1.Value{}
	}
	for i := range n {
		name := fmt.Sprintf("k%d_%d", i, r.IntN(100))
		switch x := r.IntN(6); {
		case x == 0:
			m.Fields[name] = &meterlinev1.Value{}
		case x == 1 && depth < 4:
			m.Fields[name] = &meterlinev1.Value{Kind: &meterlinev1.Value_Map{Map: randomMap(r, depth+1)}}
		default:
			m.Fields[name] = &meterlinev1.Value{Kind: &meterlinev1.Value_Decimal{Decimal: fmt.Sprintf("%d.%03d", r.Int64N(1e12)-5e11, r.IntN(1000))}}
		}
	}
	return m
}

// protojsonMap is what protojson reads of js.
func protojsonMap(js string) (*meterlinev1.MapValue, error) {
	var m meterlinev1.MapValue
	err := protojson.Unmarshal([]byte(js), &m)
	return &m, err
}

// TestDecodeMapJSONIsProtojson: the fast decoder reads what Insert writes (protojson.Marshal,
// with and without its multi-line form) exactly as protojson does.
func TestDecodeMapJSONIsProtojson(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		want := randomMap(r, 0)
		for _, opts := range []protojson.MarshalOptions{{}, {Multiline: true, Indent: "\t"}} {
			b, err := opts.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := decodeMapJSON(string(b))
			if !ok {
				t.Fatalf("%d: the fast decoder refused %s", i, b)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("%d: %s read as %v, want %v", i, b, got, want)
			}
		}
	}
}

// TestDecodeMapJSONLeavesTheRestToProtojson: what is not the plain form is refused, so that
// protojson reads it (or names its error).
func TestDecodeMapJSONLeavesTheRestToProtojson(t *testing.T) {
	for _, js := range []string{
		``, `{`, `{}x`, `[]`, `null`, `{"fields":null}`, `{"Fields":{}}`, `{"fields":{},"fields":{}}`,
		`{"fields":{"a":{"decimal":"1"},"a":{"decimal":"2"}}}`,
		`{"fields":{"a":{"decimal":"1","map":{}}}}`,
		`{"fields":{"a":{"decimal":1}}}`,
		`{"fields":{"a":{"decimal":"\u0031"}}}`,
		`{"fields":{"é":{"decimal":"1"}}}`,
		`{"fields":{"a":null}}`,
		`{"fields":{"a":{"decimal":"1"},}}`,
		`{"fields":{"a":{"map":{"fields":{"b":{"dec":"1"}}}}}}`,
	} {
		if m, ok := decodeMapJSON(js); ok {
			t.Errorf("%s read as %v; want it left to protojson", js, m)
		}
	}
}

// FuzzDecodeMapJSON: whatever the fast decoder reads, protojson reads the same.
func FuzzDecodeMapJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"fields":{"a":{"decimal":"1"}}}`, `{"fields":{"a":{"map":{"fields":{"b":{}}}}}}`, ` { "fields" : { } } `} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, js string) {
		got, ok := decodeMapJSON(js)
		if !ok {
			return
		}
		want, err := protojsonMap(js)
		if err != nil || !proto.Equal(got, want) {
			t.Fatalf("%q: fast %v, protojson %v (%v)", js, got, want, err)
		}
	})
}
