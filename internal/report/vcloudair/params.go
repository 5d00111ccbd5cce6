package vcloudair

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/usage"
)

// Params are the query parameters of the usage and cost routes (vCloud Air's: start and end,
// or start and duration, or duration=BillToDate; month and year; level) and Meterline's
// rollup.
type Params struct {
	// Start and End, when HasSpan, are the span asked (whole hours, UTC).
	Start, End time.Time
	HasSpan    bool
	// Month and Year, when HasMonth, are the billing month asked.
	Month, Year int
	HasMonth    bool
	// Level is "self" (the entity rolled up) or "one" (one level down), "" for the route's
	// default.
	Level  string
	Rollup Rollup
}

var isoDuration = regexp.MustCompile(`^P(?:(\d{1,2})M)?(?:(\d{1,3})D)?(?:T(\d{1,4})H)?$`)

// MaxSpan bounds a span: 12 billing months and a day.
const MaxSpan = 367 * 24 * time.Hour

func wholeHour(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if t = t.UTC(); !t.Equal(t.Truncate(time.Hour)) {
		return time.Time{}, fmt.Errorf("not a whole hour")
	}
	return t, nil
}

// ParseParams reads q, naming every bad parameter. durations are BillToDate (billable only:
// everything not billed, the default) or an ISO 8601 duration of months, days and hours after
// start.
func ParseParams(q url.Values, billable bool) (Params, error) {
	var p Params
	var problems []fault.Problem
	bad := func(field, value, reason string) {
		problems = append(problems, fault.Problem{Field: field, Value: usage.Echo(value), Reason: reason})
	}
	for k, vs := range q {
		if len(vs) > 1 {
			bad(k, vs[1], "given more than once")
		}
	}
	start, end, dur := q.Get("start"), q.Get("end"), q.Get("duration")
	if start != "" {
		t, err := wholeHour(start)
		if err != nil {
			bad("start", start, "an ISO 8601 UTC time truncated to the hour (2026-12-01T10:00:00.000Z)")
		}
		p.Start, p.HasSpan = t, true
	}
	switch {
	case end != "" && dur != "":
		bad("duration", dur, "give end or duration, not both")
	case end != "":
		t, err := wholeHour(end)
		if err != nil {
			bad("end", end, "an ISO 8601 UTC time truncated to the hour (2026-12-01T11:00:00.000Z)")
		} else if start == "" {
			bad("end", end, "needs start")
		} else if !t.After(p.Start) {
			bad("end", end, "must be after start")
		}
		p.End = t
	case dur == "BillToDate" && billable:
		if start != "" {
			bad("duration", dur, "BillToDate starts where billing stopped: give no start")
		}
	case dur != "":
		m := isoDuration.FindStringSubmatch(dur)
		if m == nil || dur == "P" || dur == "PT" {
			reason := "an ISO 8601 duration of months, days and hours (P1M, P7D, PT12H)"
			if billable {
				reason += ", or BillToDate"
			}
			bad("duration", dur, reason)
			break
		}
		if start == "" {
			bad("duration", dur, "needs start")
			break
		}
		n := func(s string) int { v, _ := strconv.Atoi(s); return v }
		p.End = p.Start.AddDate(0, n(m[1]), n(m[2])).Add(time.Duration(n(m[3])) * time.Hour)
		if !p.End.After(p.Start) {
			bad("duration", dur, "must be longer than zero")
		}
	case start != "":
		bad("end", "", "start needs end or duration")
	}
	if p.HasSpan && p.End.Sub(p.Start) > MaxSpan {
		bad("end", end+dur, "a span of at most 367 days")
	}
	month, year := q.Get("month"), q.Get("year")
	if month != "" || year != "" {
		m, err1 := strconv.Atoi(month)
		y, err2 := strconv.Atoi(year)
		if err1 != nil || m < 1 || m > 12 {
			bad("month", month, "a month from 1 to 12, with year")
		}
		if err2 != nil || y < 2000 || y > 9999 {
			bad("year", year, "a year from 2000 to 9999, with month")
		}
		if p.HasSpan || dur != "" {
			bad("month", month, "give month and year, or a span (start and end or duration), not both")
		}
		p.Month, p.Year, p.HasMonth = m, y, true
	}
	switch l := q.Get("level"); l {
	case "", "self", "one":
		p.Level = l
	default:
		bad("level", l, "self (the entity rolled up) or one (one level down)")
	}
	switch r := Rollup(q.Get("rollup")); r {
	case "":
		p.Rollup = Span
	case Span, Hour, Day, Month:
		p.Rollup = r
	default:
		bad("rollup", string(r), "span, hour, day or month")
	}
	if len(problems) > 0 {
		return Params{}, fault.Invalid("bad request", problems...)
	}
	return p, nil
}
