package clickhouse

import (
	"slices"
	"strings"
	"testing"
)

// TestNovaChunks: a page of the longest ids (1,001 of 256 characters) is split into queries
// that stay under the server's max_query_size, every id once, in order.
func TestNovaChunks(t *testing.T) {
	var ids []string
	for i := range 1001 {
		ids = append(ids, strings.Repeat(string(rune('a'+i%26)), 256))
	}
	chunks := novaChunks(ids)
	if len(chunks) < 2 {
		t.Fatalf("%d chunks", len(chunks))
	}
	for _, c := range chunks {
		if n := len(strings.Join(c, "")); n > novaChunkBytes || len(c) == 0 {
			t.Errorf("a chunk of %d ids, %d bytes", len(c), n)
		}
	}
	if got := slices.Concat(chunks...); !slices.Equal(got, ids) {
		t.Errorf("chunks lose or reorder ids: %d of %d", len(got), len(ids))
	}
	if c := novaChunks([]string{"a"}); len(c) != 1 || c[0][0] != "a" {
		t.Errorf("one id: %v", c)
	}
}
