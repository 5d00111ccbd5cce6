package sink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/proto"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/platform/config"
	"github.com/meterline/meterline/internal/testenv"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// at is the pinned time of the cells of these tests.
var at = clock.Instants[0]

// ratedCell is the i-th test cell: an organization's day cell of metric m<i>, quantity qty.
func ratedCell(org string, i int, qty string) *meterlinev1.RatedUsage {
	day := at.Truncate(24 * time.Hour).UnixMilli()
	return &meterlinev1.RatedUsage{OrganizationId: org, ResourceId: "object-storage", Plan: "basic/m/r/p",
		Metric: fmt.Sprintf("m%d", i), Scope: "organization", Level: "day", PeriodStartMs: day, PeriodEndMs: day + 86_400_000,
		Quantity:    &meterlinev1.Value{Kind: &meterlinev1.Value_Decimal{Decimal: qty}},
		Cost:        &meterlinev1.Value{Kind: &meterlinev1.Value_Decimal{Decimal: "1.5"}},
		ProcessedMs: at.UnixMilli()}
}

// batchOf is a record of the rated topic v2 holding cells.
func batchOf(cells ...*meterlinev1.RatedUsage) *meterlinev1.RatedUsageBatch {
	return &meterlinev1.RatedUsageBatch{Cells: cells}
}

// sinkFixture is a cell sink's world: fresh topics on the real broker, a fresh database.
type sinkFixture struct {
	cfg    config.Config
	ctx    context.Context
	cl     *kgo.Client
	topics kafka.Topics
	conn   clickhouse.Conn
}

func newSinkFixture(t *testing.T) sinkFixture {
	t.Helper()
	f := sinkFixture{cfg: testenv.Get(t).Config(t)}
	f.cfg.Kafka.Retention = 100000 * time.Hour // records stamped at pinned past instants
	testenv.DeleteTopicsWithPrefix(t, f.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	f.ctx = ctx
	f.conn = testenv.ClickHouse(t, f.cfg)
	f.cl = testenv.Kafka(t, f.cfg)
	if err := kafka.EnsureTopics(ctx, f.cl, f.cfg.Kafka, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	f.topics = kafka.TopicsFor(f.cfg.Kafka.TopicPrefix)
	return f
}

// produce writes values to topic, keyed by org, and returns their records (with offsets).
func (f sinkFixture) produce(t *testing.T, topic string, values ...[]byte) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("org"), Value: v, Timestamp: at,
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/x-protobuf")}}})
	}
	if err := f.cl.ProduceSync(f.ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return recs
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f sinkFixture) sinkConfig(topic string) Config {
	return Config{Brokers: f.cfg.Kafka.Brokers, Topic: topic, Group: testenv.Name("sink"), DeadLetter: f.topics.DeadLetter,
		BatchSize: 100, FlushInterval: 200 * time.Millisecond}
}

// run runs a sink until stopped; stop waits for it and fails the test on its error.
func run(t *testing.T, ctx context.Context, sink func(context.Context) error) (stop func()) {
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sink(runCtx) }()
	return func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sink: %v", err)
		}
	}
}

// count returns the rows of table in the fixture's database that cond selects.
func (f sinkFixture) count(t *testing.T, table, cond string) uint64 {
	t.Helper()
	var n uint64
	if err := f.conn.QueryRow(f.ctx, "SELECT count() FROM "+table+" WHERE "+cond).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor waits until cond holds, failing the test after 60s counted in 100 ms polls on a
// manual clock, not read from the wall clock.
func (f sinkFixture) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	polls := clock.NewManual(clock.Instants[0])
	for deadline := polls.Now().Add(60 * time.Second); !cond(); polls.Advance(100 * time.Millisecond) {
		if polls.Now().After(deadline) {
			t.Fatalf("waited 60s for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deadLetters reads every record of the dead-letter topic, expecting want distinct ones (by
// their source topic, partition and offset). Setting aside is at least once (a produce that
// timed out and was tried again, a batch replayed after a crash or a rebalance: see
// docs/architecture.md), so a record may be there twice; it is returned once.
func (f sinkFixture) deadLetters(t *testing.T, want int) []*kgo.Record {
	t.Helper()
	cl := testenv.Kafka(t, f.cfg, kgo.ConsumeTopics(f.topics.DeadLetter), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var out []*kgo.Record
	seen := map[string]bool{}
	// Up to a minute for the expected ones (a loaded broker answers a new client's first
	// fetch slowly), then two seconds for one more than expected, to see there is none.
	read := func(d time.Duration, until int) {
		ctx, cancel := context.WithTimeout(f.ctx, d)
		defer cancel()
		for len(out) < until {
			fetches := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			fetches.EachRecord(func(r *kgo.Record) {
				pos := header(r, kafka.HeaderSourceTopic) + "/" + header(r, kafka.HeaderSourcePartition) + "/" + header(r, kafka.HeaderSourceOffset)
				if seen[pos] {
					t.Logf("dead letter of %s set aside again", pos)
					return
				}
				seen[pos] = true
				out = append(out, r)
			})
		}
	}
	read(time.Minute, want)
	read(2*time.Second, want+1)
	if len(out) != want {
		t.Errorf("%d records on the dead-letter topic, want %d", len(out), want)
	}
	return out
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// deadLettered is meterline_sink_deadlettered_total{sink} in reg.
func deadLettered(t *testing.T, reg *prometheus.Registry, sink string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "meterline_sink_deadlettered_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "sink" && l.GetValue() == sink {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no meterline_sink_deadlettered_total{sink=%q}", sink)
	return 0
}

// TestCellSinkSetsAsideWhatUsageCellsCannotHold: a rated cell whose quantity overflows
// Decimal(38, 12) (two quantities of 26 nines added up), in a batch with valid ones, and a
// record that is no rated cell: the valid cells are in usage_cells, the two others are on the
// dead-letter topic as they were read, with headers naming the sink, the error and where they
// were read, and counted; the sink goes on with later records and commits its offsets.
func TestCellSinkSetsAsideWhatUsageCellsCannotHold(t *testing.T) {
	f := newSinkFixture(t)
	var values [][]byte
	for i := range 10 {
		qty := strconv.Itoa(i)
		if i == 4 {
			qty = "199999999999999999999999998"
		}
		values = append(values, marshal(t, batchOf(ratedCell("org", i, qty))))
	}
	values[7] = []byte{0xff, 0xff, 0xff} // no protobuf message
	recs := f.produce(t, f.topics.RatedBatch, values...)

	cells := clickhouse.NewCells(f.conn)
	cells.Clock = clock.NewManual(at)
	reg := prometheus.NewRegistry()
	cfg := f.sinkConfig(f.topics.RatedBatch)
	s, err := NewCells(cfg, cells, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, f.ctx, s.Run)
	f.waitFor(t, "the 8 valid cells", func() bool { return f.count(t, "usage_cells", "organization_id = 'org'") == 8 })
	if n := f.count(t, "usage_cells", "metric IN ('m4', 'm7')"); n != 0 {
		t.Errorf("%d rows of the cells set aside in usage_cells", n)
	}

	// Later records are written: nothing stalls.
	f.produce(t, f.topics.RatedBatch, marshal(t, batchOf(ratedCell("org", 10, "10"))), marshal(t, batchOf(ratedCell("org", 11, "11"))))
	f.waitFor(t, "the later cells", func() bool { return f.count(t, "usage_cells", "organization_id = 'org'") == 10 })
	stop()

	dead := f.deadLetters(t, 2)
	for i, want := range map[int]string{0: "Decimal(38, 12)", 1: "does not decode"} {
		if i >= len(dead) {
			break
		}
		r, src := dead[i], recs[[]int{4, 7}[i]]
		if string(r.Value) != string(src.Value) || string(r.Key) != "org" {
			t.Errorf("dead letter %d: not the record as it was read", i)
		}
		for key, value := range map[string]string{kafka.HeaderSink: "cellsink", kafka.HeaderSourceTopic: f.topics.RatedBatch,
			kafka.HeaderSourcePartition: strconv.Itoa(int(src.Partition)), kafka.HeaderSourceOffset: strconv.FormatInt(src.Offset, 10),
			"content-type": "application/x-protobuf"} {
			if got := header(r, key); got != value {
				t.Errorf("dead letter %d: header %s = %q, want %q", i, key, got, value)
			}
		}
		if e := header(r, kafka.HeaderError); !strings.Contains(e, want) {
			t.Errorf("dead letter %d: error %q, want it to say %q", i, e, want)
		}
	}
	if n := deadLettered(t, reg, "cellsink"); n != 2 {
		t.Errorf("meterline_sink_deadlettered_total{sink=cellsink} = %v, want 2", n)
	}
	// Written, set aside, then committed: the group has nothing left to read.
	lags, err := kadm.NewClient(f.cl).Lag(f.ctx, cfg.Group)
	if err != nil || lags[cfg.Group].Lag.Total() != 0 {
		t.Errorf("the sink's group lags %v (%v), want 0", lags[cfg.Group].Lag.Total(), err)
	}
}

// flakyCells is usage_cells behind a ClickHouse that is down for its first down inserts, and
// refuses (an exception about values, as ClickHouse raises) every insert that holds a cell of
// organization "refused".
type flakyCells struct {
	mu      sync.Mutex
	down    int
	inserts int
	cells   *clickhouse.Cells
}

func (c *flakyCells) Insert(ctx context.Context, rows []clickhouse.CellRow) error {
	c.mu.Lock()
	c.inserts++
	down := c.down > 0
	if down {
		c.down--
	}
	c.mu.Unlock()
	if down {
		return fmt.Errorf("insert usage_cells: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	}
	for _, r := range rows {
		if r.Cell.GetOrganizationId() == "refused" {
			return fmt.Errorf("insert usage_cells: %w", &ch.Exception{Code: 407, Name: "DB::Exception", Message: "Decimal math overflow"})
		}
	}
	return c.cells.Insert(ctx, rows)
}

// TestCellSinkRetriesWhileClickHouseIsDown: while ClickHouse cannot be reached, the sink
// retries and sets nothing aside; a cell ClickHouse refuses for its values is found among the
// batch's and set aside, and the others are written.
func TestCellSinkRetriesWhileClickHouseIsDown(t *testing.T) {
	f := newSinkFixture(t)
	var values [][]byte
	for i := range 20 {
		org := "org"
		if i == 13 {
			org = "refused"
		}
		values = append(values, marshal(t, batchOf(ratedCell(org, i, strconv.Itoa(i)))))
	}
	recs := f.produce(t, f.topics.RatedBatch, values...)
	real := clickhouse.NewCells(f.conn)
	real.Clock = clock.NewManual(at)
	w := &flakyCells{down: 4, cells: real}
	reg := prometheus.NewRegistry()
	s, err := NewCells(f.sinkConfig(f.topics.RatedBatch), w, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, f.ctx, s.Run)
	f.waitFor(t, "the 19 cells", func() bool { return f.count(t, "usage_cells", "organization_id = 'org'") == 19 })
	stop()
	dead := f.deadLetters(t, 1)
	if len(dead) == 1 && (header(dead[0], kafka.HeaderSourceOffset) != strconv.FormatInt(recs[13].Offset, 10) ||
		!strings.Contains(header(dead[0], kafka.HeaderError), "Decimal math overflow")) {
		t.Errorf("dead letter from offset %s with error %q, want the refused cell's", header(dead[0], kafka.HeaderSourceOffset),
			header(dead[0], kafka.HeaderError))
	}
	if n := deadLettered(t, reg, "cellsink"); n != 1 {
		t.Errorf("meterline_sink_deadlettered_total{sink=cellsink} = %v, want 1", n)
	}
	if w.inserts < 5 {
		t.Errorf("%d inserts: the 4 failures were not retried", w.inserts)
	}
}

// TestSinksSetAsideWhatTheirTablesCannotHold: the raw event sink sets aside an event whose
// quantity does not fit usage_events (26 nines and a 27th digit) and writes the others; every
// sink's dead letters are counted under its own label of one metric.
func TestSinksSetAsideWhatTheirTablesCannotHold(t *testing.T) {
	f := newSinkFixture(t)
	var values [][]byte
	for i := range 5 {
		ev := event(i)
		if i == 2 {
			ev.Document.MeasuredUsage[0].Quantity = "999999999999999999999999999"
		}
		values = append(values, marshal(t, ev))
	}
	f.produce(t, f.topics.Collected, values...)
	rej := marshal(t, &meterlinev1.RejectedUsage{Event: event(9), Code: "no_plan", Reason: "no plan", ProcessedMs: at.UnixMilli()})
	f.produce(t, f.topics.Rejected, rej, []byte{0xff})

	reg := prometheus.NewRegistry()
	raw, err := NewRaw(f.sinkConfig(f.topics.Collected), clickhouse.NewEvents(f.conn), zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	rejections, err := NewRejections(f.sinkConfig(f.topics.Rejected), clickhouse.NewRejections(f.conn), zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewCells(f.sinkConfig(f.topics.RatedBatch), clickhouse.NewCells(f.conn), zaptest.NewLogger(t), reg); err != nil {
		t.Fatalf("a third sink on the same registry: %v", err)
	}
	stopRaw, stopRejections := run(t, f.ctx, raw.Run), run(t, f.ctx, rejections.Run)
	f.waitFor(t, "4 events and a rejection", func() bool {
		return f.count(t, "usage_events", "1") == 4 && f.count(t, "usage_rejections", "1") == 1
	})
	stopRaw()
	stopRejections()
	if n := f.count(t, "usage_events", "id = '"+event(2).Id+"'"); n != 0 {
		t.Errorf("the event that does not fit is in usage_events")
	}
	dead := f.deadLetters(t, 2)
	sinks := map[string]bool{}
	for _, r := range dead {
		sinks[header(r, kafka.HeaderSink)] = true
	}
	if !sinks["rawsink"] || !sinks["rejectionsink"] {
		t.Errorf("dead letters from %v, want rawsink and rejectionsink", sinks)
	}
	for sink, want := range map[string]float64{"rawsink": 1, "rejectionsink": 1, "cellsink": 0} {
		if n := deadLettered(t, reg, sink); n != want {
			t.Errorf("meterline_sink_deadlettered_total{sink=%s} = %v, want %v", sink, n, want)
		}
	}
	if _, err := NewRaw(Config{Brokers: f.cfg.Kafka.Brokers, Topic: f.topics.Collected, Group: "g"}, clickhouse.NewEvents(f.conn),
		zap.NewNop(), prometheus.NewRegistry()); !errors.Is(err, errNoDeadLetter) {
		t.Errorf("a sink without a dead-letter topic: %v", err)
	}
}
