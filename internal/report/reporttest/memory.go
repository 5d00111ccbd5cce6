// Package reporttest holds what tests of the report core and of its views share: Memory, an
// in-memory report.Store, and Store, the behaviour suite every report.Store passes (the
// in-memory one here, clickhouse.Cells in internal/clickhouse).
package reporttest

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/report"
)

// Version is one committed value of a cell as the cell sink writes it: of organization Org,
// processed at Cell.Processed, written at Visible (epoch ms), read from the rated topic at
// Offset (every version of a cell is in one partition).
type Version struct {
	Org     string
	Cell    report.Cell
	Visible int64
	Offset  int64
}

// Memory is a report.Store over versions in memory; it is safe for concurrent use.
type Memory struct {
	mu       sync.Mutex
	versions []Version
}

var _ report.Store = (*Memory)(nil)

// Write adds versions.
func (m *Memory) Write(vs ...Version) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.versions = append(m.versions, vs...)
}

// cellID is what names a cell of an organization.
type cellID struct {
	scope                                             metering.Scope
	space, consumer, instance, resource, plan, metric string
	level                                             metering.Level
	from                                              int64
}

// Read returns, per cell q selects, the version processed and written by q.AsOf with the
// greatest processed time, of two processed in the same millisecond the greater offset.
func (m *Memory) Read(_ context.Context, q report.Query) ([]report.Cell, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	latest := map[cellID]Version{}
	var order []cellID
	for _, v := range m.versions {
		c := v.Cell
		switch {
		case v.Org != q.Org, c.Processed > q.AsOf, v.Visible > q.AsOf,
			len(q.Scopes) > 0 && !slices.Contains(q.Scopes, c.Scope),
			len(q.Periods) > 0 && !slices.Contains(q.Periods, report.Period{Level: c.Level, From: c.From}),
			q.Instance != "" && (c.Instance != q.Instance || c.Consumer != q.Consumer),
			q.Plan != "" && c.Plan != q.Plan,
			q.Plan == "" && q.PlanID != "" && !strings.HasPrefix(c.Plan, q.PlanID+"/"):
			continue
		}
		k := cellID{c.Scope, c.Space, c.Consumer, c.Instance, c.Resource, c.Plan, c.Metric, c.Level, c.From}
		prev, ok := latest[k]
		if !ok {
			order = append(order, k)
		}
		if !ok || prev.Cell.Processed < c.Processed || prev.Cell.Processed == c.Processed && prev.Offset < v.Offset {
			latest[k] = v
		}
	}
	out := make([]report.Cell, 0, len(latest))
	for _, k := range order {
		out = append(out, latest[k].Cell)
	}
	return out, nil
}
