package processor

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/kafka"
)

// restore reads changelog partition p to its end.
func (s *Service) restore(ctx context.Context, p int32) (*partState, error) {
	if s.beforeRestore != nil {
		if err := s.beforeRestore(); err != nil {
			return nil, err
		}
	}
	st := s.newPartState()
	start := time.Now()
	// Control records (transaction markers) are kept so that the read position is known to
	// reach the end offset, which a marker may hold.
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.cfg.Topics.Changelog: {p: kgo.NewOffset().AtStart()}})},
		s.cfg.KafkaOpts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	end, err := s.changelogEnd(ctx, kadm.NewClient(cl), p)
	if err != nil {
		return nil, err
	}
	n := 0
	for next := int64(0); next < end.Offset; {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return nil, ferr
		}
		var rerr error
		fetches.EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			if rerr == nil && !r.Attrs.IsControl() {
				rerr = st.apply(r)
				n++
			}
		})
		if rerr != nil {
			return nil, rerr
		}
	}
	st.pruneToFloor()
	s.log.Info("restored partition state", zap.Int32("partition", p), zap.Int("records", n),
		zap.Int("cells", st.cells.Len()), zap.Int("documents", len(st.ids)), zap.Duration("took", time.Since(start)))
	return st, nil
}

// changelogEnd returns the end offset of changelog partition p.
func (s *Service) changelogEnd(ctx context.Context, adm *kadm.Client, p int32) (kadm.ListedOffset, error) {
	ends, err := kafka.EndOffsets(ctx, adm, s.cfg.Topics.Changelog)
	if err != nil {
		return kadm.ListedOffset{}, fmt.Errorf("changelog partition %d: %w", p, err)
	}
	end, ok := ends.Lookup(s.cfg.Topics.Changelog, p)
	if !ok {
		return kadm.ListedOffset{}, fmt.Errorf("changelog partition %d: the broker lists no such partition", p)
	}
	return end, nil
}

// pruneToFloor removes what the partition's floor has passed, as the commit that raised the
// floor did: the cells that expire at or before it and the ids of documents that ended
// before it. Every tombstone of the changelog deleted such a cell or id (a transaction's
// prune deletes what its horizon passed, and its progress record raises the floor to that
// horizon), so the restored state is the committed one whether or not the restore read the
// tombstones: the cleaner drops a tombstone delete.retention.ms after it first cleans it, and
// a restore reading a partition for longer than that may meet a key's value and not the
// tombstone that followed it.
func (st *partState) pruneToFloor() {
	st.cells.Expire(st.floor)
	st.idExpiry.Pop(st.floor-1, func(id string) { delete(st.ids, id) })
}

// apply loads one changelog record into the state. Records come in offset order, so the
// newest record of a key is applied last, as compaction keeps it.
func (st *partState) apply(r *kgo.Record) error {
	e, err := decodeEntry(r.Key, r.Value)
	if err != nil {
		return err
	}
	switch e.kind {
	case keyProgress:
		st.processed, st.floor = e.processed, e.floor
		st.cells.LoadFloor(e.floor)
		st.cells.LoadCarryProgress(e.carry)
	case keyDecided:
		if e.tombstone {
			delete(st.ids, e.id)
			return nil
		}
		st.ids[e.id] = e.end
		st.idExpiry.Add(e.end, e.id)
	case keyCell:
		st.cells.Load(e.cell, e.value) // a tombstone (nil) removes the cell
	}
	return nil
}
