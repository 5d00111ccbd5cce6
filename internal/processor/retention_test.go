package processor

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// TestRestoreAfterRetention: once the stored time of a partition's input passes the end of a
// second (minute) period by its retention (and the future tolerance), its cells are
// tombstoned in the changelog; a restore then holds the second and minute cells of the
// recent usage only, and the hour, day and month cells of all of it (kept for the slack).
func TestRestoreAfterRetention(t *testing.T) { atInstants(t, testRestoreAfterRetention) }

func testRestoreAfterRetention(t *testing.T, f fixture) {
	ctx, cl := f.ctx, f.cl
	acc := metering.DefaultAcceptance
	t1 := f.at.UnixMilli() - time.Minute.Milliseconds()
	t0 := t1 - 2*time.Hour.Milliseconds()                                        // A's second and minute are past their retention at t1
	a, b := objectDoc("org-r", "i1", t0-1000), objectDoc("org-r", "i1", t1-1000) // stored a second after their end
	for _, d := range []usage.Document{a, b} {
		f.publish(t, &meterlinev1.UsageEvent{Id: d.ID(), Source: "test", Document: d.Proto(), StoredMs: d.End + 1000}, d.End+1000)
	}
	group := testenv.Name("processor")
	s, err := New(f.config(group, 1), f.cat, f.cat, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runUntilCaughtUp(t, ctx, s, cl, group)

	// What a restore loads: the compacted changelog, and the restored state itself.
	live := committedCells(t, f)
	restored := 0
	for p := range f.cfg.Kafka.Partitions {
		st, err := s.restore(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		restored += st.cells.Len()
	}
	if restored != len(live) {
		t.Errorf("restored %d cells, the changelog holds %d live", restored, len(live))
	}
	levels := map[metering.Level]map[int64]bool{}
	for k := range live {
		if k.Org != "org-r" {
			continue
		}
		if levels[k.Level] == nil {
			levels[k.Level] = map[int64]bool{}
		}
		levels[k.Level][k.From] = true
		if k.Level <= metering.Minute {
			if from, _ := k.Level.Period(b.End); k.From != from {
				t.Errorf("cell %s restored: past its retention (%s)", k.AppendTo(nil), acc.Kept(k.Level))
			}
		}
	}
	for l := metering.Level(0); l < metering.Levels; l++ {
		want := map[int64]bool{}
		for _, end := range []int64{a.End, b.End} {
			if from, to := l.Period(end); acc.Expires(l, to) > acc.Horizon(t1) {
				want[from] = true
			}
		}
		if len(levels[l]) != len(want) {
			t.Errorf("%s: restored periods %v, want %v", l, levels[l], want)
		}
		for from := range want {
			if !levels[l][from] {
				t.Errorf("%s: period %d not restored", l, from)
			}
		}
	}
	// A's second cell was written, then tombstoned.
	from, _ := metering.Second.Period(a.End)
	key := string(metering.CellKey{Scope: metering.ScopeInstance, Org: "org-r", Space: a.SpaceID, Consumer: a.Consumer(),
		Instance: a.ResourceInstanceID, Resource: a.ResourceID, Plan: metering.PlanKey("basic", "basic-object-storage",
			"object-rating-plan", "object-pricing-basic"), Metric: "heavy_api_calls", Level: metering.Second, From: from}.AppendTo(nil))
	var history []bool // true: a value, false: a tombstone
	readAll(t, ctx, f.cfg.Kafka.Brokers, f.topics.Changelog, func(r *kgo.Record) {
		if string(r.Key) == key {
			history = append(history, r.Value != nil)
		}
	})
	if len(history) != 2 || !history[0] || history[1] {
		t.Errorf("A's second cell in the changelog: %v, want a value then a tombstone", history)
	}
}

// TestRestoreWithin: a restore pass that takes longer than RestoreWithin (the changelog's
// delete.retention.ms) is abandoned with an error, which replaces the session and restores
// again; within it, the same restore succeeds.
func TestRestoreWithin(t *testing.T) {
	f := newFixture(t, clock.Instants[0])
	d := objectDoc("org-w", "i1", f.at.UnixMilli()-1000)
	f.publish(t, &meterlinev1.UsageEvent{Id: d.ID(), Source: "test", Document: d.Proto()}, f.at.UnixMilli())
	group := testenv.Name("processor")
	s, err := New(f.config(group, 1), f.cat, f.cat, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runUntilCaughtUp(t, f.ctx, s, f.cl, group)
	for p := range f.cfg.Kafka.Partitions {
		s.cfg.RestoreWithin = time.Nanosecond
		if _, err := s.restore(f.ctx, p); err == nil || !strings.Contains(err.Error(), "delete.retention.ms") {
			t.Errorf("partition %d restored within 1ns: %v", p, err)
		}
		s.cfg.RestoreWithin = time.Hour
		if _, err := s.restore(f.ctx, p); err != nil {
			t.Errorf("partition %d within an hour: %v", p, err)
		}
	}
}
