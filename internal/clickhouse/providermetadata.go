package clickhouse

import (
	"context"
	"fmt"
	"slices"

	"github.com/meterline/meterline/internal/metadata"
)

// ProviderMetadata writes the table provider_metadata (migration 0009).
type ProviderMetadata struct {
	conn Conn
}

// NewProviderMetadata returns the provider_metadata table over conn.
func NewProviderMetadata(conn Conn) *ProviderMetadata { return &ProviderMetadata{conn: conn} }

const insertProviderMetadata = `INSERT INTO provider_metadata (provider, kind, id, valid_from_ms, source,
attributes.key, attributes.value, written_ms, kafka_partition, kafka_offset)`

// Insert writes rows, each record's attributes ordered by key; writing a row again adds an
// identical copy that merges remove.
func (p *ProviderMetadata) Insert(ctx context.Context, rows []metadata.Row) error {
	if len(rows) == 0 {
		return nil
	}
	batch, err := p.conn.PrepareBatch(ctx, insertProviderMetadata)
	if err != nil {
		return fmt.Errorf("insert provider_metadata: %w", err)
	}
	defer batch.Abort() //nolint:errcheck // a no-op once sent
	for _, r := range rows {
		keys := make([]string, 0, len(r.Attributes))
		for k := range r.Attributes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		values := make([]string, len(keys))
		for i, k := range keys {
			values[i] = r.Attributes[k]
		}
		if err := batch.Append(r.Provider, r.Kind, r.ID, r.ValidFromMs, r.Source, keys, values,
			uint64(max(r.WrittenMs, 0)), r.Partition, r.Offset); err != nil {
			return fmt.Errorf("insert provider_metadata: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert provider_metadata: %w", err)
	}
	return nil
}
