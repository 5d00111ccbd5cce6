package vcloudair

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/clickhouse/vcarows"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/web"
	"github.com/meterline/meterline/internal/report"
)

// The answers in the shapes of vCloud Air's type reference (metering.xsd, the lowerCamelCase
// JSON of shared/upstream-samples/vcloud-air): numbers are JSON numbers, rounded once to
// plans.Round's 12 places; times are hour-truncated ISO 8601 UTC with milliseconds.

// TimeFormat is vCloud Air's time format.
const TimeFormat = "2006-01-02T15:04:05.000Z"

func vcaTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// BillableJSON is one billable of an entity.
type BillableJSON struct {
	Name     string         `json:"name"`
	Usage    report.Number  `json:"usage"`
	Unit     string         `json:"unit"`
	Rate     *report.Number `json:"rate,omitempty"`
	Cost     report.Number  `json:"cost"`
	Currency string         `json:"currency"`
}

// BillableList is an entity's billables.
type BillableList struct {
	Billable []BillableJSON `json:"billable"`
}

// EntityJSON is an entity of a usage answer; ServiceInstanceID and L2ID place the entities of
// a service group's billed usage.
type EntityJSON struct {
	ID                string       `json:"id"`
	Name              string       `json:"name"`
	EntityType        string       `json:"entityType"`
	ServiceInstanceID string       `json:"serviceInstanceId,omitempty"`
	L2ID              string       `json:"l2Id,omitempty"`
	BillableList      BillableList `json:"billableList"`
}

// PeriodJSON is one rollup period of a billable-usage answer.
type PeriodJSON struct {
	StartTime string       `json:"startTime"`
	EndTime   string       `json:"endTime"`
	Entity    []EntityJSON `json:"entity"`
}

// UsageJSON is a BilledUsage (billable) or BillableUsage (billed) answer: the totals of the
// span, and with a rollup other than span its periods.
type UsageJSON struct {
	Month     int          `json:"month,omitempty"`
	Year      int          `json:"year,omitempty"`
	StartTime string       `json:"startTime"`
	EndTime   string       `json:"endTime"`
	Entity    []EntityJSON `json:"entity"`
	Periods   []PeriodJSON `json:"periods,omitempty"`
}

// entities turns lines (of one period, or all periods: summed) into entities, by id. A
// billable of no usage and no cost (a metric of the plan the entity did not use: every metric
// of a document's plan has a cell) is left out, and an entity left without billables.
func entities(lines []Rated, currency string) []EntityJSON {
	type acc struct {
		e     EntityJSON
		names []string
		by    map[string]*Rated
	}
	byNode := map[Node]*acc{}
	var order []Node
	for _, l := range lines {
		a, ok := byNode[l.Node]
		if !ok {
			a = &acc{e: EntityJSON{ID: l.Node.ID, Name: l.Node.ID, EntityType: l.Node.Type, ServiceInstanceID: l.Node.SID, L2ID: l.Node.L2},
				by: map[string]*Rated{}}
			byNode[l.Node] = a
			order = append(order, l.Node)
		}
		s, ok := a.by[l.Metric]
		if !ok {
			c := l
			a.by[l.Metric], a.names = &c, append(a.names, l.Metric)
			continue
		}
		s.Quantity, s.Cost = s.Quantity.Add(l.Quantity), s.Cost.Add(l.Cost)
	}
	slices.SortFunc(order, func(a, b Node) int {
		return compareStrings([]string{a.SID, a.L2, a.ID}, []string{b.SID, b.L2, b.ID})
	})
	out := make([]EntityJSON, 0, len(order))
	for _, n := range order {
		a := byNode[n]
		slices.Sort(a.names)
		a.e.BillableList.Billable = make([]BillableJSON, 0, len(a.names))
		for _, m := range a.names {
			l := a.by[m]
			if l.Quantity.IsZero() && l.Cost.IsZero() {
				continue // a metric of the plan the entity did not use (the meter gives 0)
			}
			b := BillableJSON{Name: m, Usage: report.Number(l.Quantity), Unit: l.Unit, Cost: report.Number(l.Cost), Currency: currency}
			if l.Rate != nil {
				r := report.Number(*l.Rate)
				b.Rate = &r
			}
			a.e.BillableList.Billable = append(a.e.BillableList.Billable, b)
		}
		if len(a.e.BillableList.Billable) > 0 {
			out = append(out, a.e)
		}
	}
	return out
}

func compareStrings(a, b []string) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// periods groups lines by their rollup period, each period ending at the next rollup
// boundary (or the span's end).
func periods(lines []Rated, rollup Rollup, ann int, end time.Time, currency string) []PeriodJSON {
	out := []PeriodJSON{}
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && lines[j].Period.Equal(lines[i].Period) {
			j++
		}
		from := lines[i].Period
		var to time.Time
		switch rollup {
		case Hour:
			to = from.Add(time.Hour)
		case Day:
			to = from.Add(24 * time.Hour)
		default:
			_, _, _, to = monthOf(ann, from)
		}
		if end.Before(to) {
			to = end
		}
		out = append(out, PeriodJSON{StartTime: vcaTime(from), EndTime: vcaTime(to), Entity: entities(lines[i:j], currency)})
		i = j
	}
	return out
}

// ServiceGroupJSON is a service group as /api/billing/service-groups lists it.
type ServiceGroupJSON struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	BillingCurrency   string `json:"billingCurrency"`
	BillingAttributes struct {
		Attribute []AttributeJSON `json:"attribute"`
	} `json:"billingAttributes"`
	AvailableBills struct {
		Bill []BillJSON `json:"bill"`
	} `json:"availableBills"`
}

// AttributeJSON is a billing attribute.
type AttributeJSON struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// BillJSON is an available bill: a closed billing month and the link to its billed usage.
type BillJSON struct {
	Link struct {
		Rel  string `json:"rel"`
		Href string `json:"href"`
	} `json:"link"`
	BillingPeriod struct {
		Month     int    `json:"month"`
		Year      int    `json:"year"`
		StartDate string `json:"startDate"`
		EndDate   string `json:"endDate"`
	} `json:"billingPeriod"`
}

// ServiceGroupsJSON is the ServiceGroups answer.
type ServiceGroupsJSON struct {
	CompanyID        string `json:"companyId"`
	CompanyName      string `json:"companyName"`
	ServiceGroupList struct {
		ServiceGroup []ServiceGroupJSON `json:"serviceGroup"`
	} `json:"serviceGroupList"`
}

// CostJSON is a cost item.
type CostJSON struct {
	Type       string        `json:"type"`
	Amount     report.Number `json:"amount"`
	Properties struct {
		Property []vcarows.Property `json:"property"`
	} `json:"properties"`
}

// CostsJSON is a BilledCosts (billable) or BillableCosts (billed) answer.
type CostsJSON struct {
	Currency       string     `json:"currency"`
	LastUpdateTime string     `json:"lastUpdateTime,omitempty"`
	Month          int        `json:"month,omitempty"`
	Year           int        `json:"year,omitempty"`
	StartTime      string     `json:"startTime,omitempty"`
	EndTime        string     `json:"endTime,omitempty"`
	Cost           []CostJSON `json:"cost"`
}

// NotBilled is the answer for a billing month not closed yet (vcautils checks its status).
type NotBilled struct {
	Status string `json:"status"`
	Month  int    `json:"month"`
	Year   int    `json:"year"`
}

// ErrorJSON is vCloud Air's error body: the class of the error (the HTTP status), its code,
// a message, and for bad input each problem (field, value, reason).
type ErrorJSON struct {
	MajorErrorCode int             `json:"majorErrorCode"`
	MinorErrorCode string          `json:"minorErrorCode"`
	Message        string          `json:"message"`
	Problems       []fault.Problem `json:"problems,omitempty"`
}

var minorCodes = map[int]string{400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "ACCESS_TO_RESOURCE_IS_FORBIDDEN",
	404: "RESOURCE_NOT_FOUND", 409: "CONFLICT", 503: "SERVICE_UNAVAILABLE"}

// writeError answers err in vCloud Air's error body; a server error is logged, its cause not
// shown.
func writeError(w http.ResponseWriter, log *zap.Logger, err error) {
	status := web.Status(err)
	body := ErrorJSON{MajorErrorCode: status, MinorErrorCode: minorCodes[status], Message: err.Error()}
	var fe *fault.Error
	if errors.As(err, &fe) {
		body.Message, body.Problems = fe.Message, fe.Problems
	}
	if body.MinorErrorCode == "" {
		body.MinorErrorCode = "INTERNAL_SERVER_ERROR"
	}
	if status >= 500 {
		log.Error("vcloudair view", zap.Error(err))
		body.Message = http.StatusText(status)
	}
	web.WriteJSON(w, status, body)
}
