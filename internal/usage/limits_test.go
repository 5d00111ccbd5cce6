package usage

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/meterline/meterline/internal/fault"
)

// problems returns the problems of Parse(body), failing the test unless it is invalid input.
func problems(t *testing.T, body []byte) []fault.Problem {
	t.Helper()
	_, err := Parse(body)
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.KindInvalid {
		t.Fatalf("Parse = %v, want invalid input", err)
	}
	return fe.Problems
}

// echoLength is how long a problem's value is once rendered in the JSON error body.
func echoLength(t *testing.T, v any) int {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// A 900,000-digit quantity cost about 3 CPU-s to reject and its error echoed it back. A
// number token longer than MaxNumberLength is refused by its length, before any conversion,
// and a problem echoes at most a short prefix of any value.
func TestParseRefusesLongNumbersByLength(t *testing.T) {
	huge := strings.Repeat("9", 900_000)
	for _, c := range []struct{ name, field, body string }{
		{"quantity", "measured_usage[0].quantity", string(edit(t, map[string]string{"measured_usage": `[{"measure":"storage","quantity":` + huge + `}]`}))},
		{"fraction", "measured_usage[0].quantity", string(edit(t, map[string]string{"measured_usage": `[{"measure":"storage","quantity":0.` + huge + `}]`}))},
		{"start", "start", string(edit(t, map[string]string{"start": huge}))},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps := problems(t, []byte(c.body))
			var found bool
			for _, p := range ps {
				if n := echoLength(t, p.Value); n > 2*maxEcho {
					t.Errorf("%s: the value echoed is %d bytes long", p.Field, n)
				}
				if p.Field == c.field {
					found = true
					if !strings.Contains(p.Reason, "longer than 64 characters") {
						t.Errorf("%s: reason %q, want the length bound", p.Field, p.Reason)
					}
				}
			}
			if !found {
				t.Errorf("no problem with %s in %v", c.field, ps)
			}
		})
	}
	// A number of MaxNumberLength characters is still checked by its value.
	q := "1." + strings.Repeat("0", MaxNumberLength-2)
	if d := mustParse(t, edit(t, map[string]string{"measured_usage": `[{"measure":"storage","quantity":` + q + `}]`})); d.MeasuredUsage[0].Quantity.String() != "1" {
		t.Errorf("quantity %s parsed as %s, want 1", q, d.MeasuredUsage[0].Quantity)
	}
}

// Every echoed value is cut to a short prefix: ids and unknown fields too.
func TestParseEchoesShortPrefixes(t *testing.T) {
	long := strings.Repeat("é", 1000) // two bytes each: the cut keeps whole characters
	for _, body := range [][]byte{
		edit(t, map[string]string{"plan_id": `"` + long + `"`}),
		edit(t, map[string]string{"extra": `"` + long + `"`}),
		edit(t, map[string]string{"extra": `["` + long + `"]`}),
		edit(t, map[string]string{"organization_id": `["` + long + `"]`}),
		edit(t, map[string]string{long: `1`}),
	} {
		ps := problems(t, body)
		for _, p := range ps {
			if len(p.Field) > 2*maxEcho {
				t.Errorf("a field name of %d bytes is echoed", len(p.Field))
			}
			if n := echoLength(t, p.Value); n > 2*maxEcho {
				t.Errorf("%s: the value echoed is %d bytes long", p.Field, n)
			}
			if s, ok := p.Value.(string); ok && (!utf8.ValidString(s) || !strings.HasSuffix(s, "…")) {
				t.Errorf("%s: value %q, want a valid prefix ending in …", p.Field, s)
			}
		}
	}
}

// Invalid UTF-8 was silently replaced by U+FFFD, so that two different documents shared one
// id (the second got 409). It is refused, naming the field.
func TestParseRefusesInvalidUTF8(t *testing.T) {
	for _, c := range []struct{ field, body string }{
		{"organization_id", string(edit(t, map[string]string{"organization_id": `"org-a"`}))},
		{"consumer_id", string(edit(t, map[string]string{"consumer_id": `"app-a"`}))},
		{"measured_usage[1].measure", string(edit(t, map[string]string{"measured_usage": `[{"measure":"storage","quantity":1},{"measure":"api-a","quantity":1}]`}))},
	} {
		for _, bad := range []string{"\xff", "\xc3", "\xed\xa0\x80"} { // a stray byte, a cut sequence, a surrogate
			body := strings.Replace(c.body, `-a"`, `-`+bad+`"`, 1)
			ps := problems(t, []byte(body))
			if len(ps) != 1 || ps[0].Field != c.field || !strings.Contains(ps[0].Reason, "UTF-8") {
				t.Errorf("%s with %q: problems %v, want one naming the invalid UTF-8", c.field, bad, ps)
			}
		}
	}
	// Outside a string it is malformed JSON, as before.
	ps := problems(t, []byte("{\xff}"))
	if len(ps) != 1 || ps[0].Field != "" {
		t.Errorf("invalid UTF-8 outside a string: problems %v, want one of the body", ps)
	}
	// A field name with invalid UTF-8 is named by its parent.
	ps = problems(t, []byte(strings.Replace(string(sample(t)), `{`, "{\"x\xff\":1,", 1)))
	if len(ps) != 1 || !strings.Contains(ps[0].Reason, "UTF-8") {
		t.Errorf("invalid UTF-8 in a field name: problems %v, want one naming the invalid UTF-8", ps)
	}
}

// NUL and other control characters, whitespace-only ids and the ids "." and ".." (which
// cannot be reached over REST) were accepted. Each is refused in every id of the document.
func TestParseRefusesBadIDs(t *testing.T) {
	fields := []string{"organization_id", "space_id", "consumer_id", "resource_id", "plan_id", "resource_instance_id", "dedup_id"}
	for _, c := range []struct{ id, reason string }{
		{`"a\u0000b"`, "control character"},
		{`"a\nb"`, "control character"},
		{`"a\u007fb"`, "control character"},
		{`"a\u0085b"`, "control character"},
		{`" "`, "only whitespace"},
		{`"\t \u00a0"`, "control character"},
		{`"\u2003\u00a0"`, "only whitespace"},
		{`"."`, `must not be "." or ".."`},
		{`".."`, `must not be "." or ".."`},
	} {
		for _, field := range fields {
			ps := problems(t, edit(t, map[string]string{field: c.id}))
			if len(ps) != 1 || ps[0].Field != field || !strings.Contains(ps[0].Reason, c.reason) {
				t.Errorf("%s %s: problems %v, want one: ...%s...", field, c.id, ps, c.reason)
			}
		}
		ps := problems(t, edit(t, map[string]string{"measured_usage": `[{"measure":` + c.id + `,"quantity":1}]`}))
		if len(ps) != 1 || ps[0].Field != "measured_usage[0].measure" || !strings.Contains(ps[0].Reason, c.reason) {
			t.Errorf("measure %s: problems %v, want one: ...%s...", c.id, ps, c.reason)
		}
	}
	// Ids with dots, spaces inside and non-ASCII letters stay valid.
	for _, id := range []string{`"..a"`, `"a."`, `"a b"`, `" a"`, `"Zürich"`, `"org/1"`} {
		mustParse(t, edit(t, map[string]string{"organization_id": id}))
	}
}
