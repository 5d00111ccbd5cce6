// Test support: cells of a running Cloud Foundry app or service instance, for the view's tests
// and benchmarks and those over ClickHouse. `make lint`'s dead-code check passes over this file,
// since only tests reach it.

package pcf

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/report"
)

// Run is a time-based consumption: c (GB, or instances) of metric from Since to Until (zero:
// still running at Now), priced at Price, in the cell of Space, Consumer, Instance, Resource
// and plan key Plan.
type Run struct {
	Space, Consumer, Instance, Resource, Plan, Metric string
	C, Price                                          decimal.Decimal
	Since, Until, Now                                 time.Time
}

// Cells are r's instance-scope day and month cells as the processor leaves them after the
// carry, each processed at its period's start or at Since: consumed c·(from+to−2·start) for
// what runs from start, less c·(from+to−2·end) for a stop at end, as the built-in plans'
// accumulate formula gives.
func (r Run) Cells() []report.Cell {
	var out []report.Cell
	for _, level := range []metering.Level{metering.Day, metering.Month} {
		p, _ := level.Period(r.Since.UnixMilli())
		for {
			from, to := level.Period(p)
			start := max(from, r.Since.UnixMilli())
			consumed, consuming := r.C.Mul(decimal.NewFromInt(from+to-2*start)), r.C
			stops := !r.Until.IsZero() && r.Until.UnixMilli() <= to
			if stops {
				consumed = consumed.Sub(r.C.Mul(decimal.NewFromInt(from + to - 2*r.Until.UnixMilli())))
				consuming = decimal.Zero
			}
			qty, _ := report.ValueOf(map[string]any{"consuming": consuming, "consumed": consumed, "since": start})
			cost, _ := report.ValueOf(map[string]any{"consuming": consuming, "consumed": consumed, "price": r.Price})
			out = append(out, report.Cell{Scope: metering.ScopeInstance, Space: r.Space, Consumer: r.Consumer, Instance: r.Instance,
				Resource: r.Resource, Plan: r.Plan, Metric: r.Metric, Level: level, From: from, Quantity: qty, Cost: cost, Processed: start})
			if stops || (r.Until.IsZero() && to > r.Now.UnixMilli()) {
				break
			}
			p = to
		}
	}
	return out
}
