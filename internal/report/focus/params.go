package focus

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/usage"
)

// Formats an export is written in.
const (
	FormatCSV     = "csv"
	FormatParquet = "parquet"
)

// Params are an export's query parameters, checked.
type Params struct {
	// Start and End are the billing period [Start, End): a UTC calendar month.
	Start, End time.Time
	// AsOf is the export's time (epoch ms): the cells as processed and written by then, and
	// the time the summaries and charges are computed at.
	AsOf int64
	// Organization or Account (exactly one) is the scope.
	Organization, Account string
	Format                string
}

// MaxQueryBytes bounds an export's query string, before it is parsed.
const MaxQueryBytes = 2048

// maxIDBytes bounds the ids of the scope, as the collector bounds the ids it accepts.
const maxIDBytes = 256

var known = []string{"billing_period", "organization_id", "account_id", "time", "format"}

// ParseParams reads an export's query string:
//
//	billing_period   YYYY-MM, the UTC month billed (required)
//	organization_id  the organization, or
//	account_id       every organization of the account (exactly one of the two)
//	time             the export's time, as every report's (epoch ms or RFC 3339; default now)
//	format           csv (default) or parquet
//
// Every problem is named at once: fault.Invalid with one fault.Problem per field (an unknown
// or repeated parameter too); a query longer than MaxQueryBytes is fault.TooLarge before it is
// parsed. A billing period that starts after the export's time is invalid (it has no usage
// yet, and an export of it would change).
func ParseParams(raw string, r *report.Reporter) (Params, error) {
	if len(raw) > MaxQueryBytes {
		return Params{}, &fault.Error{Kind: fault.KindTooLarge, Message: "query too large",
			Problems: []fault.Problem{{Field: "", Reason: fmt.Sprintf("%d bytes, more than %d", len(raw), MaxQueryBytes)}}}
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return Params{}, fault.Invalid("invalid export parameters", fault.Problem{Reason: "not a URL query: " + err.Error()})
	}
	var problems []fault.Problem
	bad := func(field, value, reason string) {
		pr := fault.Problem{Field: field, Reason: reason}
		if value != "" {
			pr.Value = usage.Echo(value)
		}
		problems = append(problems, pr)
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range q {
			if !yield(k) {
				return
			}
		}
	}) {
		switch {
		case !slices.Contains(known, k):
			bad(k, "", "unknown parameter (known: billing_period, organization_id, account_id, time, format)")
		case len(q[k]) > 1:
			bad(k, "", "given more than once")
		}
	}
	var p Params
	period := q.Get("billing_period")
	if period == "" {
		bad("billing_period", "", "required: the UTC month, YYYY-MM")
	} else if m, err := time.Parse("2006-01", period); err != nil || m.Year() < 1970 {
		bad("billing_period", period, "not a month YYYY-MM from 1970-01")
	} else {
		p.Start, p.End = m.UTC(), m.UTC().AddDate(0, 1, 0)
	}
	p.Organization, p.Account = q.Get("organization_id"), q.Get("account_id")
	switch {
	case p.Organization == "" && p.Account == "":
		bad("organization_id", "", "required: organization_id or account_id")
	case p.Organization != "" && p.Account != "":
		bad("account_id", p.Account, "give organization_id or account_id, not both")
	}
	for field, id := range map[string]string{"organization_id": p.Organization, "account_id": p.Account} {
		switch {
		case len(id) > maxIDBytes:
			bad(field, id, fmt.Sprintf("%d bytes, more than the %d an id may have", len(id), maxIDBytes))
		case !utf8.ValidString(id):
			bad(field, id, "not UTF-8")
		}
	}
	switch p.Format = q.Get("format"); p.Format {
	case "":
		p.Format = FormatCSV
	case FormatCSV, FormatParquet:
	default:
		bad("format", p.Format, "not csv nor parquet")
	}
	t, err := r.ParseTime(q.Get("time"))
	var fe *fault.Error
	switch {
	case errors.As(err, &fe):
		problems = append(problems, fe.Problems...)
	case err != nil:
		return Params{}, err
	default:
		p.AsOf = t
		if !p.Start.IsZero() && p.Start.UnixMilli() > t {
			bad("billing_period", period, "starts after the export's time")
		}
	}
	if len(problems) > 0 {
		slices.SortStableFunc(problems, func(a, b fault.Problem) int { return strings.Compare(a.Field, b.Field) })
		return Params{}, fault.Invalid("invalid export parameters", problems...)
	}
	return p, nil
}
