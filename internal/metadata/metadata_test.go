package metadata

import (
	"strings"
	"testing"
)

// TestRoundTrip: a record reads back as written, with its key naming source, kind, id and
// day; a record beyond the bounds, or of another version, is refused with every problem.
func TestRoundTrip(t *testing.T) {
	r := Record{Source: "poller:elasticbox/h", Provider: "elasticbox", Kind: "service_instance", ID: "eb-1",
		ValidFromMs: 1798675200000, Attributes: map[string]string{"size": "m1.small", "odd\tkey": "a\nb\\\"c"}}
	b, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Key() != "poller:elasticbox/h/service_instance/eb-1/2026-12-31" || back.Attributes["odd\tkey"] != "a\nb\\\"c" ||
		back.Attributes["size"] != "m1.small" || back.ValidFromMs != r.ValidFromMs || back.Provider != "elasticbox" {
		t.Errorf("read back %+v (key %s)", back, back.Key())
	}
	bad := r
	bad.ID, bad.Attributes = "", map[string]string{"v": strings.Repeat("x", MaxValue+1), strings.Repeat("k", MaxName+1): "1"}
	_, err = Encode(bad)
	for _, want := range []string{"id: empty", "attribute v: 16385 bytes", "257 bytes, at most 256"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("encode %v, want %q", err, want)
		}
	}
	if _, err := Decode([]byte(strings.Replace(string(b), `"v":1`, `"v":2`, 1))); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("version 2: %v", err)
	}
	if _, err := Decode([]byte("{")); err == nil {
		t.Error("broken JSON decoded")
	}
}
