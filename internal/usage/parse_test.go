package usage

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/fault"
)

// sample returns the resource usage document of seed 001, without its trailing newline.
func sample(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/sample.json")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

// edit returns the sample with its top-level fields changed by change, which sets a field to
// a raw JSON value or, for a nil value, removes it. The order of the fields is lost, which a
// parser must not care about.
func edit(t *testing.T, change map[string]string) []byte {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(sample(t), &fields); err != nil {
		t.Fatal(err)
	}
	for k, v := range change {
		if v == "" {
			delete(fields, k)
			continue
		}
		fields[k] = json.RawMessage(v)
	}
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatalf("edit %v: %v", change, err)
	}
	return b
}

// remove marks a field for removal in edit.
const remove = ""

// mustParse parses body, failing the test on an error.
func mustParse(t *testing.T, body []byte) Document {
	t.Helper()
	d, err := Parse(body)
	if err != nil {
		t.Fatalf("Parse(%s): %v", body, err)
	}
	return d
}

func seedDocument() Document {
	return Document{
		Start:              1396421450000,
		End:                1396421451000,
		OrganizationID:     "us-south:54257f98-83f0-4eca-ae04-9ea35277a538",
		SpaceID:            "d98b5916-3c77-44b9-ac12-04456df23eae",
		ConsumerID:         "app:d98b5916-3c77-44b9-ac12-045678edabae",
		ResourceID:         "object-storage",
		PlanID:             "basic",
		ResourceInstanceID: "d98b5916-3c77-44b9-ac12-04d61c7a4eae",
		MeasuredUsage: []Measure{
			{Measure: "storage", Quantity: decimal.NewFromInt(10)},
			{Measure: "api_calls", Quantity: decimal.NewFromInt(10)},
		},
	}
}

// checkDocument fails the test unless got and want are the same document; quantities are
// compared as numbers (10 equals 10.0).
func checkDocument(t *testing.T, got, want Document) {
	t.Helper()
	gm, wm := got.MeasuredUsage, want.MeasuredUsage
	got.MeasuredUsage, want.MeasuredUsage = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("document\n got %+v\nwant %+v", got, want)
	}
	if len(gm) != len(wm) {
		t.Fatalf("measured_usage: got %d measures %v, want %d %v", len(gm), gm, len(wm), wm)
	}
	for i := range gm {
		if gm[i].Measure != wm[i].Measure || !gm[i].Quantity.Equal(wm[i].Quantity) {
			t.Errorf("measured_usage[%d]: got %s=%s, want %s=%s", i, gm[i].Measure, gm[i].Quantity, wm[i].Measure, wm[i].Quantity)
		}
	}
}

func TestParseSample(t *testing.T) {
	d := mustParse(t, sample(t))
	checkDocument(t, d, seedDocument())
	if got := d.Consumer(); got != "app:d98b5916-3c77-44b9-ac12-045678edabae" {
		t.Errorf("Consumer() = %q", got)
	}
}

func TestParseValid(t *testing.T) {
	f := func(name string, change map[string]string, check func(t *testing.T, d Document)) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			check(t, mustParse(t, edit(t, change)))
		})
	}
	f("consumer_id is optional", map[string]string{"consumer_id": remove}, func(t *testing.T, d Document) {
		if d.ConsumerID != "" || d.Consumer() != UnknownConsumer {
			t.Errorf("ConsumerID = %q, Consumer() = %q; want \"\" and %q", d.ConsumerID, d.Consumer(), UnknownConsumer)
		}
	})
	f("dedup_id", map[string]string{"dedup_id": `"batch-7"`}, func(t *testing.T, d Document) {
		if d.DedupID != "batch-7" {
			t.Errorf("DedupID = %q, want batch-7", d.DedupID)
		}
	})
	f("start equals end", map[string]string{"start": "1396421451000"}, func(t *testing.T, d Document) {
		if d.Start != d.End {
			t.Errorf("start %d, end %d", d.Start, d.End)
		}
	})
	f("zero start and the last millisecond a document may name", map[string]string{"start": "0", "end": strconv.FormatInt(MaxMillis, 10)}, func(t *testing.T, d Document) {
		if d.Start != 0 || d.End != MaxMillis {
			t.Errorf("start %d, end %d", d.Start, d.End)
		}
	})
	f("whole number written as 1.0", map[string]string{"start": "1396421450000.0"}, func(t *testing.T, d Document) {
		if d.Start != 1396421450000 {
			t.Errorf("start %d", d.Start)
		}
	})
	quantities := func(t *testing.T, d Document, want ...string) {
		t.Helper()
		if len(d.MeasuredUsage) != len(want) {
			t.Fatalf("measured_usage %v, want %v", d.MeasuredUsage, want)
		}
		for i, w := range want {
			if got := d.MeasuredUsage[i].Quantity.String(); got != w {
				t.Errorf("measured_usage[%d].quantity = %s, want %s", i, got, w)
			}
		}
	}
	f("quantity limits", map[string]string{"measured_usage": `[
		{"measure":"zero","quantity":0},
		{"measure":"smallest","quantity":0.000000000001},
		{"measure":"largest","quantity":99999999999999999999999999.999999999999},
		{"measure":"trailing zero past the scale","quantity":1.1234567890120},
		{"measure":"exponent","quantity":1.5e3}]`}, func(t *testing.T, d Document) {
		quantities(t, d, "0", "0.000000000001", "99999999999999999999999999.999999999999", "1.123456789012", "1500")
	})
	f("one character ids", map[string]string{"organization_id": `"o"`, "space_id": `"s"`, "resource_id": `"r"`,
		"plan_id": `"p"`, "resource_instance_id": `"i"`, "consumer_id": `"c"`}, func(t *testing.T, d Document) {
		if d.OrganizationID != "o" || d.SpaceID != "s" || d.ResourceID != "r" || d.PlanID != "p" || d.ResourceInstanceID != "i" || d.ConsumerID != "c" {
			t.Errorf("ids: %+v", d)
		}
	})
	t.Run("whitespace around the document", func(t *testing.T) {
		body := append(append([]byte(" \n\t"), sample(t)...), " \r\n"...)
		checkDocument(t, mustParse(t, body), seedDocument())
	})
}

// problem is an expected problem: its field, and a piece of its reason.
type problem struct{ field, reason string }

// checkInvalid fails the test unless err is a *fault.Error of kind KindInvalid with exactly
// the problems of want, in order.
func checkInvalid(t *testing.T, err error, want []problem) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T), want a *fault.Error", err, err)
	}
	if fe.Kind != fault.KindInvalid {
		t.Errorf("kind %v, want %v", fe.Kind, fault.KindInvalid)
	}
	var got []string
	for _, p := range fe.Problems {
		got = append(got, p.String())
	}
	if len(fe.Problems) != len(want) {
		t.Fatalf("%d problems:\n\t%s\nwant %d: %v", len(got), strings.Join(got, "\n\t"), len(want), want)
	}
	for i, w := range want {
		p := fe.Problems[i]
		if p.Field != w.field || !strings.Contains(p.Reason, w.reason) {
			t.Errorf("problem %d: %q: %q, want %q: ...%q...", i, p.Field, p.Reason, w.field, w.reason)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	f := func(name string, body []byte, want ...problem) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			t.Helper()
			d, err := Parse(body)
			if err == nil {
				t.Fatalf("Parse(%s) = %+v, want an error", body, d)
			}
			checkInvalid(t, err, want)
		})
	}
	s := string(sample(t))

	// Malformed JSON is a problem of the body as a whole (field "").
	f("malformed JSON", []byte(`{"start":1396421450000,,}`), problem{"", "malformed JSON at byte 24: invalid character ','"})
	nan := strings.Replace(s, `"quantity":10`, `"quantity":NaN`, 1)
	f("NaN", []byte(nan), problem{"", "malformed JSON at byte " + strconv.Itoa(strings.Index(nan, "NaN")+1) + ": invalid character 'N'"})
	f("Infinity", []byte(strings.Replace(s, `"quantity":10`, `"quantity":Infinity`, 1)), problem{"", "invalid character 'I'"})
	f("empty body", nil, problem{"", "the body is empty"})
	f("blank body", []byte(" \n\t "), problem{"", "the body is empty"})
	f("truncated", []byte(s[:len(s)/2]), problem{"", "the document ends early"})
	f("second document", []byte(s+` {}`), problem{"", "unexpected data after the document at byte " + strconv.Itoa(len(s)+2)})
	f("trailing garbage", []byte(s+`x`), problem{"", "unexpected data after the document"})
	f("array", []byte(`[`+s+`]`), problem{"", "must be object, not array"})
	f("null", []byte(`null`), problem{"", "must be object, not null"})

	// Wrong types.
	f("string start", edit(t, map[string]string{"start": `"1396421450000"`}), problem{"start", "must be integer, not string"})
	f("number organization_id", edit(t, map[string]string{"organization_id": `54257`}), problem{"organization_id", "must be string, not number"})
	f("object measured_usage", edit(t, map[string]string{"measured_usage": `{"storage":10}`}), problem{"measured_usage", "must be array, not object"})
	f("string quantity", edit(t, map[string]string{"measured_usage": `[{"measure":"storage","quantity":"10"}]`}),
		problem{"measured_usage[0].quantity", "must be number, not string"})
	f("null measure", edit(t, map[string]string{"measured_usage": `[{"measure":null,"quantity":10}]`}),
		problem{"measured_usage[0].measure", "must be string, not null"})
	f("measure not an object", edit(t, map[string]string{"measured_usage": `[10]`}),
		problem{"measured_usage[0]", "must be object, not number"})

	// Missing required fields, each named.
	for _, field := range []string{"start", "end", "organization_id", "space_id", "resource_id", "plan_id", "resource_instance_id", "measured_usage"} {
		f("missing "+field, edit(t, map[string]string{field: remove}), problem{field, "is required"})
	}
	f("missing measure", edit(t, map[string]string{"measured_usage": `[{"measure":"storage","quantity":10},{"quantity":10}]`}),
		problem{"measured_usage[1].measure", "is required"})
	f("missing quantity", edit(t, map[string]string{"measured_usage": `[{"measure":"storage"}]`}),
		problem{"measured_usage[0].quantity", "is required"})
	f("empty object", []byte(`{}`),
		problem{"start", "is required"}, problem{"end", "is required"}, problem{"organization_id", "is required"},
		problem{"space_id", "is required"}, problem{"resource_id", "is required"}, problem{"plan_id", "is required"},
		problem{"resource_instance_id", "is required"}, problem{"measured_usage", "is required"})

	// Unknown fields.
	f("unknown top-level field", edit(t, map[string]string{"usage": `[]`}), problem{"usage", "is not a field of this document"})
	f("unknown measure field", edit(t, map[string]string{"measured_usage": `[{"measure":"storage","quantity":10},{"measure":"api_calls","quantity":10,"unit":"calls"}]`}),
		problem{"measured_usage[1].unit", "is not a field of this document"})
	f("field names are case-sensitive", edit(t, map[string]string{"start": remove, "Start": "1396421450000"}),
		problem{"start", "is required"}, problem{"Start", "is not a field of this document"})

	// Quantities.
	quantity := func(q string) []byte {
		return edit(t, map[string]string{"measured_usage": `[{"measure":"storage","quantity":` + q + `}]`})
	}
	f("negative quantity", quantity("-1"), problem{"measured_usage[0].quantity", "must not be negative"})
	f("negative tiny quantity", quantity("-0.000000000001"), problem{"measured_usage[0].quantity", "must not be negative"})
	f("quantity 1e999", quantity("1e999"), problem{"measured_usage[0].quantity", "too large"})
	f("quantity of 27 digits", quantity("100000000000000000000000000"), problem{"measured_usage[0].quantity", "too large"})
	f("quantity with 13 decimal places", quantity("0.0000000000001"), problem{"measured_usage[0].quantity", "more than 12 decimal places"})
	f("quantity 1.0000000000001", quantity("1.0000000000001"), problem{"measured_usage[0].quantity", "more than 12 decimal places"})

	// Times.
	f("end before start", edit(t, map[string]string{"end": "1396421449999"}), problem{"end", "end (1396421449999) is before start (1396421450000)"})
	f("start beyond 2106", edit(t, map[string]string{"start": strconv.FormatInt(MaxMillis+1, 10), "end": strconv.FormatInt(MaxMillis+2, 10)}),
		problem{"start", "up to 2106-02-07"}, problem{"end", "up to 2106-02-07"})
	f("end beyond 2106", edit(t, map[string]string{"end": "1e20"}), problem{"end", "up to 2106-02-07"})
	f("start 1.5", edit(t, map[string]string{"start": "1.5"}), problem{"start", "must be a whole number of milliseconds"})
	f("negative start", edit(t, map[string]string{"start": "-1"}), problem{"start", "must be between 0 and 4294967295999"})

	// Measures.
	f("empty measured_usage", edit(t, map[string]string{"measured_usage": `[]`}), problem{"measured_usage", "must have at least 1 item"})
	f("duplicate measure", edit(t, map[string]string{"measured_usage": `[{"measure":"storage","quantity":1},{"measure":"api_calls","quantity":2},{"measure":"storage","quantity":3}]`}),
		problem{"measured_usage[2].measure", `measure "storage" is already given by measured_usage[0]`})

	// Ids are 1 to 256 characters.
	for _, field := range []string{"organization_id", "space_id", "consumer_id", "resource_id", "plan_id", "resource_instance_id", "dedup_id"} {
		f("empty "+field, edit(t, map[string]string{field: `""`}), problem{field, "must not be empty"})
	}
	f("empty measure", edit(t, map[string]string{"measured_usage": `[{"measure":"","quantity":1}]`}),
		problem{"measured_usage[0].measure", "must not be empty"})
	f("id of 257 characters", edit(t, map[string]string{"plan_id": `"` + strings.Repeat("p", 257) + `"`}),
		problem{"plan_id", "is longer than 256 characters"})

	// Every problem is reported, in the order of the seed's fields, whatever the order of the
	// body; measures in the order of their index, unknown fields last.
	f("several problems", []byte(`{
		"extra": true,
		"measured_usage": [
			{"measure": "b", "quantity": 1, "unit": "x"},
			{"measure": "a", "quantity": -2},
			{"measure": "b", "quantity": 0.0000000000001}
		],
		"dedup_id": "",
		"resource_instance_id": 7,
		"plan_id": "basic",
		"consumer_id": "",
		"space_id": "s",
		"organization_id": "",
		"end": 5,
		"start": 1.5
	}`),
		problem{"start", "whole number"},
		problem{"organization_id", "must not be empty"},
		problem{"consumer_id", "must not be empty"},
		problem{"resource_id", "is required"},
		problem{"resource_instance_id", "must be string, not number"},
		problem{"measured_usage[0].unit", "is not a field of this document"},
		problem{"measured_usage[1].quantity", "must not be negative"},
		problem{"measured_usage[2].measure", `"b" is already given by measured_usage[0]`},
		problem{"measured_usage[2].quantity", "more than 12 decimal places"},
		problem{"dedup_id", "must not be empty"},
		problem{"extra", "is not a field of this document"},
	)
	f("end before start and bad quantity", edit(t, map[string]string{"start": "10", "end": "9",
		"measured_usage": `[{"measure":"storage","quantity":-1},{"measure":"api_calls","quantity":1e999}]`}),
		problem{"end", "is before start"},
		problem{"measured_usage[0].quantity", "must not be negative"},
		problem{"measured_usage[1].quantity", "too large"},
	)
}

// TestParseProblemValues checks that a problem carries the offending value as the client sent
// it, so that a number is shown exactly.
func TestParseProblemValues(t *testing.T) {
	f := func(body []byte, field string, want any) {
		t.Helper()
		_, err := Parse(body)
		var fe *fault.Error
		if !errors.As(err, &fe) {
			t.Fatalf("error %v, want a *fault.Error", err)
		}
		for _, p := range fe.Problems {
			if p.Field == field {
				if p.Value != want {
					t.Errorf("%s: value %#v, want %#v", field, p.Value, want)
				}
				return
			}
		}
		t.Errorf("no problem with %s in %v", field, fe.Problems)
	}
	f(edit(t, map[string]string{"measured_usage": `[{"measure":"storage","quantity":1e999}]`}), "measured_usage[0].quantity", "1e999") // a string: a client could not decode 1e999 as a number
	f(edit(t, map[string]string{"start": "1.5"}), "start", json.Number("1.5"))
	f(edit(t, map[string]string{"organization_id": "54257"}), "organization_id", json.Number("54257"))
	f(edit(t, map[string]string{"plan_id": `""`}), "plan_id", "")
	f(edit(t, map[string]string{"measured_usage": `[{"measure":"a","quantity":1},{"measure":"a","quantity":2}]`}), "measured_usage[1].measure", "a")
}
