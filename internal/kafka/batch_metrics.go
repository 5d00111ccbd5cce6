package kafka

import "github.com/prometheus/client_golang/prometheus"

// writeLagOpts are those of the write lag of the sink name: one histogram name for every sink,
// told apart by the sink label, so that one alert covers them all.
func writeLagOpts(name string) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{Name: "meterline_sink_write_lag_seconds",
		Help: "Time from a record's timestamp (for the raw sink, when the collector stored the event) to its row written, by sink.",
		// 10ms to about 11h: a sink catching up after an outage writes records hours old.
		Buckets:     prometheus.ExponentialBuckets(0.01, 2, 22),
		ConstLabels: prometheus.Labels{"sink": name}}
}

// observeWriteLag observes the write lag of every record of b whose row was just written
// (those set aside are not, nor the processor's ticks, which are no usage and have no row).
func (c *BatchConsumer[T]) observeWriteLag(b *batch[T]) {
	now := c.clock.Now()
	aside := make(map[any]bool, len(b.aside))
	for _, a := range b.aside {
		aside[a.rec] = true
	}
	for _, r := range b.recs {
		if !aside[r] && !IsTick(r) {
			c.writeLag.Observe(max(now.Sub(r.Timestamp).Seconds(), 0))
		}
	}
}
