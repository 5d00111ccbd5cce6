package kafka

import (
	"fmt"
	"strconv"

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

// Tick records carry time through the collected topic: a record of no document, written to
// every partition once a minute of stored time (processor.Service does), so that the
// processor's stream time advances in a partition with no usage, at the same point of the
// stream on every replay. Every reader of the collected topic but the processor skips them;
// nothing counts them as usage.
var tickSchema = "meterline.tick"

// TickRecord returns the tick of time ms (epoch milliseconds) for partition of topic.
func TickRecord(topic string, partition int32, ms int64) *kgo.Record {
	return &kgo.Record{
		Topic:     topic,
		Partition: partition,
		Value:     strconv.AppendInt(nil, ms, 10),
		Headers:   []kgo.RecordHeader{{Key: HeaderSchema, Value: []byte(tickSchema)}},
	}
}

// IsTick reports whether r is a tick record.
func IsTick(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if h.Key == HeaderSchema {
			return string(h.Value) == tickSchema
		}
	}
	return false
}

// TickTime returns the time of tick record r.
func TickTime(r *kgo.Record) (int64, error) {
	ms, err := strconv.ParseInt(string(r.Value), 10, 64)
	if err != nil || len(r.Value) > 20 {
		return 0, fmt.Errorf("tick at %s/%d@%d: %q is not a time", r.Topic, r.Partition, r.Offset, r.Value)
	}
	return ms, nil
}
