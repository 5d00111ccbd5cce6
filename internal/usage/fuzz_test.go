package usage

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/meterline/meterline/internal/fault"
)

// FuzzParse feeds the collector's document parser arbitrary bodies. Its seeds are in
// testdata/fuzz/FuzzParse: seed 001's document, edits of it, and the hostile bodies of issue 9
// (a 900,000-digit quantity, invalid UTF-8, NUL, the ids "." and "..", 1e400, nesting).
//
// A body is either a document, which validates, renders to JSON that parses back to the same
// document and has a well-formed id, or it is refused with a fault.Error of kind invalid whose
// every problem says why (a reason) and where (a field, or none only for a problem of the
// body as a whole), with a value and a field short enough to echo.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := Parse(body)
		if err != nil {
			checkRefusal(t, body, err)
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("Parse accepted a document that Validate refuses: %v", err)
		}
		out, err := d.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("the rendering of an accepted document is refused: %v\n%s", err, out)
		}
		out2, _ := again.MarshalJSON()
		if !bytes.Equal(out, out2) || again.ID() != d.ID() {
			t.Fatalf("the document does not round-trip:\n%s\n%s", out, out2)
		}
		if !ValidID(d.ID()) {
			t.Fatalf("id %q is not of the form of an id", d.ID())
		}
		back, err := FromProto(d.Proto())
		if err != nil || back.ID() != d.ID() {
			t.Fatalf("the document does not round-trip through its payload: %v", err)
		}
	})
}

// checkRefusal checks the error Parse returned for body.
func checkRefusal(t *testing.T, body []byte, err error) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.KindInvalid {
		t.Fatalf("refused with %v, want an invalid-input fault", err)
	}
	if len(fe.Problems) == 0 {
		t.Fatal("refused without a problem")
	}
	var obj map[string]json.RawMessage
	whole := json.Unmarshal(body, &obj) != nil || obj == nil // the body is not one JSON object
	for _, p := range fe.Problems {
		if p.Reason == "" {
			t.Errorf("problem %+v has no reason", p)
		}
		// A field name with invalid UTF-8 is named by its parent: at the top level, the
		// document.
		if p.Field == "" && !whole && !strings.Contains(p.Reason, "field name that is not valid UTF-8") {
			t.Errorf("problem %+v names no field of an object body", p)
		}
		if len(p.Field) > maxEcho+len("…") || !utf8.ValidString(p.Field) {
			t.Errorf("field %q is too long to echo, or not UTF-8", p.Field)
		}
		v, err := json.Marshal(p.Value)
		n := len(v) // a string is bounded in bytes, which JSON's escapes may multiply
		if s, ok := p.Value.(string); ok {
			n = len(s)
		}
		if err != nil || n > maxEcho+len("…") {
			t.Errorf("problem %s: value %s (%v) cannot be echoed in a short JSON body", p.Field, v, err)
		}
	}
}
