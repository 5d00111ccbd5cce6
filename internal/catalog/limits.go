package catalog

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/usage"
)

// Limits of what the provisioning API stores. Every record is kept forever in the compacted
// provisioning topic and in the memory of every process that follows it, so each string and
// list is bounded on input (docs/plans.md lists them). Records already in a topic are applied
// as they are.
const (
	// MaxIDLength bounds every id: accounts, organizations, resource ids and types, plan
	// ids, mappings' ids, measure and metric names.
	MaxIDLength = 256
	// MaxNameLength bounds an account's name and a unit.
	MaxNameLength = 256
	// MaxOrganizations bounds the organizations of one account.
	MaxOrganizations = 1000
	// MaxPlanEntries bounds the measures and the metrics of a plan, and the prices of a
	// pricing metric.
	MaxPlanEntries = 100
	// MaxFormulaLength bounds a plan's formula, in bytes.
	MaxFormulaLength = 4096
	// MaxKeyOrganizations bounds the organizations an API key names.
	MaxKeyOrganizations = 1000
	// MaxKeyScopes bounds the scopes of an API key.
	MaxKeyScopes = 100
	// MaxScopeLength bounds a scope's name: abacus.usage.<resource id>.write with an id of
	// MaxIDLength bytes.
	MaxScopeLength = MaxIDLength + len("abacus.usage..write")
)

// CheckID appends to ps the problem of an id s in field, if any: it must be 1 to MaxIDLength
// bytes and pass usage.IDReason. The problem echoes a short prefix of s.
func CheckID(ps []fault.Problem, field, s string) []fault.Problem {
	if len(s) > MaxIDLength {
		return append(ps, fault.Problem{Field: field, Value: usage.Echo(s), Reason: fmt.Sprintf("is longer than %d bytes", MaxIDLength)})
	}
	if reason := usage.IDReason(s); reason != "" {
		return append(ps, fault.Problem{Field: field, Value: usage.Echo(s), Reason: reason})
	}
	return ps
}

// CheckText appends to ps the problem of a text s in field (a name, a unit, a formula), if
// any: at most max bytes and no control character but a tab or a line break. It may be empty.
func CheckText(ps []fault.Problem, field, s string, max int) []fault.Problem {
	if len(s) > max {
		return append(ps, fault.Problem{Field: field, Value: usage.Echo(s), Reason: fmt.Sprintf("is longer than %d bytes", max)})
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' }) >= 0 {
		return append(ps, fault.Problem{Field: field, Value: usage.Echo(s), Reason: "must not hold a control character (such as NUL)"})
	}
	return ps
}

// checkCount appends to ps the problem of a list of n entries in field, if it has more than
// max.
func checkCount(ps []fault.Problem, field string, n, max int) ([]fault.Problem, bool) {
	if n > max {
		return append(ps, fault.Problem{Field: field, Reason: fmt.Sprintf("has %d entries, more than %d", n, max)}), false
	}
	return ps, true
}

// AccountProblems returns the problems of an account's strings and lists (the rules that need
// no other record; the provisioning API checks the others): its id, its name, at most
// MaxOrganizations organization ids, a pricing country of three capital letters (an ISO 3166
// alpha-3 code such as USA, or a pseudo-country of the plans such as EUR) and, when given
// wrongly, a short echo of each.
func AccountProblems(a Account) []fault.Problem {
	ps := CheckID(nil, "account_id", a.AccountID)
	ps = CheckText(ps, "name", a.Name, MaxNameLength)
	switch {
	case a.PricingCountry == "":
		ps = append(ps, fault.Problem{Field: "pricing_country", Reason: "is required (the country of the pricing plans' prices, such as USA)"})
	case !countryCode.MatchString(a.PricingCountry):
		ps = append(ps, fault.Problem{Field: "pricing_country", Value: usage.Echo(a.PricingCountry),
			Reason: "must be three capital letters: an ISO 3166 alpha-3 code such as USA, or a country of the pricing plans"})
	}
	if ps, ok := checkCount(ps, "organizations", len(a.Organizations), MaxOrganizations); !ok {
		return ps
	}
	for i, o := range a.Organizations {
		ps = CheckID(ps, fmt.Sprintf("organizations[%d]", i), o)
	}
	return ps
}

// AllOrganizations in the organizations of an API key grants every organization.
const AllOrganizations = "*"

// APIKeyProblems returns the problems of an API key's strings and lists: its id, name, hash
// (64 hex digits), at least one and at most MaxKeyOrganizations organizations (ids, or "*"),
// at least one and at most MaxKeyScopes scopes of at most MaxScopeLength bytes without a
// space or a control character (which scopes mean something is internal/auth's concern), and
// times that are not negative, an expiry after the creation.
func APIKeyProblems(k APIKey) []fault.Problem {
	ps := CheckID(nil, "id", k.ID)
	ps = CheckText(ps, "name", k.Name, MaxNameLength)
	if !keyHash.MatchString(k.Hash) {
		ps = append(ps, fault.Problem{Field: "hash", Reason: "must be the 64 hex digits of a SHA-256"})
	}
	if len(k.Organizations) == 0 {
		ps = append(ps, fault.Problem{Field: "organizations", Reason: `is required: the organizations the key may use, or ["*"] for all`})
	}
	var ok bool
	if ps, ok = checkCount(ps, "organizations", len(k.Organizations), MaxKeyOrganizations); ok {
		for i, o := range k.Organizations {
			if o != AllOrganizations {
				ps = CheckID(ps, fmt.Sprintf("organizations[%d]", i), o)
			}
		}
	}
	if len(k.Scopes) == 0 {
		ps = append(ps, fault.Problem{Field: "scopes", Reason: "is required: what the key may do, such as abacus.usage.write"})
	}
	if ps, ok = checkCount(ps, "scopes", len(k.Scopes), MaxKeyScopes); ok {
		for i, s := range k.Scopes {
			field := fmt.Sprintf("scopes[%d]", i)
			if len(s) == 0 || len(s) > MaxScopeLength || strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
				ps = append(ps, fault.Problem{Field: field, Value: usage.Echo(s),
					Reason: fmt.Sprintf("must be 1 to %d bytes without a space or a control character", MaxScopeLength)})
			}
		}
	}
	if k.Created < 0 {
		ps = append(ps, fault.Problem{Field: "created", Value: k.Created, Reason: "must be epoch milliseconds, not negative"})
	}
	if k.Expires != 0 && k.Expires <= k.Created {
		ps = append(ps, fault.Problem{Field: "expires", Value: k.Expires, Reason: "must be later than the key's creation"})
	}
	return ps
}

var keyHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

var countryCode = regexp.MustCompile(`^[A-Z]{3}$`)

// PlanProblems returns the problems of a plan document's strings and lists, checked before
// it is compiled: its plan id, at most MaxPlanEntries measures, metrics and prices per
// metric, names as ids, units and types as texts, formulas of at most MaxFormulaLength bytes.
func PlanProblems(doc plans.Document) []fault.Problem {
	ps := CheckID(nil, "plan_id", doc.ID())
	metric := func(i int) string { return fmt.Sprintf("metrics[%d]", i) }
	formulas := func(ps []fault.Problem, at string, fs map[string]string) []fault.Problem {
		for _, name := range slices.Sorted(maps.Keys(fs)) {
			ps = CheckText(ps, at+"."+name, fs[name], MaxFormulaLength)
		}
		return ps
	}
	var ok bool
	switch p := doc.(type) {
	case *plans.MeteringPlan:
		if ps, ok = checkCount(ps, "measures", len(p.Measures), MaxPlanEntries); ok {
			for i, m := range p.Measures {
				at := fmt.Sprintf("measures[%d]", i)
				ps = CheckID(ps, at+".name", m.Name)
				ps = CheckText(ps, at+".unit", m.Unit, MaxNameLength)
			}
		}
		if ps, ok = checkCount(ps, "metrics", len(p.Metrics), MaxPlanEntries); ok {
			for i, m := range p.Metrics {
				ps = CheckID(ps, metric(i)+".name", m.Name)
				ps = CheckText(ps, metric(i)+".unit", m.Unit, MaxNameLength)
				ps = CheckText(ps, metric(i)+".type", m.Type, MaxNameLength)
				ps = formulas(ps, metric(i), map[string]string{"meter": m.Meter, "accumulate": m.Accumulate, "aggregate": m.Aggregate, "summarize": m.Summarize, "carry": m.Carry})
			}
		}
	case *plans.RatingPlan:
		if ps, ok = checkCount(ps, "metrics", len(p.Metrics), MaxPlanEntries); ok {
			for i, m := range p.Metrics {
				ps = CheckID(ps, metric(i)+".name", m.Name)
				ps = formulas(ps, metric(i), map[string]string{"rate": m.Rate, "charge": m.Charge})
			}
		}
	case *plans.PricingPlan:
		if ps, ok = checkCount(ps, "metrics", len(p.Metrics), MaxPlanEntries); ok {
			for i, m := range p.Metrics {
				ps = CheckID(ps, metric(i)+".name", m.Name)
				var ok bool
				if ps, ok = checkCount(ps, metric(i)+".prices", len(m.Prices), MaxPlanEntries); ok {
					for j, pr := range m.Prices {
						ps = CheckID(ps, fmt.Sprintf("%s.prices[%d].country", metric(i), j), pr.Country)
					}
				}
			}
		}
	}
	return ps
}
