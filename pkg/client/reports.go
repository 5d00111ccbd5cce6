package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// GraphQLPath is the path of the GraphQL API of the reports.
const GraphQLPath = "/v1/metering/aggregated/usage/graph"

// Windows are a node's time windows: Windows[level][slot], levels second, minute, hour, day
// and month, slot 0 the report's own period, 1 the one before, and so on. A nil slot had no
// usage.
type Windows[W any] [][]*W

// Level indexes of Windows.
const (
	LevelSecond = iota
	LevelMinute
	LevelHour
	LevelDay
	LevelMonth
)

// Slot returns the window of level and slot, nil when it had no usage or is out of range.
func (w Windows[W]) Slot(level, slot int) *W {
	if level < 0 || level >= len(w) || slot < 0 || slot >= len(w[level]) {
		return nil
	}
	return w[level][slot]
}

// Charge is a charge window of a node: the sum of the charges below it.
type Charge struct {
	Charge decimal.Decimal `json:"charge"`
}

// Window is a metric's window: its quantity, its summary at the report's time, its cost and
// its charge.
type Window struct {
	Quantity Value           `json:"quantity"`
	Summary  decimal.Decimal `json:"summary"`
	Cost     Value           `json:"cost"`
	Charge   decimal.Decimal `json:"charge"`
}

// Value is a quantity or a cost as a report writes it: a number, or for a time-based metric a
// map of values (such as {consuming, consumed, since}); absent or null for none. It keeps the
// JSON it was read from, so nothing is lost to floats.
type Value struct{ raw json.RawMessage }

// UnmarshalJSON keeps the value's JSON.
func (v *Value) UnmarshalJSON(b []byte) error {
	v.raw = append(v.raw[:0], b...)
	return nil
}

// MarshalJSON writes the value as it was read.
func (v Value) MarshalJSON() ([]byte, error) {
	if len(v.raw) == 0 {
		return []byte("null"), nil
	}
	return v.raw, nil
}

// IsNull reports whether there is no value.
func (v Value) IsNull() bool { return len(v.raw) == 0 || string(v.raw) == "null" }

// Decimal returns the value as an exact decimal; ok is false for a map or no value.
func (v Value) Decimal() (d decimal.Decimal, ok bool) {
	if v.IsNull() || v.raw[0] == '{' || v.raw[0] == '"' || v.raw[0] == 't' || v.raw[0] == 'f' {
		return decimal.Decimal{}, false
	}
	d, err := decimal.NewFromString(string(v.raw))
	return d, err == nil
}

// Map returns the value's entries; ok is false unless it is a map.
func (v Value) Map() (m map[string]Value, ok bool) {
	if v.IsNull() || v.raw[0] != '{' {
		return nil, false
	}
	return m, json.Unmarshal(v.raw, &m) == nil
}

// String is the value's JSON text ("" for none).
func (v Value) String() string {
	if v.IsNull() {
		return ""
	}
	return string(v.raw)
}

// PlanIDs name a set of plans.
type PlanIDs struct {
	PlanID         string `json:"plan_id"`
	MeteringPlanID string `json:"metering_plan_id"`
	RatingPlanID   string `json:"rating_plan_id"`
	PricingPlanID  string `json:"pricing_plan_id"`
}

// Metric is a metric's windows.
type Metric struct {
	Metric  string          `json:"metric"`
	Windows Windows[Window] `json:"windows"`
}

// Plan is the usage of a resource under one set of plans.
type Plan struct {
	PlanIDs
	Windows         Windows[Charge] `json:"windows"`
	AggregatedUsage []*Metric       `json:"aggregated_usage"`
}

// Resource is the usage of a resource: by metric over every plan, and by plan.
type Resource struct {
	ResourceID      string          `json:"resource_id"`
	Windows         Windows[Charge] `json:"windows"`
	AggregatedUsage []*Metric       `json:"aggregated_usage"`
	Plans           []*Plan         `json:"plans"`
}

// Consumer is a consumer's usage by resource.
type Consumer struct {
	ConsumerID string          `json:"consumer_id"`
	Windows    Windows[Charge] `json:"windows"`
	Resources  []*Resource     `json:"resources"`
}

// Space is a space's usage, by resource and by consumer.
type Space struct {
	SpaceID   string          `json:"space_id"`
	Windows   Windows[Charge] `json:"windows"`
	Resources []*Resource     `json:"resources"`
	Consumers []*Consumer     `json:"consumers"`
}

// OrganizationReport is the usage summary report of an organization.
type OrganizationReport struct {
	ID             string          `json:"id"`
	OrganizationID string          `json:"organization_id"`
	Start          int64           `json:"start"`
	End            int64           `json:"end"`
	Processed      int64           `json:"processed"`
	Windows        Windows[Charge] `json:"windows"`
	Resources      []*Resource     `json:"resources"`
	Spaces         []*Space        `json:"spaces"`
	// Settled is true when the report can no longer change (header Meterline-Settled).
	Settled bool `json:"-"`
}

// InstanceReport is the report of a resource instance's usage under one set of plans.
type InstanceReport struct {
	ID                 string `json:"id"`
	OrganizationID     string `json:"organization_id"`
	SpaceID            string `json:"space_id"`
	ResourceID         string `json:"resource_id"`
	ResourceInstanceID string `json:"resource_instance_id"`
	ConsumerID         string `json:"consumer_id"`
	PlanIDs
	Start            int64           `json:"start"`
	End              int64           `json:"end"`
	Processed        int64           `json:"processed"`
	Windows          Windows[Charge] `json:"windows"`
	AccumulatedUsage []*Metric       `json:"accumulated_usage"`
	// Settled is true when the report can no longer change (header Meterline-Settled).
	Settled bool `json:"-"`
}

// Instance names a resource instance's usage under a set of plans. Empty metering, rating or
// pricing plan ids are sent as "-" (no such plan); with only PlanID, the server takes the
// one set of plans the instance used under it.
type Instance struct {
	OrganizationID     string
	ResourceInstanceID string
	ConsumerID         string
	PlanIDs
}

// timeSegment is the path segment of a report's time: none for the present (zero at).
func timeSegment(at time.Time) string {
	if at.IsZero() {
		return ""
	}
	return "/" + strconv.FormatInt(at.UnixMilli(), 10)
}

// OrganizationReport reads the usage summary report of org as of at (zero: the present).
// An organization with no usage in the report's windows is an *Error for which IsNotFound is
// true.
func (c *Client) OrganizationReport(ctx context.Context, org string, at time.Time) (*OrganizationReport, error) {
	var rep OrganizationReport
	r, err := c.call(ctx, request{method: http.MethodGet,
		path: "/v1/metering/organizations/" + url.PathEscape(org) + "/aggregated/usage" + timeSegment(at)}, &rep)
	if err != nil {
		return nil, err
	}
	rep.Settled = r.header.Get("Meterline-Settled") == "true"
	return &rep, nil
}

// InstanceReport reads the report of a resource instance as of at (zero: the present).
func (c *Client) InstanceReport(ctx context.Context, k Instance, at time.Time) (*InstanceReport, error) {
	seg := func(s string) string {
		if s == "" {
			return "-"
		}
		return url.PathEscape(s)
	}
	p := fmt.Sprintf("/v1/metering/organizations/%s/resource_instances/%s/consumers/%s/plans/%s/metering_plans/%s/rating_plans/%s/pricing_plans/%s/aggregated/usage%s",
		seg(k.OrganizationID), seg(k.ResourceInstanceID), seg(k.ConsumerID), seg(k.PlanID),
		seg(k.MeteringPlanID), seg(k.RatingPlanID), seg(k.PricingPlanID), timeSegment(at))
	var rep InstanceReport
	r, err := c.call(ctx, request{method: http.MethodGet, path: p}, &rep)
	if err != nil {
		return nil, err
	}
	rep.Settled = r.header.Get("Meterline-Settled") == "true"
	return &rep, nil
}

// GraphQL runs a GraphQL query of the reports (schemas/graphql/aggregated-usage.graphql) and
// decodes its data into data (a pointer to a struct shaped like the query's selection, or a
// map). An answer with errors is an *Error whose GraphQL field lists them; the status, kind
// and message are those of the first. Numbers in data decode exactly into decimal.Decimal
// fields.
func (c *Client) GraphQL(ctx context.Context, query string, variables map[string]any, data any) error {
	body, err := json.Marshal(struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables,omitempty"`
	}{query, variables})
	if err != nil {
		return fmt.Errorf("client: GraphQL variables: %w", err)
	}
	var answer struct {
		Data   json.RawMessage `json:"data"`
		Errors []GraphQLError  `json:"errors"`
	}
	r, err := c.call(ctx, request{method: http.MethodPost, path: GraphQLPath, contentType: "application/json", body: body}, &answer)
	if err != nil {
		return err
	}
	if len(answer.Errors) > 0 {
		return errorOf(r) // a 200 with errors: some root field failed
	}
	if data == nil || len(answer.Data) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(answer.Data))
	dec.UseNumber()
	if err := dec.Decode(data); err != nil {
		return fmt.Errorf("client: GraphQL data: %w", err)
	}
	return nil
}
