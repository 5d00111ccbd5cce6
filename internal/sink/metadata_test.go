package sink

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/metadata"
)

// TestMetadataSink: the metadata sink writes each record of the poller metadata topic into
// provider_metadata over the real broker and ClickHouse, attributes exact (hostile ones
// included); a record written twice reads once (FINAL); a record that does not decode, or is
// of another version, is set aside to the dead-letter topic and the rest is written.
func TestMetadataSink(t *testing.T) {
	f := newSinkFixture(t)
	day := at.Truncate(86_400_000_000_000).UnixMilli()
	rec := func(id string, attrs map[string]string) []byte {
		b, err := metadata.Encode(metadata.Record{Source: "poller:elasticbox/test", Provider: "elasticbox", Kind: "service_instance",
			ID: id, ValidFromMs: day, Attributes: attrs})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	hostile := "a\tb\\n\nc\\'\"" + strings.Repeat("é", 300)
	one := rec("eb-1", map[string]string{"size": "m1.small", "organization": "acme", "odd key": hostile})
	f.produce(t, f.topics.PollerMetadata, one, rec("eb-2", map[string]string{}), []byte("{"), []byte(`{"v":2,"provider":"x"}`), one)
	reg := prometheus.NewRegistry()
	s, err := NewMetadata(f.sinkConfig(f.topics.PollerMetadata), clickhouse.NewProviderMetadata(f.conn), zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, f.ctx, s.Run)
	f.waitFor(t, "the metadata rows", func() bool { return f.count(t, "provider_metadata", "1") == 3 })
	stop()
	if n := f.count(t, "provider_metadata FINAL", "1"); n != 2 {
		t.Errorf("%d rows after merging, want 2", n)
	}
	var size, odd, src string
	var n uint64
	if err := f.conn.QueryRow(f.ctx, `SELECT attributes.value[indexOf(attributes.key, 'size')], attributes.value[indexOf(attributes.key, 'odd key')],
  source, length(attributes.key) FROM provider_metadata FINAL WHERE provider = 'elasticbox' AND kind = 'service_instance' AND id = 'eb-1'`).
		Scan(&size, &odd, &src, &n); err != nil {
		t.Fatal(err)
	}
	if size != "m1.small" || odd != hostile || src != "poller:elasticbox/test" || n != 3 {
		t.Errorf("eb-1 read back size %q, odd %q, source %q, %d attributes", size, odd, src, n)
	}
	f.deadLetters(t, 2)
	if n := deadLettered(t, reg, "metadatasink"); n != 2 {
		t.Errorf("%v set aside, want 2", n)
	}
}
