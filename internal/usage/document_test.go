package usage

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// sampleID is the id of the seed document. Ids are how every consumer deduplicates, so a
// change to how they are computed would count documents accepted before the change twice: it
// must be deliberate, and this value changed with it. (Checked against a separate computation
// of the SHA-256 over the length-prefixed, big-endian canonical form that ID hashes.)
const sampleID = "1396421451000-21485e0037bde9f12030b4f450779583"

var idForm = regexp.MustCompile(`^(0|[1-9][0-9]*)-[0-9a-f]{32}$`)

func TestIDOfSample(t *testing.T) {
	d := mustParse(t, sample(t))
	id := d.ID()
	if !idForm.MatchString(id) || !strings.HasPrefix(id, "1396421451000-") {
		t.Errorf("ID() = %q, want <end>-<32 lowercase hex digits> with end 1396421451000", id)
	}
	if id != sampleID {
		t.Errorf("ID() = %q, want %q", id, sampleID)
	}
	if id2 := idOf(t, sample(t)); id2 != id {
		t.Errorf("ID() of the same document differs: %q, %q", id, id2)
	}
	if !ValidID(id) {
		t.Errorf("ValidID(%q) = false", id)
	}
	if end, ok := EndOfID(id); !ok || end != d.End {
		t.Errorf("EndOfID(%q) = %d, %v; want %d, true", id, end, ok, d.End)
	}
}

func TestID(t *testing.T) {
	base := idOf(t, sample(t))
	f := func(name string, change map[string]string, same bool) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			t.Helper()
			id := idOf(t, edit(t, change))
			if !idForm.MatchString(id) {
				t.Errorf("ID() = %q is not <end>-<32 lowercase hex digits>", id)
			}
			if got := id == base; got != same {
				t.Errorf("ID() = %q, sample's %q: same = %v, want %v", id, base, got, same)
			}
		})
	}
	// The same document, however it is written.
	f("quantity 10.0", map[string]string{"measured_usage": `[{"measure":"storage","quantity":10.0},{"measure":"api_calls","quantity":10.000000000000}]`}, true)
	f("quantity 1e1", map[string]string{"measured_usage": `[{"measure":"storage","quantity":1e1},{"measure":"api_calls","quantity":1.0E+1}]`}, true)
	f("measures reordered", map[string]string{"measured_usage": `[{"quantity":10,"measure":"api_calls"},{"measure":"storage","quantity":10}]`}, true)
	f("fields reordered", map[string]string{}, true)

	// Different documents.
	f("dedup_id", map[string]string{"dedup_id": `"1"`}, false)
	f("consumer_id missing", map[string]string{"consumer_id": remove}, false)
	f("consumer_id UNKNOWN", map[string]string{"consumer_id": `"UNKNOWN"`}, false)
	f("start", map[string]string{"start": "1396421450001"}, false)
	f("end", map[string]string{"end": "1396421451001"}, false)
	f("organization_id", map[string]string{"organization_id": `"us-south:other"`}, false)
	f("space_id", map[string]string{"space_id": `"other"`}, false)
	f("resource_id", map[string]string{"resource_id": `"other"`}, false)
	f("plan_id", map[string]string{"plan_id": `"standard"`}, false)
	f("resource_instance_id", map[string]string{"resource_instance_id": `"other"`}, false)
	f("quantity 10.000000000001", map[string]string{"measured_usage": `[{"measure":"storage","quantity":10.000000000001},{"measure":"api_calls","quantity":10}]`}, false)
	f("quantities swapped between measures", map[string]string{"measured_usage": `[{"measure":"storage","quantity":1},{"measure":"api_calls","quantity":10}]`}, false)
	f("measure renamed", map[string]string{"measured_usage": `[{"measure":"storage2","quantity":10},{"measure":"api_calls","quantity":10}]`}, false)
	f("measure dropped", map[string]string{"measured_usage": `[{"measure":"storage","quantity":10}]`}, false)

	// Field boundaries are part of the identity: moving characters from one id to the next
	// makes another document.
	a := idOf(t, edit(t, map[string]string{"space_id": `"ab"`, "consumer_id": `"c"`}))
	b := idOf(t, edit(t, map[string]string{"space_id": `"a"`, "consumer_id": `"bc"`}))
	if a == b {
		t.Errorf("documents with space_id/consumer_id ab/c and a/bc have the same id %s", a)
	}

	// Two dedup_ids make two documents.
	d1 := idOf(t, edit(t, map[string]string{"dedup_id": `"1"`}))
	d2 := idOf(t, edit(t, map[string]string{"dedup_id": `"2"`}))
	if d1 == d2 {
		t.Errorf("dedup_ids 1 and 2 give the same id %s", d1)
	}
}

// idOf returns the id of the document body holds.
func idOf(t *testing.T, body []byte) string {
	t.Helper()
	d := mustParse(t, body)
	return d.ID()
}

func TestValidID(t *testing.T) {
	hash := strings.Repeat("0123456789abcdef", 2)
	f := func(id string, wantEnd int64, want bool) {
		t.Helper()
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
		end, ok := EndOfID(id)
		if ok != want || end != wantEnd {
			t.Errorf("EndOfID(%q) = %d, %v; want %d, %v", id, end, ok, wantEnd, want)
		}
	}
	f(sampleID, 1396421451000, true)
	f("0-"+hash, 0, true)
	f("4294967295999-"+hash, MaxMillis, true)
	f("9223372036854775807-"+hash, 9223372036854775807, true)

	f("", 0, false)
	f("abc", 0, false)
	f("-", 0, false)
	f("1396421451000", 0, false)
	f("1396421451000-", 0, false)
	f("-"+hash, 0, false)
	f("-1-"+hash, 0, false)
	f("+1-"+hash, 0, false)
	f("a-"+hash, 0, false)
	f(" 1-"+hash, 0, false)
	f("1 -"+hash, 0, false)
	f("9223372036854775808-"+hash, 0, false) // past int64
	f("12345678901234567890-"+hash, 0, false)
	f("1-"+strings.ToUpper(hash), 0, false)
	f("1-"+hash[:31]+"A", 0, false)
	f("1-"+hash[:31], 0, false)
	f("1-"+hash+"0", 0, false)
	f("1-"+hash[:31]+"g", 0, false)
	f("1-"+hash[:30]+"-0", 0, false)
	f("1-"+hash+"/x", 0, false)
	f(sampleID+"\n", 0, false)
}

func TestMarshalJSONIsTheSeedForm(t *testing.T) {
	// The sample is written as the seed writes it, so marshalling its document gives it back
	// byte for byte.
	want := sample(t)
	got, err := json.Marshal(mustParse(t, want))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("MarshalJSON\n got %s\nwant %s", got, want)
	}
}

func TestMarshalJSON(t *testing.T) {
	f := func(name string, d Document, wantKeys []string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			b, err := d.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(b) {
				t.Fatalf("MarshalJSON gives invalid JSON: %s", b)
			}
			// Keys, in order.
			dec := json.NewDecoder(bytes.NewReader(b))
			var keys []string
			depth := 0
			for {
				tok, err := dec.Token()
				if err != nil {
					break
				}
				switch v := tok.(type) {
				case json.Delim:
					if v == '{' || v == '[' {
						depth++
					} else {
						depth--
					}
				case string:
					if depth == 1 {
						keys = append(keys, v)
						// Skip the key's value.
						var skip json.RawMessage
						if err := dec.Decode(&skip); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			if strings.Join(keys, ",") != strings.Join(wantKeys, ",") {
				t.Errorf("keys %v, want %v in %s", keys, wantKeys, b)
			}
			back := mustParse(t, b)
			checkDocument(t, back, d)
			if back.ID() != d.ID() {
				t.Errorf("ID() after a round trip %s, before %s", back.ID(), d.ID())
			}
		})
	}
	all := []string{"start", "end", "organization_id", "space_id", "consumer_id", "resource_id", "plan_id", "resource_instance_id", "measured_usage", "dedup_id"}
	without := func(names ...string) []string {
		var out []string
		for _, k := range all {
			if !strings.Contains(","+strings.Join(names, ",")+",", ","+k+",") {
				out = append(out, k)
			}
		}
		return out
	}

	d := seedDocument()
	f("seed", d, without("dedup_id"))

	d = seedDocument()
	d.ConsumerID = ""
	f("no consumer_id", d, without("consumer_id", "dedup_id"))

	d = seedDocument()
	d.DedupID = "retry-2"
	f("dedup_id", d, all)

	d = seedDocument()
	d.ConsumerID, d.DedupID = "", "x"
	f("dedup_id without consumer_id", d, without("consumer_id"))

	d = seedDocument()
	d.OrganizationID = `quote " backslash \ <tag> & ünïcödé` + "\u2028"
	d.PlanID = "slash / separator \u2029 nbsp \u00a0" // control characters are not ids (IDReason)
	d.MeasuredUsage = []Measure{
		{Measure: `"quoted"`, Quantity: decimal.RequireFromString("0.000000000001")},
		{Measure: "big", Quantity: decimal.RequireFromString("99999999999999999999999999.999999999999")},
		{Measure: "zero", Quantity: decimal.Zero},
		{Measure: "trailing zeros", Quantity: decimal.RequireFromString("2.50")},
	}
	f("escapes and extreme quantities", d, without("dedup_id"))
}

func TestProto(t *testing.T) {
	f := func(name string, d Document) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			p := d.Proto()
			if p.GetStart() != d.Start || p.GetEnd() != d.End || p.GetConsumerId() != d.ConsumerID || p.GetDedupId() != d.DedupID {
				t.Errorf("Proto() = %v, from %+v", p, d)
			}
			if len(p.GetMeasuredUsage()) != len(d.MeasuredUsage) {
				t.Fatalf("Proto() has %d measures, want %d", len(p.GetMeasuredUsage()), len(d.MeasuredUsage))
			}
			for i, m := range d.MeasuredUsage {
				if pm := p.GetMeasuredUsage()[i]; pm.GetMeasure() != m.Measure || pm.GetQuantity() != m.Quantity.String() {
					t.Errorf("measure %d: %v, want %s=%s", i, pm, m.Measure, m.Quantity)
				}
			}
			back, err := FromProto(p)
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, back, d)
			if back.ID() != d.ID() {
				t.Errorf("ID() after a round trip %s, before %s", back.ID(), d.ID())
			}
		})
	}
	f("sample", mustParse(t, sample(t)))
	d := seedDocument()
	d.ConsumerID, d.DedupID = "", "d"
	d.MeasuredUsage = []Measure{{Measure: "m", Quantity: decimal.RequireFromString("12345678901234567890123456.123456789012")}}
	f("no consumer, dedup_id, long quantity", d)

	t.Run("bad quantity", func(t *testing.T) {
		seed := seedDocument()
		p := seed.Proto()
		p.MeasuredUsage[1].Quantity = "ten"
		if d, err := FromProto(p); err == nil || !strings.Contains(err.Error(), `"api_calls"`) {
			t.Errorf("FromProto with quantity \"ten\" = %+v, %v; want an error naming api_calls", d, err)
		}
	})
	t.Run("empty payload", func(t *testing.T) {
		d, err := FromProto(&meterlinev1.UsageDocument{})
		if err != nil {
			t.Fatal(err)
		}
		checkDocument(t, d, Document{MeasuredUsage: []Measure{}})
	})
}
