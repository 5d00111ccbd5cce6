package collector

import (
	"context"
	"sync"
	"time"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// EachPublisher is a Publisher that also publishes many events in one call, each answered on
// its own (kafka.Publisher is one). A batch is then produced as one call of many records, not
// one call and one goroutine per document.
type EachPublisher interface {
	PublishEachAt(ctx context.Context, evs []*meterlinev1.UsageEvent, at time.Time) (stored []time.Time, errs []error)
}

// publishEach publishes evs through pub in one call when it can, otherwise one PublishAt each,
// concurrently.
func publishEach(ctx context.Context, pub Publisher, evs []*meterlinev1.UsageEvent, at time.Time) ([]time.Time, []error) {
	if ep, ok := pub.(EachPublisher); ok {
		return ep.PublishEachAt(ctx, evs, at)
	}
	stored, errs := make([]time.Time, len(evs)), make([]error, len(evs))
	var wg sync.WaitGroup
	for i, ev := range evs {
		wg.Go(func() { stored[i], errs[i] = pub.PublishAt(ctx, ev, at) })
	}
	wg.Wait()
	return stored, errs
}

// storeBatch stores the documents of a batch, whose ids (ids[i] is docs[i].ID()) are
// distinct, as store stores each, and returns each one's error (nil: stored). The ids no other
// request is storing are claimed at once, looked up in one round of the coalesced look-ups,
// and produced in one call, with one produce timeout; an id another request is storing is
// stored by store's own path beside them (waiting for that request as a single POST does).
// Claims are never waited for while holding others, so two batches sharing ids cannot wait on
// each other.
func (c *Collector) storeBatch(ctx context.Context, docs []usage.Document, ids []string) []error {
	errs := make([]error, len(docs))
	calls := make([]*call, len(docs))
	mine := make([]int, 0, len(docs)) // the indexes this batch claimed
	var wg sync.WaitGroup
	for i, id := range ids {
		cl, other, err := c.tryAcquire(id)
		switch {
		case err != nil:
			errs[i] = err
		case other != nil:
			wg.Go(func() { _, errs[i] = c.storeID(ctx, docs[i], id) })
		default:
			calls[i] = cl
			mine = append(mine, i)
		}
	}
	stored := make([]bool, len(docs))
	found := c.storedBeforeEach(ctx, docs, ids, mine)
	evs := make([]*meterlinev1.UsageEvent, 0, len(mine))
	of := make([]int, 0, len(mine)) // the document of each event
	for k, i := range mine {
		if found[k] {
			stored[i], errs[i] = true, duplicate(ids[i])
			continue
		}
		ev, err := c.event(docs[i])
		if err != nil {
			errs[i] = err
			continue
		}
		evs, of = append(evs, ev), append(of, i)
	}
	if len(evs) > 0 {
		c.publishBatch(ctx, evs, of, ids, stored, errs)
	}
	for _, i := range mine {
		c.release(ids[i], calls[i], stored[i])
	}
	wg.Wait()
	return errs
}

// publishBatch publishes evs, the events of documents of (their ids in ids), as store
// publishes one: nothing while Kafka is known to be down unless this is the probe, then one
// produce bounded by the produce timeout. It marks each stored document and sets each failed
// one's error.
func (c *Collector) publishBatch(ctx context.Context, evs []*meterlinev1.UsageEvent, of []int, ids []string, stored []bool, errs []error) {
	try, probe := c.health.admit(c.clock.Now())
	if !try {
		c.metrics.fastFailures.Add(float64(len(evs)))
		for _, i := range of {
			errs[i] = fault.Unavailable(errKafkaDown, "Kafka is unavailable; retry later")
		}
		return
	}
	pctx, cancel := context.WithTimeout(ctx, c.cfg.ProduceTimeout)
	defer cancel()
	at, perrs := publishEach(pctx, c.pub, evs, c.clock.Now())
	var first error
	for _, err := range perrs {
		if err != nil {
			first = err
			break
		}
	}
	c.health.result(c.clock.Now(), probe, first != nil && pctx.Err() != nil && ctx.Err() == nil, first)
	for k, ev := range evs {
		i := of[k]
		if perrs[k] != nil {
			errs[i] = fault.Unavailable(perrs[k], "usage could not be stored in Kafka; retry later")
			continue
		}
		ev.StoredMs = at[k].UnixMilli()
		c.recent.put(ids[i], ev)
		stored[i] = true
	}
}

// storedBeforeEach asks the archive, as storedBefore does, whether each document of mine
// was stored before: its look-ups join the coalesced queries together, and each waits at most
// the look-up timeout.
func (c *Collector) storedBeforeEach(ctx context.Context, docs []usage.Document, ids []string, mine []int) []bool {
	found := make([]bool, len(mine))
	if c.lookups == nil || len(mine) == 0 {
		return found
	}
	refs := make([]usage.EventRef, len(mine))
	for k, i := range mine {
		refs[k] = usage.EventRef{Org: docs[i].OrganizationID, ID: ids[i]}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LookupTimeout)
	defer cancel()
	return c.lookups.storedBeforeEach(ctx, refs)
}
