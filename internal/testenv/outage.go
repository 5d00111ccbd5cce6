package testenv

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Outage is a broker outage as a client sees it: a client given Dialer dials the real broker
// through it, and while the outage lasts (Cut to Restore) every connection it dialed is closed
// and every new one refused.
type Outage struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

// Dialer is the kgo option that dials through o.
func (o *Outage) Dialer() kgo.Opt { return kgo.Dialer(o.dial) }

func (o *Outage) dial(ctx context.Context, network, host string) (net.Conn, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cut {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.AddrError{Err: "the test cut the broker", Addr: host}}
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		o.conns = append(o.conns, conn)
	}
	return conn, err
}

// Cut starts the outage: it closes every connection dialed so far and refuses new ones.
func (o *Outage) Cut() { o.set(true) }

// Restore ends the outage: the client dials the broker again.
func (o *Outage) Restore() { o.set(false) }

func (o *Outage) set(cut bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cut = cut
	for _, conn := range o.conns {
		conn.Close()
	}
	o.conns = nil
}

// CaughtUp waits until group has committed every record of the topics it consumes (its lag
// is 0). It fails the test when done, the end of the consumer's Run, comes first, or ctx ends.
func CaughtUp(t testing.TB, ctx context.Context, cl *kgo.Client, group string, done <-chan error) {
	t.Helper()
	adm := kadm.NewClient(cl)
	for {
		lags, err := adm.Lag(ctx, group)
		if l, ok := lags[group]; err == nil && ok && NoLag(l) {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned before group %s caught up: %v", group, err)
		case <-ctx.Done():
			t.Fatalf("group %s did not catch up: %v", group, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// NoLag reports whether l shows its group with a commit at the end of every partition it
// consumes. A partition whose commit or end offset the broker answered with an error (kadm
// gives it lag -1, which Total leaves out) is not caught up.
func NoLag(l kadm.DescribedGroupLag) bool {
	if l.Error() != nil || len(l.Lag) == 0 {
		return false
	}
	for _, ps := range l.Lag {
		for _, m := range ps {
			if m.Err != nil || m.Lag != 0 {
				return false
			}
		}
	}
	return true
}
