package collector_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/collector"
	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/testenv"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// countingPublisher counts the records handed to the Kafka publisher.
type countingPublisher struct {
	pub   *kafka.Publisher
	calls atomic.Int64
}

func (p *countingPublisher) PublishAt(ctx context.Context, ev *meterlinev1.UsageEvent, at time.Time) (time.Time, error) {
	p.calls.Add(1)
	return p.pub.PublishAt(ctx, ev, at)
}

// TestBrokerDownFailsFast cuts the real broker: the first POST runs into the produce timeout
// and is answered 503; the next ones are answered 503 with Retry-After without a record being
// handed to the producer (counted in meterline_collector_fast_failures_total), and the
// collector is not ready. Once the broker is back, the probe a second later is acknowledged:
// POSTs get 201 again and the collector is ready.
func TestBrokerDownFailsFast(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := testenv.Kafka(t, cfg)
	if err := kafka.EnsureTopics(ctx, admin, cfg.Kafka, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	cut := &testenv.Outage{}
	cl, err := kafka.NewClient(cfg.Kafka.Brokers, zap.NewNop(), cut.Dialer())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pub := &countingPublisher{pub: kafka.NewPublisher(cl, kafka.TopicsFor(cfg.Kafka.TopicPrefix).Collected)}
	clk := clock.NewManual(time.UnixMilli(storedAt))
	reg := prometheus.NewRegistry()
	c := collector.New(collector.Config{MaxBodyBytes: maxBody, ProduceTimeout: 3 * time.Second, Clock: clk},
		pub, &fakeArchive{}, nil, zap.NewNop(), reg)
	mux := http.NewServeMux()
	c.Register(mux)
	hs := httptest.NewServer(auth.AsAdmin(mux))
	defer hs.Close()
	s := server{hs, reg}
	doc := func(i int) string {
		return strings.Replace(sampleDoc, "04d61c7a4eae", "04d61c7a4e0"+string(rune('0'+i)), 1)
	}

	checkStatus(t, s.post(t, doc(0)), http.StatusCreated)

	cut.Cut()
	checkError(t, s.post(t, doc(1)), http.StatusServiceUnavailable, "unavailable")
	if n := pub.calls.Load(); n != 2 {
		t.Fatalf("%d records handed to the producer, want 2", n)
	}
	if err := c.Ready(ctx); err == nil {
		t.Error("ready while Kafka is down")
	}
	for i := 2; i < 5; i++ {
		r := s.post(t, doc(i))
		checkError(t, r, http.StatusServiceUnavailable, "unavailable")
		if r.header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
	if n := pub.calls.Load(); n != 2 {
		t.Errorf("%d records handed to the producer while Kafka was known down, want none after the first failure", n-2)
	}
	if n := testutil.ToFloat64(counter(t, reg, "meterline_collector_fast_failures_total")); n != 3 {
		t.Errorf("%v fast failures, want 3", n)
	}

	cut.Restore()
	// Before a probe is due, still answered at once.
	checkError(t, s.post(t, doc(2)), http.StatusServiceUnavailable, "unavailable")
	var r response
	for i := 0; ; i++ {
		clk.Advance(time.Second) // a probe is due
		if r = s.post(t, doc(2)); r.status == http.StatusCreated || ctx.Err() != nil || i == 20 {
			break
		}
	}
	checkStatus(t, r, http.StatusCreated)
	checkStatus(t, s.post(t, doc(3)), http.StatusCreated)
	if err := c.Ready(ctx); err != nil {
		t.Errorf("not ready once Kafka is back: %v", err)
	}
}

// counter finds the counter named name in reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: name},
				func() float64 { return mf.GetMetric()[0].GetCounter().GetValue() })
		}
	}
	t.Fatalf("no counter %s", name)
	return nil
}
