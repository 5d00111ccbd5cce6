package processor

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/testenv"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// cutter dials the real broker, and cuts every connection it dialed (and refuses new ones)
// while cut: a broker outage as the client sees it.
type cutter struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (c *cutter) dial(ctx context.Context, network, host string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errBrokerCut}
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		c.conns = append(c.conns, conn)
	}
	return conn, err
}

var errBrokerCut = &net.AddrError{Err: "the test cut the broker", Addr: "kafka"}

func (c *cutter) setCut(cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = cut
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

// TestBrokerOutage: the broker goes away right after a transaction's records were produced,
// for longer than the client's request timeout, the transaction's timeout and the time the
// processor waits for a transaction to flush and end, and comes back.
// Run does not return; the processor recovers (a new session, the state restored from the
// changelog), reports the failure through Ready meanwhile, and processes what is published
// after the return, with copies of what it had before: every document counts exactly once.
func TestBrokerOutage(t *testing.T) {
	f := newFixture(t, clock.Instants[0])
	now := f.at.UnixMilli()
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			d := objectDoc("org-outage", "i1", now-int64(i+1)*1000)
			f.publish(t, &meterlinev1.UsageEvent{Id: d.ID(), Source: "test", Document: d.Proto()}, now)
		}
	}
	publish(0, 5)

	group := testenv.Name("processor")
	cut := &cutter{}
	cfg := f.config(group, 0)
	cfg.KafkaOpts = []kgo.Opt{kgo.Dialer(cut.dial), kgo.TransactionTimeout(5 * time.Second)}
	reg := prometheus.NewRegistry()
	s, err := New(cfg, f.cat, f.cat, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	s.endTimeout = 10 * time.Second // the outage outlasts the flush of the transaction
	restored := make(chan struct{})
	var once sync.Once
	s.afterProduce = func() error {
		once.Do(func() {
			cut.setCut(true)
			go func() {
				// Longer than the request timeout (10s) and than the transaction timeout, which
				// the broker enforces every 10s.
				time.Sleep(25 * time.Second)
				cut.setCut(false)
				close(restored)
			}()
		})
		return nil
	}
	ctx, stop := context.WithCancel(f.ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	select {
	case <-restored:
	case err := <-done:
		t.Fatalf("Run returned during the outage: %v", err)
	}
	publish(3, 10) // three copies of documents published before

	adm := kadm.NewClient(f.cl)
	for {
		lags, err := adm.Lag(f.ctx, group)
		if l, ok := lags[group]; err == nil && ok && l.Error() == nil && len(l.Lag) > 0 && l.Lag.Total() == 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned after the outage: %v", err)
		case <-f.ctx.Done():
			t.Fatal("the processor did not catch up after the outage")
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := s.Ready(f.ctx); err != nil {
		t.Errorf("not ready after catching up: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v, want nil", err)
	}
	if n := testutil.ToFloat64(s.metrics.recoveries); n < 1 {
		t.Errorf("%v Kafka failures recovered from, want the outage's", n)
	}

	month, _ := metering.Month.Period(now - 1000)
	want := metering.CellKey{Scope: metering.ScopeOrganization, Org: "org-outage", Resource: "object-storage",
		Plan:   metering.PlanKey("basic", "basic-object-storage", "object-rating-plan", "object-pricing-basic"),
		Metric: "thousand_light_api_calls", Level: metering.Month, From: month}
	if v, ok := committedCells(t, f)[want].(decimal.Decimal); !ok || !v.Equal(decimal.NewFromInt(10)) {
		t.Errorf("thousands of light API calls this month = %v, want 10 (the ten distinct documents once each)", v)
	}
}
