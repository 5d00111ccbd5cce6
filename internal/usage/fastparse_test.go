package usage

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// FuzzParseFastPath checks Parse's fast path against its full path: whatever the body, when
// the fast path accepts it, the full path accepts it too, with the same document (field by
// field, each quantity as written and at its scale) and the same id. Its seeds are the
// corpus of FuzzParse (testdata/fuzz/FuzzParse) and the fast path's own edge cases in
// testdata/fuzz/FuzzParseFastPath.
func FuzzParseFastPath(f *testing.F) {
	seedFromCorpus(f, "FuzzParse")
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := parseFast(body)
		if !ok {
			return
		}
		full, err := parseFull(body)
		if err != nil {
			t.Fatalf("the fast path accepts a body the full path refuses: %v\n%s", err, body)
		}
		if msg := differ(fast, full); msg != "" {
			t.Fatalf("the fast path builds another document: %s\n%s", msg, body)
		}
	})
}

// differ says how two documents differ ("" when they are the same).
func differ(a, b Document) string {
	fa, _ := a.MarshalJSON()
	fb, _ := b.MarshalJSON()
	switch {
	case !bytes.Equal(fa, fb):
		return "fast " + string(fa) + ", full " + string(fb)
	case a.ID() != b.ID():
		return "id " + a.ID() + " and " + b.ID()
	case len(a.MeasuredUsage) != len(b.MeasuredUsage):
		return "measure counts"
	}
	for i := range a.MeasuredUsage {
		qa, qb := a.MeasuredUsage[i].Quantity, b.MeasuredUsage[i].Quantity
		if qa.Exponent() != qb.Exponent() || qa.Coefficient().Cmp(qb.Coefficient()) != 0 {
			return "quantity " + qa.String() + " and " + qb.String()
		}
	}
	return ""
}

// seedFromCorpus adds the inputs of another fuzz target's seed corpus.
func seedFromCorpus(f *testing.F, target string) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed corpus of %s: %v", target, err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		body, err := corpusBytes(raw)
		if err != nil {
			f.Fatalf("%s: %v", file, err)
		}
		f.Add(body)
	}
}

// corpusBytes reads a seed file of the "go test fuzz v1" form holding one []byte.
func corpusBytes(raw []byte) ([]byte, error) {
	_, rest, ok := bytes.Cut(raw, []byte("\n"))
	rest = bytes.TrimSpace(rest)
	if !ok || !bytes.HasPrefix(rest, []byte("[]byte(")) || !bytes.HasSuffix(rest, []byte(")")) {
		return nil, fmt.Errorf("not a go test fuzz v1 file of one []byte")
	}
	s, err := strconv.Unquote(string(rest[len("[]byte(") : len(rest)-1]))
	return []byte(s), err
}

// TestParseFastPathTakes checks which seeds the fast path takes (the common documents) and
// which it leaves to the full path, so that the differential fuzz test is not vacuous.
func TestParseFastPathTakes(t *testing.T) {
	for file, want := range map[string]bool{
		"FuzzParse/seed001":                           true,
		"FuzzParse/seed001-reordered-measures":        false, // 1E1: an exponent
		"FuzzParse/seed001-dedup-no-consumer":         true,
		"FuzzParse/quantity-max":                      true,
		"FuzzParse/end-last-millisecond":              true,
		"FuzzParseFastPath/plain":                     true,
		"FuzzParseFastPath/id-256":                    true,
		"FuzzParseFastPath/time-max":                  true,
		"FuzzParseFastPath/quantity-13-zero-decimals": false, // left to checkQuantity
		"FuzzParseFastPath/id-space":                  false,
		"FuzzParseFastPath/id-257":                    false,
		"FuzzParseFastPath/key-twice":                 false,
		"FuzzParseFastPath/key-case":                  false,
		"FuzzParseFastPath/quantity-leading-zero":     false,
		"FuzzParseFastPath/quantity-point":            false,
		"FuzzParseFastPath/quantity-exponent":         false,
		"FuzzParseFastPath/measure-extra":             false,
		"FuzzParseFastPath/measure-twice-key":         false,
		"FuzzParseFastPath/time-fraction":             false,
		"FuzzParseFastPath/trailing-garbage":          false,
		"FuzzParse/measure-twice":                     false,
		"FuzzParse/end-before-start":                  false,
		"FuzzParse/end-after-2106":                    false,
		"FuzzParse/quantity-13-decimals":              false,
		"FuzzParse/quantity-27-digits":                false,
		"FuzzParse/org-nul-escaped":                   false,
		"FuzzParse/no-measures":                       false,
		"FuzzParse/unknown-field":                     false,
	} {
		raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", file))
		if err != nil {
			t.Fatal(err)
		}
		body, err := corpusBytes(raw)
		if err != nil {
			t.Fatal(err)
		}
		fast, ok := parseFast(body)
		if ok != want {
			t.Errorf("%s: fast path takes it: %v, want %v", file, ok, want)
			continue
		}
		full, err := parseFull(body)
		if ok && err != nil {
			t.Errorf("%s: taken by the fast path, refused by the full path: %v", file, err)
		} else if ok {
			if msg := differ(fast, full); msg != "" {
				t.Errorf("%s: %s", file, msg)
			}
		}
	}
}
