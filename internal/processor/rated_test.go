package processor

import (
	"fmt"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/testenv"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// TestRatedV2HoldsTheV1Cells: with RatedV1 set, the processor produces both rated topics;
// the cells of the v2 batches are the v1 records, field for field, and v2 needs far fewer
// records (its bound, small here, splits a transaction's cells into several).
func TestRatedV2HoldsTheV1Cells(t *testing.T) {
	f := newFixture(t, clock.Instants[0])
	now := f.at.UnixMilli()
	for i := range 40 {
		d := objectDoc(fmt.Sprintf("org-%d", i%3), fmt.Sprintf("i%d", i), now-int64(40-i)*1000)
		f.publish(t, &meterlinev1.UsageEvent{Id: d.ID(), Source: "test", Document: d.Proto()}, now)
	}
	group := testenv.Name("processor")
	cfg := f.config(group, 0)
	cfg.RatedV1, cfg.RatedBatchBytes = true, 4096
	s, err := New(cfg, f.cat, f.cat, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runUntilCaughtUp(t, f.ctx, s, f.cl, group)

	text := func(m proto.Message) string { return prototext.MarshalOptions{}.Format(m) }
	var v1, v2 []string
	var records1, records2 int
	readAll(t, f.ctx, f.cfg.Kafka.Brokers, f.topics.Rated, func(r *kgo.Record) {
		var ru meterlinev1.RatedUsage
		if err := proto.Unmarshal(r.Value, &ru); err != nil {
			t.Fatal(err)
		}
		records1++
		v1 = append(v1, text(&ru))
	})
	readAll(t, f.ctx, f.cfg.Kafka.Brokers, f.topics.RatedBatch, func(r *kgo.Record) {
		var b meterlinev1.RatedUsageBatch
		if err := proto.Unmarshal(r.Value, &b); err != nil {
			t.Fatal(err)
		}
		if len(r.Value) > cfg.RatedBatchBytes+batchSlack {
			t.Errorf("a v2 record of %d bytes, bound %d", len(r.Value), cfg.RatedBatchBytes)
		}
		records2++
		for _, c := range b.GetCells() {
			v2 = append(v2, text(c))
		}
	})
	slices.Sort(v1)
	slices.Sort(v2)
	if len(v1) == 0 || !slices.Equal(v1, v2) {
		t.Errorf("v1 has %d cells, v2 %d; equal: %v", len(v1), len(v2), slices.Equal(v1, v2))
	}
	if records2 < 2 || records2*10 > records1 {
		t.Errorf("%d v2 records for %d v1 records, want several and a tenth at most", records2, records1)
	}
}
