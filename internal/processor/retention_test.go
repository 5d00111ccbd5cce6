package processor

import (
	"math"
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

// TestRestoreWithoutTombstones: a restore that misses tombstones (as one reading a partition
// for longer than delete.retention.ms may, once the cleaner has dropped them) still holds
// only what the committed state held: the changelog below has an expired second cell and
// the id of a document that ended before the floor, their tombstones gone, and a progress
// record whose floor passed both; a live hour cell and a recent id are kept.
func TestRestoreWithoutTombstones(t *testing.T) {
	f := newFixture(t, clock.Instants[0])
	acc := metering.DefaultAcceptance
	now := f.at.UnixMilli()
	floor := acc.Horizon(now)
	second := metering.CellKey{Scope: metering.ScopeInstance, Org: "org-t", Space: "s", Consumer: "c", Instance: "i1",
		Resource: "object-storage", Plan: "p", Metric: "storage", Level: metering.Second, From: now - 2*time.Hour.Milliseconds()}
	hour := second
	hour.Level, hour.From = metering.Hour, now-now%time.Hour.Milliseconds()
	if acc.Expires(second.Level, second.From+1000) > floor || acc.Expires(hour.Level, hour.From+time.Hour.Milliseconds()) <= floor {
		t.Fatal("the test's cells do not straddle the floor")
	}
	value := []byte{0x0a, 0x01, '5'} // Value{decimal: "5"}
	var records []*kgo.Record
	for _, kv := range [][2][]byte{
		{second.AppendTo(nil), value},
		{hour.AppendTo(nil), value},
		{appendDecidedKey(nil, "old"), appendDecided(nil, floor-1)},
		{appendDecidedKey(nil, "recent"), appendDecided(nil, now-1000)},
		{[]byte(progressKey), appendProgress(nil, now, floor, metering.CarryProgress{})},
	} {
		records = append(records, &kgo.Record{Topic: f.topics.Changelog, Partition: 0, Key: kv[0], Value: kv[1]})
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.cfg.Kafka.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(f.ctx, records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A Service without the session New starts, which would restore in the background.
	s := &Service{cfg: f.config(testenv.Name("processor"), 1), plans: f.cat, accounts: f.cat, log: zaptest.NewLogger(t)}
	st, err := s.restore(f.ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var held []metering.CellKey
	st.cells.Expiring(math.MaxInt64, func(c *metering.Cell) { held = append(held, c.Key()) })
	if st.cells.Len() != 1 || len(held) != 1 || held[0] != hour {
		t.Errorf("%d cells restored (%v), want only the hour cell %v", st.cells.Len(), held, hour)
	}
	if _, ok := st.ids["old"]; ok || len(st.ids) != 1 || st.floor != floor {
		t.Errorf("ids restored: %v, floor %d; want only \"recent\", floor %d", st.ids, st.floor, floor)
	}
}
