// Package nova is OpenStack Nova's os-simple-tenant-usage API (seed 002) as a view of
// Meterline's own data: the stored usage documents of resource openstack-compute, whether the
// Nova poller made them or a client posted them through the collector.
//
// A document of a server says the server ran for its instance_seconds from its start (the Nova
// poller writes one per server and closed window, starting at max(window start, launch)), with
// vcpu_seconds, memory_mb_seconds and local_gb_seconds beside it. A report over [start, stop)
// clips each document's run to the period, exactly, in decimal seconds: a server's hours are
// its clipped instance seconds / 3600, its vCPU, memory and disk usage its clipped measures /
// 3600. Unlike Nova, which multiplies a server's whole life by its current flavor, a resized
// server's totals therefore follow the flavor of each period; the flavor, vcpus, memory_mb and
// local_gb shown are those of its latest document.
package nova

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Resource is the resource id of the documents the view reads.
const Resource = "openstack-compute"

// MeasureNames are the measures of a document the view reads, in the order of Measures'
// fields: instance, vCPU, memory (MB) and local disk (GB) seconds, as the Nova poller writes
// them and the built-in openstack-compute plan meters them (docs/pollers.md).
var MeasureNames = [4]string{"instance_seconds", "vcpu_seconds", "memory_mb_seconds", "local_gb_seconds"}

// Measures are a document's (or a sum of documents') measured seconds.
type Measures struct {
	Seconds, VCPU, MemoryMB, LocalGB decimal.Decimal
}

func (m Measures) add(o Measures) Measures {
	return Measures{m.Seconds.Add(o.Seconds), m.VCPU.Add(o.VCPU), m.MemoryMB.Add(o.MemoryMB), m.LocalGB.Add(o.LocalGB)}
}

// Doc is one counted document of a server.
type Doc struct {
	Flavor         string
	StartMs, EndMs int64
	Measures
}

// runEnd is when the document's run ends: its start plus its instance seconds.
func (d Doc) runEnd() decimal.Decimal {
	return decimal.New(d.StartMs, -3).Add(d.Seconds)
}

// clip returns the document's measures within [from, to) (seconds since the epoch, exact to
// the microsecond): each
// scaled by the share of its run inside, exact when the measure is a multiple of the seconds
// (as the poller's are). A document without instance seconds has no run and counts nothing.
func (d Doc) clip(from, to decimal.Decimal) Measures {
	if !d.Seconds.IsPositive() {
		return Measures{}
	}
	start := decimal.New(d.StartMs, -3)
	lo, hi := decimal.Max(start, from), decimal.Min(d.runEnd(), to)
	if !hi.GreaterThan(lo) {
		return Measures{}
	}
	in := hi.Sub(lo)
	if in.Equal(d.Seconds) {
		return d.Measures
	}
	scale := func(v decimal.Decimal) decimal.Decimal { return v.Mul(in).DivRound(d.Seconds, 24) }
	return Measures{in, scale(d.VCPU), scale(d.MemoryMB), scale(d.LocalGB)}
}

// ServerRow is what the store knows of one server with usage in a period: its first
// document's start, its latest document (of all time, counted or not), the sum of its counted
// documents whose runs lie entirely within the period, and those that cross its edges (to be
// clipped here, exactly).
type ServerRow struct {
	Tenant, Instance string
	FirstStartMs     int64
	Latest           Doc
	Inside           Measures
	Edges            []Doc
}

// Query asks for the servers of Tenant ("" for every tenant) with counted documents whose
// runs may overlap [From, To) (epoch ms); the store may return more (their clipped usage is
// zero and they are left out). A store pages them in the view's order (Cursor): only
// Instance's rows when it is set, only those after After when it is set, at most Limit (0:
// all). A store may ignore Instance, After and Limit: the view sorts, skips and cuts again.
type Query struct {
	Tenant   string
	From, To int64
	Instance string
	After    *Cursor
	Limit    int
}

// Cursor is a server's place in the view's order: by first start, then instance id, then
// tenant.
type Cursor struct {
	FirstStartMs     int64
	Instance, Tenant string
}

func (r ServerRow) cursor() Cursor { return Cursor{r.FirstStartMs, r.Instance, r.Tenant} }

func (c Cursor) compare(o Cursor) int {
	return cmp.Or(cmp.Compare(c.FirstStartMs, o.FirstStartMs), strings.Compare(c.Instance, o.Instance),
		strings.Compare(c.Tenant, o.Tenant))
}

// window is what the view keeps of a store's answer to q: its rows in order, those after
// q.After (and of q.Instance) only, at most q.Limit.
func window(rows []ServerRow, q Query) []ServerRow {
	rows = slices.DeleteFunc(rows, func(r ServerRow) bool {
		return (q.Instance != "" && r.Instance != q.Instance) || (q.After != nil && r.cursor().compare(*q.After) <= 0)
	})
	slices.SortFunc(rows, func(a, b ServerRow) int { return a.cursor().compare(b.cursor()) })
	if q.Limit > 0 && len(rows) > q.Limit {
		rows = rows[:q.Limit]
	}
	return rows
}

// Store reads the servers of a period.
type Store interface {
	Servers(ctx context.Context, q Query) ([]ServerRow, error)
}

// Server is one server's usage in a period, as Nova lists it.
type Server struct {
	Tenant, Instance, Flavor string
	Started                  time.Time
	Ended                    *time.Time // nil while it runs
	VCPUs, MemoryMB, LocalGB int64
	Usage                    Measures // within the period
}

// servers turns the store's rows into the servers with usage in [from, to), in Nova's order
// (by launch, then uuid).
func servers(rows []ServerRow, from, to time.Time) ([]Server, error) {
	f, t := decimal.New(from.UnixMicro(), -6), decimal.New(to.UnixMicro(), -6)
	out := make([]Server, 0, len(rows))
	for _, r := range rows {
		u := r.Inside
		for _, d := range r.Edges {
			u = u.add(d.clip(f, t))
		}
		if !u.Seconds.IsPositive() {
			continue
		}
		s := Server{Tenant: r.Tenant, Instance: r.Instance, Flavor: r.Latest.Flavor,
			Started: time.UnixMilli(r.FirstStartMs).UTC(), Usage: u}
		if l := r.Latest; l.Seconds.IsPositive() {
			for _, f := range []struct {
				name string
				sum  decimal.Decimal
				to   *int64
			}{{"vcpus", l.VCPU, &s.VCPUs}, {"memory_mb", l.MemoryMB, &s.MemoryMB}, {"local_gb", l.LocalGB, &s.LocalGB}} {
				// Nova's flavor sizes are integers: the size is rounded, and one beyond int64
				// is an error, never a wrapped IntPart.
				n := f.sum.DivRound(l.Seconds, 0) // at exponent 0: its coefficient is the integer
				if !n.Coefficient().IsInt64() {
					return nil, fmt.Errorf("nova report: server %s: %s %s is beyond an int64 (%d)", r.Instance, f.name, n, int64(math.MaxInt64))
				}
				*f.to = n.IntPart()
			}
			// A run that ends before its document does: the server ended then (the poller's
			// document of a window ends 1 ms before the window; a running server's run reaches it).
			if end := l.runEnd(); end.LessThan(decimal.New(l.EndMs, -3)) {
				e := time.UnixMicro(end.Shift(6).IntPart()).UTC()
				s.Ended = &e
			}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Server) int {
		return cmp.Or(a.Started.Compare(b.Started), strings.Compare(a.Instance, b.Instance))
	})
	return out, nil
}
