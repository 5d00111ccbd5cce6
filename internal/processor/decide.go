package processor

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// The decisions of the processor: which documents count, which are duplicates and which are
// rejected, with a typed code (metering.CodeOf), and what the changelog prunes. The rules of
// time (the slack, the future tolerance, the floor, the horizon) are metering.Acceptance's;
// here they are applied to a partition's stored times and state.

// tally is what decide decided: the id and rejection records to produce, and the counts.
type tally struct {
	records               []*kgo.Record
	processed, duplicates int
	rejected              map[metering.RejectCode]int
}

// decide applies the documents of records, in order, to the open transaction of st: each is a
// duplicate, rejected, or counted. With rate, each counted document's cells are rated as it is
// applied; else Engine.Rate must rate the transaction's cells.
func (s *Service) decide(p int32, records []*kgo.Record, st *partState, out *output, rate bool) (tally, error) {
	st.txnStored = st.stored
	t := tally{records: make([]*kgo.Record, 0, 2*len(records)), rejected: map[metering.RejectCode]int{}}
	produce := func(topic string, key, value []byte) {
		r := out.record()
		r.Topic, r.Partition, r.Key, r.Value = topic, p, key, value
		t.records = append(t.records, r)
	}
	decided := func(id string, end int64) {
		st.ids[id] = end
		st.txnIDs = append(st.txnIDs, id)
		produce(s.cfg.Topics.Changelog, decidedKey(out, id), out.done(appendDecided(out.buf(20), end)))
	}
	var ev meterlinev1.UsageEvent
	// Running usage is carried into every period that has begun by the partition's stream
	// time, plus the future tolerance: a document ending in a period is stored no earlier
	// than that, so it finds the period's carried cells made already.
	future := s.cfg.Acceptance.Future.Milliseconds()
	carried := func(err error) {
		if err != nil {
			s.log.Warn("carrying running usage into the next period failed; those cells are not carried",
				zap.Int32("partition", p), zap.Error(err))
		}
	}
	carry := func() { carried(st.engine.Carry(st.cells, st.txnStored+future, rate)) }
	for _, r := range records {
		if kafka.IsTick(r) {
			ms, err := kafka.TickTime(r)
			if err != nil {
				s.log.Error("skipping a tick record that does not decode", zap.Error(err))
				continue
			}
			st.txnStored = max(st.txnStored, ms)
			carry()
			continue
		}
		if err := kafka.DecodeEvent(r, &ev); err != nil {
			s.log.Error("skipping a record that is not a usage event", zap.Error(err))
			continue
		}
		stored := ev.StoredMs
		st.txnStored = max(st.txnStored, stored)
		carry()
		end := ev.GetDocument().GetEnd()
		// A copy of a document decided before is a duplicate. One whose id was pruned ended
		// before the floor, and is rejected as too late below, as every document that old is:
		// none is counted twice.
		if _, ok := st.ids[ev.Id]; ok {
			t.duplicates++
			continue
		}
		doc, err := usage.FromProto(ev.Document)
		if err != nil {
			return t, err
		}
		// Usage that ended before the floor is too late whatever its stored time; the rest
		// is judged by its stored time, so a replay decides the same.
		err = s.cfg.Acceptance.Settled(end, st.floor)
		if err == nil {
			// A carry pass under way carries the document's instance first, so that the
			// document finds its cells carried.
			carried(st.engine.CarryFor(&doc, st.cells, rate))
		}
		switch {
		case err != nil:
		case rate:
			_, err = st.engine.Process(&doc, stored, st.cells)
		default:
			err = st.engine.Meter(&doc, stored, st.cells)
		}
		if err != nil {
			code, ok := metering.CodeOf(err)
			if !ok {
				return t, fmt.Errorf("processor: document %s: %w", ev.Id, err)
			}
			t.rejected[code]++
			value, merr := proto.Marshal(&meterlinev1.RejectedUsage{Event: proto.Clone(&ev).(*meterlinev1.UsageEvent),
				Reason: err.Error(), Code: string(code), ProcessedMs: stored})
			if merr != nil {
				return t, merr
			}
			produce(s.cfg.Topics.Rejected, []byte(doc.OrganizationID), value)
			// A rejection is final: the same document is not judged again. Except too late:
			// its id would be pruned at once, and a copy is too late again anyway.
			if code != metering.RejectTooLate {
				decided(ev.Id, doc.End)
			}
			continue
		}
		t.processed++
		decided(ev.Id, doc.End)
		carry() // the document's changes, along the cells carried after them
	}
	// A transaction of no input (see runSession) goes on with the carry pass under way.
	if len(records) == 0 {
		carried(st.engine.ContinueCarry(st.cells, rate))
	}
	return t, nil
}

// decidedKey returns the changelog key of a decided document id, "d/<id>", in out.
func decidedKey(out *output, id string) []byte {
	return out.done(appendDecidedKey(out.buf(2+len(id)), id))
}

// prune deletes, in the open transaction, what usage processed from now on cannot change: the
// ids of documents, and the cells of periods, that ended more than the slack before the
// partition's latest stored time, and never less than the floor, and the cells of levels kept
// less than the slack whose retention ended by then (metering.Acceptance.Expires). A document
// that old is rejected as too late whether its id is known or not, and the cells it would
// land in are settled; usage of a level past its retention leaves that level as it is.
// The horizon is driven by the records' stored times, never the wall clock, so a replay
// prunes the same.
//
// While a carry pass is under way nothing more is pruned: the instances it has yet to visit
// are carried from their last cells, which may lie before the horizon when stream time
// jumped (a partition without ticks for days). Pruning only frees what can no longer matter,
// so it can wait for the pass to end.
func (s *Service) prune(st *partState, out *output, produce func(topic string, key, value []byte)) {
	if st.txnStored == 0 {
		return
	}
	if st.cells.CarryPending() {
		st.horizon = st.floor
		return
	}
	st.horizon = max(st.floor, s.cfg.Acceptance.Horizon(st.txnStored))
	st.idExpiry.Due(st.horizon-1, func(id string) {
		if _, ok := st.ids[id]; ok {
			produce(s.cfg.Topics.Changelog, decidedKey(out, id), nil)
		}
	})
	for _, id := range st.txnIDs {
		if st.ids[id] < st.horizon {
			produce(s.cfg.Topics.Changelog, decidedKey(out, id), nil)
		}
	}
	st.cells.Expiring(st.horizon, func(c *metering.Cell) {
		produce(s.cfg.Topics.Changelog, out.done(c.Key().AppendTo(out.buf(256))), nil)
	})
}
