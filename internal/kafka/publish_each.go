package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// PublishEachAt produces evs in one call, each with the record timestamp at (see PublishAt),
// and waits until Kafka has each of them, or until ctx ends. It returns each event's error:
// nil once Kafka has the record durably. A record that fails, or whose answer ctx's end
// forestalls, may or may not be in Kafka, as with PublishAt: a retry of its document is
// recognised by its id downstream. The stored time of every stored event is at (the zero time
// leaves it to franz-go, which stamps the wall clock: stored[i] is then the record's time).
func (p *Publisher) PublishEachAt(ctx context.Context, evs []*meterlinev1.UsageEvent, at time.Time) (stored []time.Time, errs []error) {
	recs := make([]*kgo.Record, len(evs))
	errs = make([]error, len(evs))
	stored = make([]time.Time, len(evs))
	for i, ev := range evs {
		rec, err := EventRecord(p.topic, ev)
		if err != nil {
			errs[i] = err
			continue
		}
		rec.Timestamp = at
		recs[i] = rec
	}
	ProduceEach(ctx, p.cl, recs, errs)
	for i, rec := range recs {
		if rec != nil && errs[i] == nil {
			stored[i] = rec.Timestamp
		}
	}
	return stored, errs
}

// ProduceEach produces the non-nil records of recs and waits until Kafka has each, or until
// ctx ends, setting errs[i] to record i's error (ctx's error for each record not yet answered
// when ctx ends); the other entries of errs are left as they are. As with Produce, records
// produced by a caller whose ctx ended are not to be changed or reused.
func ProduceEach(ctx context.Context, cl *kgo.Client, recs []*kgo.Record, errs []error) {
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(recs)) // buffered: a promise never blocks the client
	n := 0
	for i, r := range recs {
		if r == nil {
			continue
		}
		n++
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) { results <- result{i, err} })
	}
	answered := make([]bool, len(recs))
	for range n {
		select {
		case res := <-results:
			errs[res.i], answered[res.i] = res.err, true
		case <-ctx.Done():
			for i, r := range recs {
				if r != nil && !answered[i] {
					errs[i] = ctx.Err()
				}
			}
			return
		}
	}
}
