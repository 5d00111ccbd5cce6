package metering

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/plans"
)

// Rejection is usage the processor does not count, with the reason. Every rejected document
// is published with its reason; none is dropped silently.
type Rejection struct {
	Reason string
	Err    error
}

func (r *Rejection) Error() string { return r.Reason }
func (r *Rejection) Unwrap() error { return r.Err }

func reject(err error, format string, args ...any) *Rejection {
	return &Rejection{Reason: fmt.Sprintf(format, args...), Err: err}
}

// Causes of rejections for want of provisioning.
var (
	ErrNoPlan  = errors.New("no plan")
	ErrNoPrice = errors.New("no price")
)

// ErrOverflow is the cause of a rejection of usage that would leave a cell a quantity or a
// cost the cell tables cannot hold (Decimal(38, 12)).
var ErrOverflow = errors.New("overflow")

// RejectCode classifies a rejection on the rejected-usage topic and in metrics.
type RejectCode string

// The rejection codes. Their strings are part of the rejected-usage topic's contract.
const (
	RejectTooLate      RejectCode = "too_late"      // beyond the slack or before the floor
	RejectFuture       RejectCode = "future"        // ends after the processing time allows
	RejectNoPlan       RejectCode = "no_plan"       // no resource type or metering plan
	RejectNoPrice      RejectCode = "no_price"      // the pricing plan prices a rated metric nowhere
	RejectFormulaError RejectCode = "formula_error" // a plan's formula failed on the document
	RejectOverflow     RejectCode = "overflow"      // a cell's quantity or cost would not fit Decimal(38, 12)
)

// CodeOf classifies err; ok is false for an error that is not a rejection (a failure that
// must stop the processing rather than reject the document).
func CodeOf(err error) (code RejectCode, ok bool) {
	var ee *plans.EvalError
	switch {
	case errors.Is(err, ErrTooLate):
		return RejectTooLate, true
	case errors.Is(err, ErrFuture):
		return RejectFuture, true
	case errors.Is(err, ErrNoPlan):
		return RejectNoPlan, true
	case errors.Is(err, ErrNoPrice):
		return RejectNoPrice, true
	case errors.Is(err, ErrOverflow):
		return RejectOverflow, true
	case errors.As(err, &ee):
		return RejectFormulaError, true
	}
	return "", false
}

// storable reports whether v, a cell's quantity or cost, fits the cell tables' Decimal(38, 12)
// once rounded to plans.StoredScale places, as it is when it leaves the processor (a map, a
// time-based metric's state, is stored as JSON, and nil as nothing).
func storable(v any) bool {
	d, ok := v.(decimal.Decimal)
	if !ok {
		return true
	}
	e := int(d.Exponent())
	switch {
	case e >= -plans.StoredScale:
		return plans.FitsStored(d)
	case plans.BelowStoredLimit(d):
		return true // below 10^25: rounding the places cannot carry it to 10^26
	}
	return plans.FitsStored(d.RoundBank(plans.StoredScale))
}

// checkStored rejects the document whose changes are cells' when any of them leaves a cell a
// quantity or a cost that the cell tables cannot hold: a sink could not write it, and the
// document would be counted where no report can show it.
func checkStored(cells []*Cell) error {
	for _, c := range cells {
		what := ""
		switch {
		case !storable(c.docValue):
			what = "quantity"
		case !storable(c.docCost):
			what = "cost"
		default:
			continue
		}
		return reject(ErrOverflow, "the %s of metric %s would not fit Decimal(38, %d) (at most %d digits before the point) in %s",
			what, c.s.metric, plans.StoredScale, plans.StoredIntegerDigits, describe(c.Key()))
	}
	return nil
}

// describe names the cell of k for people: "the day instance cell of 2026-11-02T00:00:00Z of
// organization o, space s, consumer c, instance i, resource r, plan p".
func describe(k CellKey) string {
	var b strings.Builder
	fmt.Fprintf(&b, "the %s %s cell of %s of organization %s", k.Level, k.Scope,
		time.UnixMilli(k.From).UTC().Format(time.RFC3339), k.Org)
	for _, id := range [...]struct{ name, value string }{{"space", k.Space}, {"consumer", k.Consumer},
		{"instance", k.Instance}, {"resource", k.Resource}, {"plan", k.Plan}} {
		if id.value != "" {
			fmt.Fprintf(&b, ", %s %s", id.name, id.value)
		}
	}
	if k.Plan == "" {
		b.WriteString(" (every plan)")
	}
	return b.String()
}
