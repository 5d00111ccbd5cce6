package collector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// probeInterval is how often, while Kafka is known to be down, one request is let through to
// try it; the others are answered 503 at once. It matches the Retry-After of a 503.
const probeInterval = time.Second

// errKafkaDown is the cause of a POST answered without trying Kafka, known to be down.
var errKafkaDown = errors.New("kafka is known to be down: a record ran into the produce timeout")

// producerHealth tracks whether Kafka takes records, so that while it does not a POST is
// answered 503 at once instead of after the produce timeout (a client would otherwise hold a
// connection that long, and the connections of many clients pile up). Kafka is known down
// once a publish ran into the produce timeout (a quick failure, such as too few in-sync
// replicas, costs the client nothing and is answered as it comes). While down, one request
// per probeInterval still tries Kafka: the first that is acknowledged marks it up again.
// Nothing here ever answers 201: only an acknowledged publish does.
type producerHealth struct {
	mu      sync.Mutex
	down    bool
	since   time.Time // when Kafka was first found down
	err     error     // the failure that found it down
	tried   time.Time // when the last probe began
	probing bool
}

// admit tells whether a request at now may try Kafka, and whether it is the probe of a Kafka
// known down.
func (h *producerHealth) admit(now time.Time) (try, probe bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.down:
		return true, false
	case h.probing || now.Before(h.tried.Add(probeInterval)):
		return false, false
	default:
		h.probing, h.tried = true, now
		return true, true
	}
}

// result records how a publish admitted at now ended: err nil (acknowledged), a timeout
// (Kafka is down) or another failure (which tells nothing of the next record). A publish cut
// short by its client leaving tells nothing either.
func (h *producerHealth) result(now time.Time, probe, timedOut bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if probe {
		h.probing = false
	}
	switch {
	case err == nil:
		h.down, h.err = false, nil
	case timedOut:
		if !h.down {
			h.down, h.since = true, now
		}
		h.err, h.tried = err, now
	}
}

// Ready tells whether Kafka takes the collector's records: it returns an error from the first
// publish that ran into the produce timeout until one is acknowledged again.
func (c *Collector) Ready(context.Context) error {
	h := &c.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down {
		return nil
	}
	return fmt.Errorf("collector: Kafka has not acknowledged a record since %s: %w", h.since.UTC().Format(time.RFC3339), h.err)
}
