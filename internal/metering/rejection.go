package metering

import (
	"errors"
	"fmt"

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

// RejectCode classifies a rejection on the rejected-usage topic and in metrics.
type RejectCode string

// The rejection codes. Their strings are part of the rejected-usage topic's contract.
const (
	RejectTooLate      RejectCode = "too_late"      // beyond the slack or before the floor
	RejectFuture       RejectCode = "future"        // ends after the processing time allows
	RejectNoPlan       RejectCode = "no_plan"       // no resource type or metering plan
	RejectNoPrice      RejectCode = "no_price"      // the pricing plan prices a rated metric nowhere
	RejectFormulaError RejectCode = "formula_error" // a plan's formula failed on the document
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
	case errors.As(err, &ee):
		return RejectFormulaError, true
	}
	return "", false
}
