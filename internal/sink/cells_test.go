package sink

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/platform/clock"
)

// TestCellSinkExpandsBatches: the cells of the v2 records are written as rows of their own,
// the i-th cell of the record at offset o at kafka_offset o*MaxBatchCells+i, and of two
// values of a cell the later one (a later record, or later in a record) is the one written.
func TestCellSinkExpandsBatches(t *testing.T) {
	f := newSinkFixture(t)
	first := batchOf(ratedCell("org", 0, "1"), ratedCell("org", 1, "2"), ratedCell("org", 2, "3"), ratedCell("org", 0, "4"))
	second := batchOf(ratedCell("org", 1, "5"))
	recs := f.produce(t, f.topics.RatedBatch, marshal(t, first), marshal(t, second))
	cells := clickhouse.NewCells(f.conn)
	cells.Clock = clock.NewManual(at)
	s, err := NewCells(f.sinkConfig(f.topics.RatedBatch), cells, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, f.ctx, s.Run)
	f.waitFor(t, "the 3 cells", func() bool { return f.count(t, "usage_cells", "organization_id = 'org'") == 3 })
	stop()
	rows, err := f.conn.Query(f.ctx, "SELECT metric, toString(quantity), kafka_partition, kafka_offset FROM usage_cells ORDER BY metric")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type row struct {
		qty       string
		partition int32
		offset    int64
	}
	got := map[string]row{}
	for rows.Next() {
		var m string
		var r row
		if err := rows.Scan(&m, &r.qty, &r.partition, &r.offset); err != nil {
			t.Fatal(err)
		}
		got[m] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	pos := func(rec, i int) int64 { return recs[rec].Offset*kafka.MaxBatchCells + int64(i) }
	want := map[string]row{
		"m0": {"4.000000000000", recs[0].Partition, pos(0, 3)},
		"m1": {"5.000000000000", recs[1].Partition, pos(1, 0)},
		"m2": {"3.000000000000", recs[0].Partition, pos(0, 2)},
	}
	for m, w := range want {
		if g := got[m]; g != w {
			t.Errorf("%s: row %+v, want %+v", m, g, w)
		}
	}
}
