package abacus

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/meterline/meterline/internal/fault"
)

// MaxIDBytes bounds every id a report is asked for (organization, resource instance,
// consumer and plan ids, in URLs and GraphQL arguments alike): the collector accepts ids of 1
// to 256 characters, so a longer one names nothing. It is checked before any query reaches the
// store, so that an id of megabytes is a 400 naming its field, never a store error.
const MaxIDBytes = 256

// checkID returns a problem for an id that cannot name anything: empty when required, longer
// than MaxIDBytes, or not UTF-8. The value shown is cut to MaxIDBytes.
func checkID(field, id string, required bool) error {
	var reason string
	switch {
	case id == "" && required:
		reason = "required"
	case len(id) > MaxIDBytes:
		reason = fmt.Sprintf("%d bytes, more than the %d an id may have", len(id), MaxIDBytes)
	case !utf8.ValidString(id):
		reason = "not UTF-8"
	default:
		return nil
	}
	shown := id
	if len(shown) > MaxIDBytes {
		shown = shown[:MaxIDBytes] + "..."
	}
	return fault.Invalid("invalid report id", fault.Problem{Field: field, Value: shown, Reason: reason})
}

// checkInstanceKey checks every id of an instance key; a plan id and a metering plan id are
// required (usage is always metered under one), a rating and a pricing plan may be absent.
func checkInstanceKey(k InstanceKey) error {
	var problems []fault.Problem
	for _, err := range []error{
		checkID("organization_id", k.Org, true),
		checkID("resource_instance_id", k.Instance, true),
		checkID("consumer_id", k.Consumer, true),
		checkID("plan_id", k.PlanID, true),
		checkID("metering_plan_id", k.MeteringPlanID, false),
		checkID("rating_plan_id", k.RatingPlanID, false),
		checkID("pricing_plan_id", k.PricingPlanID, false),
	} {
		var fe *fault.Error
		if errors.As(err, &fe) {
			problems = append(problems, fe.Problems...)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fault.Invalid("invalid report id", problems...)
}
