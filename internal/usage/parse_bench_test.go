package usage

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParse parses seed 001's document through Parse (its fast path takes it) and
// through the full path alone (the generic decoder and the JSON Schema), which Parse was
// before the fast path.
func BenchmarkParse(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzParse", "seed001"))
	if err != nil {
		b.Fatal(err)
	}
	body, err := corpusBytes(raw)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		parse func([]byte) (Document, error)
	}{{"Parse", Parse}, {"full", parseFull}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("ID", func(b *testing.B) {
		d, err := Parse(body)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			_ = d.ID()
		}
	})
}
