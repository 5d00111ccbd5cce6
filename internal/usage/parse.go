package usage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"github.com/shopspring/decimal"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/schemas"
)

// Quantity limits: a quantity must fit Decimal(38, 12), the column type of the event tables,
// without rounding. The limits are checked, never applied by rounding, so a stored quantity is
// always the submitted one.
const (
	QuantityScale         = 12 // decimal places
	QuantityIntegerDigits = 26 // digits before the point
)

// MaxNumberLength bounds the characters of any number token of a document. A quantity needs
// at most 40 (26 digits, a point, 12 decimals and a sign) and a time 13; a longer token is
// refused by its length, before it is converted, so that a number of a million digits costs
// no more to refuse than a short one.
const MaxNumberLength = 64

// maxEcho bounds the bytes of a value echoed in a problem; a longer value is cut to a prefix
// of whole characters ending in "…".
const maxEcho = 64

const schemaFile = "resource-usage.schema.json"

var (
	schemaOnce sync.Once
	schema     *jsonschema.Schema
	schemaErr  error
	printer    = message.NewPrinter(language.English)
)

// Schema returns the compiled JSON Schema of the resource usage document
// (schemas/jsonschema/resource-usage.schema.json).
func Schema() (*jsonschema.Schema, error) {
	schemaOnce.Do(func() {
		raw, err := schemas.JSONSchema.ReadFile("jsonschema/" + schemaFile)
		if err != nil {
			schemaErr = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			schemaErr = fmt.Errorf("parse %s: %w", schemaFile, err)
			return
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource(schemaFile, doc); err != nil {
			schemaErr = err
			return
		}
		schema, schemaErr = c.Compile(schemaFile)
	})
	return schema, schemaErr
}

// Parse decodes and validates a resource usage document. On bad input it returns a
// *fault.Error of kind KindInvalid naming every problem found: malformed JSON (with the byte
// offset), wrong types, missing and unknown fields (from the JSON Schema), and what the schema
// cannot say: end before start, quantities that are not finite or exceed the supported
// precision, and a measure named twice.
func Parse(body []byte) (Document, error) {
	if d, ok := parseFast(body); ok {
		return d, nil
	}
	return parseFull(body)
}

// parseFull is Parse for any body: the generic decoder, the JSON Schema and the checks the
// schema cannot make, naming every problem.
func parseFull(body []byte) (Document, error) {
	// encoding/json replaces invalid UTF-8 by U+FFFD, which would give two different documents
	// one id. Each run of invalid bytes is marked instead, and screen names the field holding it.
	invalidUTF8 := !utf8.Valid(body)
	if invalidUTF8 {
		body = bytes.ToValidUTF8(body, []byte(string(invalidMark)))
	}
	raw, err := decodeJSON(body)
	if err != nil {
		return Document{}, err
	}
	sch, err := Schema()
	if err != nil {
		return Document{}, fmt.Errorf("resource usage schema: %w", err)
	}
	// A number such as 1e-9999999 or one of a million digits is valid JSON but costs the
	// schema validator seconds of big-number arithmetic (or fails it); no quantity or time of a
	// document looks like that. Each is reported and replaced by 0, and each string with
	// invalid UTF-8 by "?", so the other checks still report everything else.
	var problems []fault.Problem
	raw, problems = screen(raw, nil, invalidUTF8, problems)
	if err := sch.Validate(raw); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return Document{}, fmt.Errorf("validate resource usage document: %w", err)
		}
		problems = schemaProblems(ve, raw, problems)
	}
	// What the schema cannot say is checked on every part that has the right type, so that
	// a client sees all its mistakes at once, even when the schema found some.
	obj, _ := raw.(map[string]any)
	d := Document{
		OrganizationID:     str(obj["organization_id"]),
		SpaceID:            str(obj["space_id"]),
		ConsumerID:         str(obj["consumer_id"]),
		ResourceID:         str(obj["resource_id"]),
		PlanID:             str(obj["plan_id"]),
		ResourceInstanceID: str(obj["resource_instance_id"]),
		DedupID:            str(obj["dedup_id"]),
	}
	for _, f := range idFields {
		if s, ok := obj[f].(string); ok {
			if reason := IDReason(s); reason != "" {
				problems = append(problems, fault.Problem{Field: f, Value: s, Reason: reason})
			}
		}
	}
	var okStart, okEnd bool
	d.Start, okStart, problems = millis(obj, "start", problems)
	d.End, okEnd, problems = millis(obj, "end", problems)
	if okStart && okEnd && d.End < d.Start {
		problems = append(problems, fault.Problem{Field: "end", Value: obj["end"],
			Reason: fmt.Sprintf("end (%d) is before start (%d)", d.End, d.Start)})
	}
	items, _ := obj["measured_usage"].([]any)
	d.MeasuredUsage = make([]Measure, 0, len(items))
	seen := make(map[string]int, len(items))
	for i, it := range items {
		m, _ := it.(map[string]any)
		field := fmt.Sprintf("measured_usage[%d]", i)
		if name, ok := m["measure"].(string); ok {
			if reason := IDReason(name); reason != "" {
				problems = append(problems, fault.Problem{Field: field + ".measure", Value: name, Reason: reason})
			}
			if j, dup := seen[name]; dup {
				problems = append(problems, fault.Problem{Field: field + ".measure", Value: name,
					Reason: fmt.Sprintf("measure %q is already given by measured_usage[%d]", name, j)})
			}
			seen[name] = i
		}
		if n, ok := m["quantity"].(json.Number); ok {
			q, p := parseQuantity(n)
			if p != "" {
				problems = append(problems, fault.Problem{Field: field + ".quantity", Value: n, Reason: p})
			} else if name, ok := m["measure"].(string); ok {
				d.MeasuredUsage = append(d.MeasuredUsage, Measure{Measure: name, Quantity: q})
			}
		}
	}
	if len(problems) > 0 {
		problems = dedupe(problems)
		for i := range problems {
			problems[i].Field = cut(problems[i].Field) // an unknown field's name is the client's too
			problems[i].Value = Echo(problems[i].Value)
		}
		return Document{}, fault.Invalid("invalid resource usage document", problems...)
	}
	return d, nil
}

// maxExponent bounds the decimal exponent of any number in a document.
const maxExponent = 100

// invalidMark stands for a run of invalid UTF-8 in a body: a noncharacter, which no
// document needs.
const invalidMark = '\uFDD0'

// screen reports every number in v that is longer than MaxNumberLength or whose exponent is
// beyond ±maxExponent, and returns v with each of them replaced by 0. With marked, it also
// reports every string holding invalidMark (replaced by "?") and every field name holding it
// (removed).
func screen(v any, path []string, marked bool, out []fault.Problem) (any, []fault.Problem) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if marked && strings.ContainsRune(k, invalidMark) {
				out = append(out, fault.Problem{Field: fieldPath(path), Reason: "has a field name that is not valid UTF-8"})
				delete(x, k)
				continue
			}
			x[k], out = screen(e, append(path, k), marked, out)
		}
	case []any:
		for i, e := range x {
			x[i], out = screen(e, append(path, strconv.Itoa(i)), marked, out)
		}
	case string:
		if marked && strings.ContainsRune(x, invalidMark) {
			return "?", append(out, fault.Problem{Field: fieldPath(path), Reason: "is not valid UTF-8"})
		}
	case json.Number:
		// The length is checked first: nothing longer is converted, nor echoed whole.
		if len(x) > MaxNumberLength {
			return json.Number("0"), append(out, fault.Problem{Field: fieldPath(path), Value: string(x),
				Reason: fmt.Sprintf("is longer than %d characters (a quantity has at most %d digits before the point and %d after it)",
					MaxNumberLength, QuantityIntegerDigits, QuantityScale)})
		}
		s := strings.ToLower(string(x))
		if i := strings.IndexByte(s, 'e'); i >= 0 {
			exp, err := strconv.Atoi(s[i+1:])
			if err != nil || exp > maxExponent || exp < -maxExponent {
				reason := fmt.Sprintf("is too large (exponent beyond +%d)", maxExponent)
				if strings.HasPrefix(s[i+1:], "-") {
					reason = fmt.Sprintf("is too small (exponent beyond -%d)", maxExponent)
				}
				// The value is echoed as a string: as a JSON number most clients could not
				// even decode the error body.
				return json.Number("0"), append(out, fault.Problem{Field: fieldPath(path), Value: string(x), Reason: reason})
			}
		}
	}
	return v, out
}

// Echo returns the value a problem shows: v itself when it is short, otherwise a prefix of
// at most maxEcho bytes (of v's JSON text for an object or array) ending in "…". A long
// number is shown as a string, since a cut number is not the client's number.
func Echo(v any) any {
	switch x := v.(type) {
	case nil, bool:
		return v
	case string:
		return cut(x)
	case json.Number:
		if len(x) <= maxEcho {
			return x
		}
		return cut(string(x))
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return nil
		}
		if len(b) <= maxEcho {
			return v
		}
		return cut(string(b))
	}
}

// cut returns s, or its first whole characters within maxEcho bytes followed by "…".
func cut(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	n := maxEcho
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// millis reads the epoch milliseconds of obj[name] when it is a number; a number that the
// schema also finds wrong (a negative one) is reported once.
func millis(obj map[string]any, name string, problems []fault.Problem) (int64, bool, []fault.Problem) {
	n, ok := obj[name].(json.Number)
	if !ok {
		return 0, false, problems
	}
	v, reason := parseMillis(n)
	if reason != "" {
		return 0, false, append(problems, fault.Problem{Field: name, Value: n, Reason: reason})
	}
	return v, true, problems
}

// dedupe keeps one problem per field where the schema and the checks above both found one,
// and orders them by field.
func dedupe(problems []fault.Problem) []fault.Problem {
	byField := make(map[string]int, len(problems))
	out := problems[:0]
	for _, p := range problems {
		if i, ok := byField[p.Field]; ok && p.Field != "" {
			if len(p.Reason) > len(out[i].Reason) { // keep the more specific reason
				out[i] = p
			}
			continue
		}
		byField[p.Field] = len(out)
		out = append(out, p)
	}
	slices.SortStableFunc(out, func(a, b fault.Problem) int { return compareFields(a.Field, b.Field) })
	return out
}

// fieldOrder is the order of the document's fields in seed 001, which problems follow.
var fieldOrder = map[string]int{"start": 1, "end": 2, "organization_id": 3, "space_id": 4, "consumer_id": 5,
	"resource_id": 6, "plan_id": 7, "resource_instance_id": 8, "measured_usage": 9, "dedup_id": 10}

func compareFields(a, b string) int {
	ra, rb := fieldRank(a), fieldRank(b)
	if ra != rb {
		return ra - rb
	}
	ia, ib := itemIndex(a), itemIndex(b)
	if ia != ib {
		return ia - ib
	}
	return strings.Compare(a, b)
}

func fieldRank(f string) int {
	top, _, _ := strings.Cut(f, ".")
	top, _, _ = strings.Cut(top, "[")
	if r, ok := fieldOrder[top]; ok {
		return r
	}
	return 100 // unknown fields last
}

func itemIndex(f string) int {
	_, rest, ok := strings.Cut(f, "[")
	end := strings.IndexByte(rest, ']')
	if !ok || end < 0 {
		return -1
	}
	n, _ := strconv.Atoi(rest[:end])
	return n
}

// decodeJSON decodes exactly one JSON value, keeping numbers as json.Number so that no
// quantity passes through a float.
func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fault.Invalid("invalid resource usage document", fault.Problem{Reason: jsonReason(err, body)})
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fault.Invalid("invalid resource usage document", fault.Problem{
			Reason: fmt.Sprintf("malformed JSON: unexpected data after the document at byte %d", dec.InputOffset())})
	}
	return v, nil
}

func jsonReason(err error, body []byte) string {
	var se *json.SyntaxError
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return "malformed JSON: the body is empty"
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: the document ends early"
	default:
		return "malformed JSON: " + err.Error()
	}
}

// schemaProblems flattens a schema validation error into one problem per leaf error, with one
// problem per missing and per unknown field.
func schemaProblems(ve *jsonschema.ValidationError, root any, out []fault.Problem) []fault.Problem {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			out = schemaProblems(c, root, out)
		}
		return out
	}
	at := fieldPath(ve.InstanceLocation)
	switch k := ve.ErrorKind.(type) {
	case *kind.Required:
		for _, name := range k.Missing {
			out = append(out, fault.Problem{Field: join(at, name), Reason: "is required"})
		}
	case *kind.AdditionalProperties:
		for _, name := range k.Properties {
			obj, _ := valueAt(root, ve.InstanceLocation).(map[string]any)
			out = append(out, fault.Problem{Field: join(at, name), Value: obj[name], Reason: "is not a field of this document"})
		}
	case *kind.Type:
		out = append(out, fault.Problem{Field: at, Value: valueAt(root, ve.InstanceLocation),
			Reason: fmt.Sprintf("must be %s, not %s", strings.Join(k.Want, " or "), k.Got)})
	case *kind.Minimum:
		out = append(out, fault.Problem{Field: at, Value: valueAt(root, ve.InstanceLocation),
			Reason: "must not be negative"})
	case *kind.MinLength:
		out = append(out, fault.Problem{Field: at, Value: valueAt(root, ve.InstanceLocation), Reason: "must not be empty"})
	case *kind.MaxLength:
		out = append(out, fault.Problem{Field: at, Value: valueAt(root, ve.InstanceLocation),
			Reason: fmt.Sprintf("is longer than %d characters", k.Want)})
	case *kind.MinItems:
		out = append(out, fault.Problem{Field: at, Reason: fmt.Sprintf("must have at least %d item", k.Want)})
	case *kind.MaxItems:
		out = append(out, fault.Problem{Field: at, Reason: fmt.Sprintf("must have at most %d items", k.Want)})
	default:
		out = append(out, fault.Problem{Field: at, Value: valueAt(root, ve.InstanceLocation), Reason: k.LocalizedString(printer)})
	}
	return out
}

// fieldPath renders a JSON Schema instance location as "measured_usage[0].quantity".
func fieldPath(loc []string) string {
	var b strings.Builder
	for _, tok := range loc {
		if _, err := strconv.Atoi(tok); err == nil {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(fieldName(tok))
	}
	return b.String()
}

func join(at, name string) string {
	if at == "" {
		return fieldName(name)
	}
	return at + "." + fieldName(name)
}

// fieldName is how a problem names a field: by its name, or `""` for the field whose name is
// empty, which a problem naming no field would leave the client to guess.
func fieldName(name string) string {
	if name == "" {
		return `""`
	}
	return name
}

func valueAt(v any, loc []string) any {
	for _, tok := range loc {
		switch x := v.(type) {
		case map[string]any:
			v = x[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// parseQuantity turns a JSON number into an exact decimal, or says why it cannot be one.
func parseQuantity(n json.Number) (decimal.Decimal, string) {
	q, err := decimal.NewFromString(string(n))
	if err != nil {
		return decimal.Decimal{}, "is not a finite number"
	}
	return checkQuantity(q)
}

// checkQuantity says why q cannot be a quantity ("" when it can) and returns it at the
// quantity scale.
func checkQuantity(q decimal.Decimal) (decimal.Decimal, string) {
	if q.Sign() < 0 {
		return decimal.Decimal{}, "must not be negative"
	}
	if -q.Exponent() > QuantityScale && !q.Equal(q.Truncate(QuantityScale)) {
		return decimal.Decimal{}, fmt.Sprintf("has more than %d decimal places", QuantityScale)
	}
	if q.Truncate(0).Abs().String() != "0" && len(q.Truncate(0).String()) > QuantityIntegerDigits {
		return decimal.Decimal{}, fmt.Sprintf("has more than %d digits before the decimal point (too large)", QuantityIntegerDigits)
	}
	return q.Truncate(QuantityScale), ""
}

// MaxMillis is the latest time a document may name: the last millisecond ClickHouse's
// DateTime holds (2106-02-07T06:28:15.999Z), the type of the event tables' time columns.
const MaxMillis = 4294967295999

// parseMillis turns a JSON number into epoch milliseconds, or says why it cannot be one.
func parseMillis(n json.Number) (int64, string) {
	d, err := decimal.NewFromString(string(n))
	switch {
	case err != nil || !d.IsInteger():
		return 0, "must be a whole number of milliseconds since the epoch"
	case d.Sign() < 0 || d.GreaterThan(decimal.NewFromInt(MaxMillis)):
		return 0, fmt.Sprintf("must be between 0 and %d (epoch milliseconds up to 2106-02-07T06:28:15.999Z)", int64(MaxMillis))
	}
	return d.IntPart(), ""
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
