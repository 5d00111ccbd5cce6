// Test support of the transactional publisher, for the tests of the packages that publish
// with it (the pollers). `make lint`'s dead-code check passes over this file.

package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// CrashAfterEvents makes every later Publish call f after the events are produced and before
// the state record; an error from f stops Publish there, as a crash would (the transaction
// is neither committed nor aborted).
func (p *TxPublisher) CrashAfterEvents(f func() error) { p.afterEvents = f }

// Settled waits until no transaction is open or ending on topics: its commit markers are
// written by the transaction coordinator after EndTransaction returns, and only then does the
// last stable offset reach the high watermark.
func Settled(ctx context.Context, adm *kadm.Client, topics ...string) error {
	for {
		stable, err := adm.ListCommittedOffsets(ctx, topics...)
		if err != nil {
			return err
		}
		end, err := adm.ListEndOffsets(ctx, topics...)
		if err != nil {
			return err
		}
		done := true
		end.Each(func(o kadm.ListedOffset) {
			if s, ok := stable.Lookup(o.Topic, o.Partition); !ok || o.Err != nil || s.Err != nil || s.Offset != o.Offset {
				done = false
			}
		})
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("transactions on %v never ended: %w", topics, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Committed returns every committed data record of topic, reading each partition up to its
// last stable offset (the markers, kept, tell where that is reached).
func Committed(ctx context.Context, brokers []string, topic string) ([]*kgo.Record, error) {
	cl, err := NewClient(brokers, zap.NewNop(), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	// A partition whose last stable offset is unknown (its leader moving) is asked again:
	// taken for 0, its records would be left out.
	offsets, err := knownOffsets(ctx, topic, kadm.NewClient(cl).ListCommittedOffsets)
	if err != nil {
		return nil, err
	}
	want := map[int32]int64{}
	offsets.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	for len(want) > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("reading %s: %w", topic, ctx.Err())
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if stable, ok := want[r.Partition]; ok {
				if r.Offset+1 >= stable {
					delete(want, r.Partition)
				}
				if r.Offset < stable && !r.Attrs.IsControl() {
					out = append(out, r)
				}
			}
		})
	}
	return out, nil
}

// Gauge is the value of the gauge name with exactly labels in what g gathers, -1 when g has
// none.
func Gauge(g prometheus.Gatherer, name string, labels map[string]string) (float64, error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metric
				}
			}
			return m.GetGauge().GetValue(), nil
		}
	}
	return -1, nil
}
