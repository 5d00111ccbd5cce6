package sink

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// event returns the i-th test event: 7 organizations, ends spread over two months.
func event(i int) *meterlinev1.UsageEvent {
	end := time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute).UnixMilli()
	d := usage.Document{
		Start: end - 1000, End: end,
		OrganizationID: fmt.Sprintf("org-%d", i%7), SpaceID: "space", ConsumerID: "app:1",
		ResourceID: "object-storage", PlanID: "basic", ResourceInstanceID: fmt.Sprintf("ri-%d", i%50),
		MeasuredUsage: []usage.Measure{{Measure: "storage", Quantity: decimal.New(int64(i), -3)}},
	}
	return &meterlinev1.UsageEvent{Id: d.ID(), Source: "test", ReceivedMs: end, Document: d.Proto()}
}

// storedAt is the time the test stamps ev's record with: a minute after it was received.
func storedAt(ev *meterlinev1.UsageEvent) time.Time {
	return time.UnixMilli(ev.ReceivedMs).Add(time.Minute)
}

// checkOnce checks that usage_events holds want rows, with FINAL and without: the want
// documents written once each, no duplicate visible even before merges.
func checkOnce(t *testing.T, ctx context.Context, events *clickhouse.Events, want uint64) {
	t.Helper()
	for _, final := range []bool{false, true} {
		n, err := events.Count(ctx, "", final)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("usage_events (FINAL=%v) has %d rows, want the %d documents once each", final, n, want)
		}
	}
}

// TestReplayAfterCrashLeavesNoDuplicates writes through a sink that "crashes" after writing a
// batch but before committing its offsets, then lets a second sink of the same group replay
// the stream from the last commit: every document must be in usage_events exactly once, even
// without FINAL, including documents that were published twice.
func TestReplayAfterCrashLeavesNoDuplicates(t *testing.T) {
	env := testenv.Get(t)
	cfg := env.Config(t)
	// The records are stamped with their documents' end times (stored a minute after
	// received), months before today: the topic must keep them.
	cfg.Kafka.Retention = 100000 * time.Hour
	testenv.DeleteTopicsWithPrefix(t, cfg)
	conn := testenv.ClickHouse(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cl := testenv.Kafka(t, cfg)
	if err := kafka.EnsureTopics(ctx, cl, cfg.Kafka, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	topic := kafka.TopicsFor(cfg.Kafka.TopicPrefix).Collected
	pub := kafka.NewPublisher(cl, topic)
	const unique, repeated = 3000, 200
	for i := 0; i < unique+repeated; i++ {
		ev := event(i % unique) // the last 200 repeat documents 0..199
		if _, err := pub.PublishAt(ctx, ev, storedAt(ev)); err != nil {
			t.Fatal(err)
		}
	}

	events := clickhouse.NewEvents(conn)
	group := testenv.Name("sink")
	newSink := func() *Raw {
		s, err := NewRaw(Config{Brokers: cfg.Kafka.Brokers, Topic: topic, Group: group,
			DeadLetter: kafka.TopicsFor(cfg.Kafka.TopicPrefix).DeadLetter, BatchSize: 500, FlushInterval: 200 * time.Millisecond}, events, zaptest.NewLogger(t), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := newSink()
	first.afterWrite = testenv.CrashAt(3) // a crash between the third write and its commit
	if err := first.Run(ctx); !errors.Is(err, testenv.ErrCrash) {
		t.Fatalf("first sink: got %v, want the simulated crash", err)
	}
	written, err := events.Count(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if written == 0 || written >= unique {
		t.Fatalf("after the crash %d rows are written; the test needs some but not all", written)
	}

	second := newSink()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- second.Run(runCtx) }()
	// The wait is counted in polls on a manual clock (90 s of 200 ms polls), not read from the
	// wall clock.
	polls := clock.NewManual(clock.Instants[0])
	deadline := polls.Now().Add(90 * time.Second)
	for {
		n, err := events.Count(ctx, "", false)
		if err != nil {
			t.Fatal(err)
		}
		if n >= unique || polls.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
		polls.Advance(200 * time.Millisecond)
	}
	// Give a wrongly written duplicate the time to show up before counting for good.
	time.Sleep(time.Second)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("second sink: %v", err)
	}
	checkOnce(t, ctx, events, unique)
	if dups := testutil.ToFloat64(second.metrics.duplicates); dups < repeated {
		t.Errorf("second sink skipped %v duplicates, want at least the %d repeated documents", dups, repeated)
	}

	// A document reads back as it was written.
	want := event(42)
	got, err := events.Get(ctx, want.Id)
	if err != nil {
		t.Fatal(err)
	}
	if got.ReceivedMs != want.ReceivedMs || got.StoredMs != storedAt(want).UnixMilli() {
		t.Errorf("read back received %d, stored %d; want %d, %d (the record's timestamp)",
			got.ReceivedMs, got.StoredMs, want.ReceivedMs, storedAt(want).UnixMilli())
	}
	if got.Document.OrganizationID != want.Document.OrganizationId || !got.Document.MeasuredUsage[0].Quantity.Equal(decimal.New(42, -3)) {
		t.Errorf("read back %+v, want the document of %s", got.Document, want.Id)
	}
	if _, err := events.Get(ctx, "1-00000000000000000000000000000000"); !errors.Is(err, usage.ErrNoEvent) {
		t.Errorf("Get of an unknown id: %v, want ErrNoEvent", err)
	}
}
