package sink

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// RejectionWriter is where the rejection sink writes (clickhouse.Rejections). Insert may be
// called again with rows it wrote before (a replay); a written row must then stay one row to
// readers.
type RejectionWriter interface {
	Insert(ctx context.Context, rows []usage.RejectionRow) error
}

// NewRejections returns the rejection sink of cfg.Topic (the rejected-usage topic) into w.
func NewRejections(cfg Config, w RejectionWriter, log *zap.Logger, reg prometheus.Registerer) (*kafka.BatchConsumer[usage.RejectionRow], error) {
	return newSink(cfg, "rejectionsink", func() *meterlinev1.RejectedUsage { return &meterlinev1.RejectedUsage{} }, nil,
		func(m *meterlinev1.RejectedUsage, r *kgo.Record) usage.RejectionRow {
			return usage.RejectionRow{Rejection: m, Partition: r.Partition, Offset: r.Offset}
		}, w.Insert, log, reg)
}
