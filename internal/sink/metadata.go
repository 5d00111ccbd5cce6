package sink

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/metadata"
)

// MetadataWriter is where the metadata sink writes (clickhouse.ProviderMetadata). Insert may
// be called again with rows it wrote before (a replay); a written row must then stay one row
// to readers.
type MetadataWriter interface {
	Insert(ctx context.Context, rows []metadata.Row) error
}

// NewMetadata returns the metadata sink of cfg.Topic (the poller metadata topic) into w. A
// record that does not decode as a metadata record (package metadata: its version, its
// bounds) is set aside to the dead-letter topic.
func NewMetadata(cfg Config, w MetadataWriter, log *zap.Logger, reg prometheus.Registerer) (*kafka.BatchConsumer[metadata.Row], error) {
	return newSinkOf(cfg, "metadatasink", func(r *kgo.Record) (metadata.Row, error) {
		m, err := metadata.Decode(r.Value)
		if err != nil {
			return metadata.Row{}, fmt.Errorf("decode %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		return metadata.Row{Record: m, WrittenMs: r.Timestamp.UnixMilli(), Partition: r.Partition, Offset: r.Offset}, nil
	}, w.Insert, log, reg)
}
