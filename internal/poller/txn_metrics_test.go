package poller

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meterline/meterline/internal/usage"
)

// TestTransactionMetrics: a publish that fails counts as an aborted transaction and is timed
// as failed; the batch polled again commits and is timed as committed.
func TestTransactionMetrics(t *testing.T) {
	p := &script{steps: []step{
		{b: Batch{Docs: []usage.Document{doc("a")}, State: []byte("s1")}},
		{b: Batch{Docs: []usage.Document{doc("a")}, State: []byte("s1")}},
	}}
	pub := &memPublisher{fail: []error{errors.New("broker gone")}}
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	if _, err := run(t, p, pub, m); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want it stopped once the script ran out", err)
	}
	if got := testutil.ToFloat64(m.aborted.WithLabelValues("poller:test")); got != 1 {
		t.Errorf("aborted transactions %v, want 1", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	observed := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "meterline_poller_transaction_seconds" {
			continue
		}
		for _, mm := range mf.GetMetric() {
			for _, l := range mm.GetLabel() {
				if l.GetName() == "outcome" {
					observed[l.GetValue()] += mm.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	if observed["committed"] != 1 || observed["failed"] != 1 || len(observed) != 2 {
		t.Errorf("transactions observed by outcome %v, want one committed and one failed", observed)
	}
}
