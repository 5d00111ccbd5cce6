package processor

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/testenv"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// TestOperatorMetrics: after the processor caught up on three documents, its metrics tell
// what it consumed and produced, how its transactions ended, and that its group has no lag.
func TestOperatorMetrics(t *testing.T) {
	f := newFixture(t, clock.Instants[0])
	now := f.at.UnixMilli()
	for i, inst := range []string{"i1", "i2", "i3"} {
		d := objectDoc("org-m", inst, now-int64(3-i)*1000)
		f.publish(t, &meterlinev1.UsageEvent{Id: d.ID(), Source: "test", Document: d.Proto()}, now)
	}
	group := testenv.Name("processor")
	reg := prometheus.NewPedanticRegistry()
	s, err := New(f.config(group, 0), f.cat, f.cat, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	runUntilCaughtUp(t, f.ctx, s, f.cl, group)

	if n := testutil.ToFloat64(s.ops.consumed); n < 3 {
		t.Errorf("consumed %v records, want at least the 3 documents", n)
	}
	if n := testutil.ToFloat64(s.metrics.processed); n != 3 {
		t.Errorf("processed %v documents, want 3", n)
	}
	for _, kind := range []string{"rated", "changelog"} {
		recs := testutil.ToFloat64(s.ops.producedRecs.WithLabelValues(kind))
		bytes := testutil.ToFloat64(s.ops.producedBytes.WithLabelValues(kind))
		if recs < 1 || bytes <= recs {
			t.Errorf("%s: %v records, %v bytes produced", kind, recs, bytes)
		}
	}
	if n := testutil.CollectAndCount(s.ops.txnSeconds, "meterline_processor_transaction_seconds"); n < 1 {
		t.Errorf("%d transaction outcomes observed, want at least one", n)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("the processor's metrics do not lint: %v %v", problems, err)
	}
	// The run closed the processor's client: its lag collector (tested in package kafka) is
	// registered for its group, and says it cannot ask Kafka now.
	if up, err := kafka.Gauge(reg, "meterline_kafka_consumer_lag_up", map[string]string{"group": group, "consumer": "processor"}); err != nil || up != 0 {
		t.Errorf("lag up %v (%v) after the run, want 0 (a closed client)", up, err)
	}
}
