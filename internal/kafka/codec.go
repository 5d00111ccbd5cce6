package kafka

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// Record headers every Meterline payload carries, so a consumer can check what it reads.
const (
	HeaderContentType = "content-type"
	HeaderSchema      = "meterline-schema"
	contentType       = "application/x-protobuf"
)

var usageEventSchema = string((&meterlinev1.UsageEvent{}).ProtoReflect().Descriptor().FullName())

// EventRecord encodes ev as a record of topic, keyed by its organization id.
func EventRecord(topic string, ev *meterlinev1.UsageEvent) (*kgo.Record, error) {
	value, err := proto.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode usage event %s: %w", ev.GetId(), err)
	}
	return &kgo.Record{
		Topic: topic,
		Key:   []byte(ev.GetDocument().GetOrganizationId()),
		Value: value,
		Headers: []kgo.RecordHeader{
			{Key: HeaderContentType, Value: []byte(contentType)},
			{Key: HeaderSchema, Value: []byte(usageEventSchema)},
		},
	}, nil
}

// DecodeEvent decodes a usage event record into ev (reset first). When the producer left
// stored_ms unset, it is the record's timestamp: the time Kafka took the record.
func DecodeEvent(r *kgo.Record, ev *meterlinev1.UsageEvent) error {
	ev.Reset()
	if err := proto.Unmarshal(r.Value, ev); err != nil {
		return fmt.Errorf("decode usage event at %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	if ev.GetDocument() == nil || ev.GetId() == "" {
		return fmt.Errorf("decode usage event at %s/%d@%d: no id or document", r.Topic, r.Partition, r.Offset)
	}
	if ev.StoredMs == 0 {
		ev.StoredMs = r.Timestamp.UnixMilli()
	}
	return nil
}
