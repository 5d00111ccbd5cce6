package vcloudair

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/clickhouse/vcarows"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/report/reporttest"
	"github.com/meterline/meterline/internal/usage"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json with what the tests get")

// planKey is the plan key of the vCloud Air poller's documents under the built-in plans.
const planKey = "vpc-ondemand/vcloudair-vpc/vcloudair-vpc-rating/vcloudair-vpc-ondemand"

// prices are the built-in pricing plan's (USA).
var prices = map[string]string{"vcpu_hours": "0.0125", "memory_gb_hours": "0.0035", "storage_gb_hours": "0.0001", "public_ip_hours": "0.005"}

// builtinPlans are the built-in plans, compiled.
type builtinPlans struct {
	metering map[string]*plans.Metering
	rating   map[string]*plans.Rating
	pricing  map[string]*plans.Pricing
}

func (b builtinPlans) MeteringPlan(id string) (*plans.Metering, bool) {
	m, ok := b.metering[id]
	return m, ok
}
func (b builtinPlans) RatingPlan(id string) (*plans.Rating, bool) {
	r, ok := b.rating[id]
	return r, ok
}
func (b builtinPlans) Price(pricingPlan, metric, _ string) (decimal.Decimal, bool) {
	p, ok := b.pricing[pricingPlan]
	if !ok {
		return decimal.Decimal{}, false
	}
	return p.Price(metric, "USA")
}

func loadPlans(t testing.TB) builtinPlans {
	t.Helper()
	src, err := plans.LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	b := builtinPlans{metering: map[string]*plans.Metering{}, rating: map[string]*plans.Rating{}, pricing: map[string]*plans.Pricing{}}
	for _, p := range src.Metering {
		if b.metering[p.PlanID], err = plans.CompileMetering(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range src.Rating {
		if b.rating[p.PlanID], err = plans.CompileRating(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range src.Pricing {
		if b.pricing[p.PlanID], err = plans.CompilePricing(p); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// memDir is an in-memory Directory.
type memDir struct {
	groups []vcarows.Group
	insts  []vcarows.Instance
	costs  []vcarows.Cost
}

func (d *memDir) Groups(context.Context) ([]vcarows.Group, error)       { return d.groups, nil }
func (d *memDir) Instances(context.Context) ([]vcarows.Instance, error) { return d.insts, nil }
func (d *memDir) BilledCosts(_ context.Context, g string, y, m int) ([]vcarows.Cost, bool, error) {
	var out []vcarows.Cost
	for _, c := range d.costs {
		if c.Group == g && c.Year == y && c.Month == m {
			out = append(out, c)
		}
	}
	return out, len(out) > 0, nil
}
func (d *memDir) BilledMonths(_ context.Context, g string) ([][2]int, error) {
	var out [][2]int
	for _, c := range d.costs {
		if c.Group == g && (len(out) == 0 || out[len(out)-1] != [2]int{c.Year, c.Month}) {
			out = append(out, [2]int{c.Year, c.Month})
		}
	}
	return out, nil
}

// cells writes what the metering processor commits for an entity's hourly usage: per hour
// its hour cell, and its day cell's running sum, each processed processedAfter past the hour's
// end (a late document: far later), rated with the built-in prices; and the resource-level
// cells (no plan), which the views leave out.
func cells(st *reporttest.Memory, sid, l2, l1, entity, metric, perHour string, from, to time.Time, processedAfter time.Duration) {
	q := decimal.RequireFromString(perHour)
	price := decimal.RequireFromString(prices[metric])
	if l1 == "" {
		l1 = usage.UnknownConsumer
	}
	day := map[int64]decimal.Decimal{}
	for h := from; h.Before(to); h = h.Add(time.Hour) {
		processed := h.Add(time.Hour + processedAfter).UnixMilli()
		d := h.Truncate(24 * time.Hour).UnixMilli()
		day[d] = day[d].Add(q)
		for _, c := range []report.Cell{
			{Level: metering.Hour, From: h.UnixMilli(), Quantity: report.DecimalValue(q)},
			{Level: metering.Day, From: d, Quantity: report.DecimalValue(day[d])},
		} {
			c.Scope, c.Space, c.Consumer, c.Instance, c.Resource, c.Metric, c.Processed = metering.ScopeInstance, l2, l1, entity, Resource, metric, processed
			st.Write(reporttest.Version{Org: sid, Cell: c, Visible: processed})
			c.Plan, c.Cost = planKey, report.DecimalValue(c.Quantity.Any().(decimal.Decimal).Mul(price))
			st.Write(reporttest.Version{Org: sid, Cell: c, Visible: processed})
		}
	}
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// now is the fixture's present: 20 December 2026, 10:30 UTC; sg-east's billing months start
// on the 13th, so November's (13 Nov – 13 Dec) is closed and December's is open.
var now = at("2026-12-20T10:30:00Z")

// fixture is a service group sg-east (anniversary 13) with instance si-1 (a VDC's storage and
// two VMs, usage across the billing months' edge, a late document of 12 December processed
// after November's close) and sg-west (calendar months) with si-9.
func fixture(t testing.TB) *ViewAPI {
	st := &reporttest.Memory{}
	lag := 10 * time.Minute
	cells(st, "si-1", "vdc-a", "", "vdc-a", "storage_gb_hours", "10.5", at("2026-12-12T00:00:00Z"), at("2026-12-20T10:00:00Z"), lag)
	cells(st, "si-1", "vdc-a", "vm-1", "vm-1", "vcpu_hours", "2", at("2026-12-12T22:00:00Z"), at("2026-12-20T10:00:00Z"), lag)
	cells(st, "si-1", "vdc-a", "vm-1", "vm-1", "public_ip_hours", "0", at("2026-12-12T22:00:00Z"), at("2026-12-20T10:00:00Z"), lag) // unused: left out
	cells(st, "si-1", "vdc-a", "vm-2", "vm-2", "memory_gb_hours", "1.5", at("2026-12-14T00:00:00Z"), at("2026-12-14T06:00:00Z"), lag)
	// A late document: 7 more vCPU-hours of vm-1 in the hour of 12 December 23:00, processed
	// on the 14th: its hour cell becomes 9, its day cell 11.
	late := at("2026-12-14T12:00:00Z").UnixMilli()
	for _, c := range []report.Cell{
		{Level: metering.Hour, From: at("2026-12-12T23:00:00Z").UnixMilli(), Quantity: report.DecimalValue(decimal.NewFromInt(9)),
			Cost: report.DecimalValue(decimal.RequireFromString("0.1125"))},
		{Level: metering.Day, From: at("2026-12-12T00:00:00Z").UnixMilli(), Quantity: report.DecimalValue(decimal.NewFromInt(11)),
			Cost: report.DecimalValue(decimal.RequireFromString("0.1375"))},
	} {
		c.Scope, c.Space, c.Consumer, c.Instance, c.Resource, c.Plan, c.Metric, c.Processed = metering.ScopeInstance, "vdc-a", "vm-1", "vm-1", Resource, planKey, "vcpu_hours", late
		st.Write(reporttest.Version{Org: "si-1", Cell: c, Visible: late})
	}
	cells(st, "si-9", "vdc-z", "vm-9", "vm-9", "vcpu_hours", "1", at("2026-11-30T00:00:00Z"), at("2026-12-02T00:00:00Z"), lag)
	dir := &memDir{
		groups: []vcarows.Group{{Account: "acme", ID: "sg-east", Name: "East", Currency: "USD", Anniversary: 13},
			{Account: "acme", ID: "sg-west", Name: "West", Currency: "EUR", Anniversary: 1}},
		insts: []vcarows.Instance{{Account: "acme", ID: "si-1", Name: "VPC east", Group: "sg-east"},
			{Account: "acme", ID: "si-9", Name: "VPC west", Group: "sg-west"}},
		costs: []vcarows.Cost{
			{Account: "acme", Group: "sg-east", Year: 2026, Month: 11, Index: 0, Type: "Support Cost", Amount: decimal.RequireFromString("12.5"), Currency: "USD",
				Properties: []vcarows.Property{{Name: "plan", Value: "production"}}},
			{Account: "acme", Group: "sg-east", Year: 2026, Month: 11, Index: 1, Type: "Service Credit", Amount: decimal.RequireFromString("-3"), Currency: "USD"},
		},
	}
	b := loadPlans(t)
	r := &report.Reporter{Store: st, Plans: b, Slots: metering.DefaultSlots, Future: time.Minute, Settle: 5 * time.Second, Clock: clock.NewManual(now)}
	return NewViewAPI(NewView(r, dir, b), zap.NewNop())
}

func get(t testing.TB, a *ViewAPI, p *auth.Principal, path string) (int, []byte) {
	t.Helper()
	mux := http.NewServeMux()
	a.Register(mux)
	w := httptest.NewRecorder()
	auth.As(p, mux).ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w.Code, w.Body.Bytes()
}

// golden compares the JSON body with testdata/name (or rewrites it under -update).
func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		t.Fatalf("%s: %v: %s", name, err, body)
	}
	out.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("%s differs from testdata (go test -run %s -update rewrites it):\n%s", name, t.Name(), out.Bytes())
	}
}

// billables sums an answer's entities: entity id/billable to usage and cost.
func billables(t *testing.T, body []byte) (map[string]string, map[string]string) {
	t.Helper()
	var u struct {
		Entity []struct {
			ID           string `json:"id"`
			BillableList struct {
				Billable []struct {
					Name  string          `json:"name"`
					Usage decimal.Decimal `json:"usage"`
					Cost  decimal.Decimal `json:"cost"`
				} `json:"billable"`
			} `json:"billableList"`
		} `json:"entity"`
	}
	if err := json.Unmarshal(body, &u); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	qty, cost := map[string]string{}, map[string]string{}
	for _, e := range u.Entity {
		for _, b := range e.BillableList.Billable {
			qty[e.ID+"/"+b.Name], cost[e.ID+"/"+b.Name] = b.Usage.String(), b.Cost.String()
		}
	}
	return qty, cost
}

func eq(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s: got %s, want %s", what, g, w)
	}
}

// The billable usage: since 13 December 00:00 (November closed) to 10:00 on the 20th, 178
// hours; vm-1's late hour of the 12th is in November, not here.
func TestBillableUsage(t *testing.T) {
	a := fixture(t)
	code, body := get(t, a, admin, "/api/metering/service-instance/si-1/billable-usage")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	golden(t, "billable_usage.golden.json", body)
	qty, _ := billables(t, body)
	// vdc-a rolled up: its storage 10.5 × 178, vm-1's vCPUs 2 × 178, vm-2's memory 1.5 × 6.
	eq(t, "instance", qty, map[string]string{"vdc-a/memory_gb_hours": "9", "vdc-a/storage_gb_hours": "1869", "vdc-a/vcpu_hours": "356"})

	code, body = get(t, a, admin, "/api/metering/service-instance/si-1/l2/vdc-a/billable-usage?start=2026-12-14T00:00:00.000Z&end=2026-12-14T03:00:00.000Z&rollup=hour")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	golden(t, "billable_usage_l2_hourly.golden.json", body)
	qty, cost := billables(t, body)
	eq(t, "l2 VMs", qty, map[string]string{"vm-1/vcpu_hours": "6", "vm-2/memory_gb_hours": "4.5"})
	eq(t, "l2 VMs' cost", cost, map[string]string{"vm-1/vcpu_hours": "0.075", "vm-2/memory_gb_hours": "0.01575"})

	code, body = get(t, a, admin, "/api/metering/service-instance/si-1/l1/vm-1/billable-usage?duration=BillToDate&rollup=day")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	golden(t, "billable_usage_l1_daily.golden.json", body)
	qty, _ = billables(t, body)
	eq(t, "l1", qty, map[string]string{"vm-1/vcpu_hours": "356"})

	code, body = get(t, a, admin, "/api/metering/service-group/sg-east/billable-costs")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	golden(t, "billable_costs.golden.json", body)
}

// The billed usage of November (13 Nov – 13 Dec), read as of its close: vm-1's hours of the
// 12th, 22:00 and 23:00, count 2 each; the late document processed on the 14th does not.
func TestBilledUsage(t *testing.T) {
	a := fixture(t)
	code, body := get(t, a, admin, "/api/billing/service-group/sg-east/billed-usage")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	golden(t, "billed_usage_group.golden.json", body)
	qty, cost := billables(t, body)
	eq(t, "group", qty, map[string]string{"vdc-a/storage_gb_hours": "252", "vm-1/vcpu_hours": "4"})
	eq(t, "group's cost", cost, map[string]string{"vdc-a/storage_gb_hours": "0.0252", "vm-1/vcpu_hours": "0.05"})

	code, body = get(t, a, admin, "/api/billing/service-instance/si-1/billed-usage?month=11&year=2026&level=self")
	qty, _ = billables(t, body)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	golden(t, "billed_usage_instance.golden.json", body)
	eq(t, "instance", qty, map[string]string{"si-1/storage_gb_hours": "252", "si-1/vcpu_hours": "4"})
	// A span across closed months: each read as of its own close.
	code, body = get(t, a, admin, "/api/billing/service-instance/si-1/l1/vm-1/billed-usage?start=2026-12-12T23:00:00.000Z&duration=PT1H")
	qty, _ = billables(t, body)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	eq(t, "l1 span", qty, map[string]string{"vm-1/vcpu_hours": "2"})
	code, body = get(t, a, admin, "/api/billing/service-instance/si-1/l2/vdc-a/billed-usage?month=11&year=2026")
	qty, _ = billables(t, body)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	eq(t, "l2's L1s", qty, map[string]string{"vm-1/vcpu_hours": "4"})
	// December is open: not billed yet.
	if code, body := get(t, a, admin, "/api/billing/service-group/sg-east/billed-usage?month=12&year=2026"); code != 200 || !strings.Contains(string(body), `"status":"not billed yet"`) {
		t.Errorf("December: %d %s", code, body)
	}
	// A calendar-month group: November 30 of si-9.
	code, body = get(t, a, admin, "/api/billing/service-group/sg-west/billed-usage?month=11&year=2026")
	qty, _ = billables(t, body)
	eq(t, "sg-west November", qty, map[string]string{"vm-9/vcpu_hours": "24"})
	if code != 200 || !strings.Contains(string(body), `"currency":"EUR"`) {
		t.Errorf("%d %s", code, body)
	}
}

// The service groups and billed costs come from the stored directory.
func TestServiceGroupsAndBilledCosts(t *testing.T) {
	a := fixture(t)
	for _, c := range []struct{ path, golden string }{
		{"/api/billing/service-groups", "service_groups.golden.json"},
		{"/api/billing/service-group/sg-east", "service_group.golden.json"},
		{"/api/billing/service-group/sg-east/billed-costs", "billed_costs.golden.json"},
	} {
		code, body := get(t, a, admin, c.path)
		if code != 200 {
			t.Fatalf("%s: %d %s", c.path, code, body)
		}
		golden(t, c.golden, body)
	}
	if code, body := get(t, a, admin, "/api/billing/service-group/sg-east/billed-costs?month=10&year=2026"); code != 200 || !strings.Contains(string(body), "not billed yet") {
		t.Errorf("October's costs are not stored: %d %s", code, body)
	}
}

// Bad input: 400 naming each problem, 404 for unknown ids (403 for those who may not know),
// all in vCloud Air's error body.
func TestViewErrors(t *testing.T) {
	a := fixture(t)
	reader := func(orgs ...string) *auth.Principal {
		return auth.NewPrincipal("r", auth.MethodJWT, []string{auth.ScopeRead}, orgs)
	}
	for _, c := range []struct {
		name, path string
		p          *auth.Principal
		code       int
		has        []string
	}{
		{"not a whole hour", "/api/metering/service-instance/si-1/billable-usage?start=2026-12-14T00:30:00Z&end=2026-12-14T02:00:00Z", admin, 400, []string{`"field":"start"`, `"majorErrorCode":400`, `"minorErrorCode":"BAD_REQUEST"`}},
		{"end before start", "/api/metering/service-instance/si-1/billable-usage?start=2026-12-14T03:00:00Z&end=2026-12-14T02:00:00Z", admin, 400, []string{`"field":"end"`}},
		{"end and duration", "/api/metering/service-instance/si-1/billable-usage?start=2026-12-14T00:00:00Z&end=2026-12-14T02:00:00Z&duration=PT1H", admin, 400, []string{`"field":"duration"`}},
		{"bad rollup and level", "/api/metering/service-instance/si-1/billable-usage?rollup=week&level=two", admin, 400, []string{`"field":"rollup"`, `"field":"level"`}},
		{"billed span asked as billable", "/api/metering/service-instance/si-1/billable-usage?start=2026-12-12T00:00:00Z&end=2026-12-14T00:00:00Z", admin, 400, []string{`"field":"start"`, "billed"}},
		{"billed month asked as billable", "/api/metering/service-instance/si-1/billable-usage?month=11&year=2026", admin, 400, []string{`"field":"month"`}},
		{"month 13, year x", "/api/billing/service-group/sg-east/billed-usage?month=13&year=x", admin, 400, []string{`"field":"month"`, `"field":"year"`}},
		{"month and span", "/api/billing/service-group/sg-east/billed-usage?month=11&year=2026&start=2026-11-20T00:00:00Z&duration=P1D", admin, 400, []string{`"field":"month"`}},
		{"billed span not closed", "/api/billing/service-group/sg-east/billed-usage?start=2026-12-12T00:00:00Z&duration=P2D", admin, 400, []string{`"field":"end"`}},
		{"span too long", "/api/billing/service-group/sg-east/billed-usage?start=2024-01-01T00:00:00Z&end=2026-01-01T00:00:00Z", admin, 400, []string{"367 days"}},
		{"repeated", "/api/billing/service-group/sg-east/billed-usage?month=11&month=10&year=2026", admin, 400, []string{"more than once"}},
		{"costs of a span", "/api/billing/service-group/sg-east/billed-costs?start=2026-11-20T00:00:00Z&duration=P1D", admin, 400, []string{`"field":"start"`}},
		{"bad id", "/api/billing/service-group/%20x/billed-usage", admin, 400, []string{`"field":"id"`}},
		{"bad instance id", "/api/metering/service-instance/%2Fx/billable-usage", admin, 400, []string{`"field":"service-instance-id"`}},
		{"unknown group", "/api/billing/service-group/sg-nope", admin, 404, []string{`"majorErrorCode":404`, `"minorErrorCode":"RESOURCE_NOT_FOUND"`, "sg-nope"}},
		{"unknown instance", "/api/metering/service-instance/si-nope/billable-usage", admin, 404, []string{"si-nope"}},
		{"unknown L1", "/api/metering/service-instance/si-1/l1/vm-nope/billable-usage", admin, 404, []string{"vm-nope"}},
		{"unknown group, reader", "/api/billing/service-group/sg-nope", reader("si-1"), 403, nil},
		{"reader of the instance", "/api/metering/service-instance/si-1/billable-usage", reader("si-1"), 200, nil},
		{"reader of the group", "/api/billing/service-group/sg-east/billed-usage", reader("si-1"), 200, nil},
		{"reader of another", "/api/billing/service-group/sg-east/billed-usage", reader("si-9"), 403, []string{`"majorErrorCode":403`}},
		{"reader's bad input on another's", "/api/metering/service-instance/si-1/billable-usage?rollup=x", reader("si-9"), 403, nil},
		{"groups a reader sees", "/api/billing/service-groups", reader("si-9"), 200, []string{"sg-west"}},
		{"no reads", "/api/billing/service-groups", auth.NewPrincipal("w", auth.MethodJWT, []string{auth.ScopeWrite}, []string{"si-1"}), 403, nil},
	} {
		code, body := get(t, a, c.p, c.path)
		if code != c.code {
			t.Errorf("%s: %d %s", c.name, code, body)
		}
		for _, h := range c.has {
			if !strings.Contains(string(body), h) {
				t.Errorf("%s: no %s in %s", c.name, h, body)
			}
		}
		if c.name == "groups a reader sees" && strings.Contains(string(body), "sg-east") {
			t.Errorf("%s: %s", c.name, body)
		}
	}
}

// The billing months around a close and a year's end: a month is billed once its close (an
// hour after its end, plus the settle time) has passed; until then it is billable.
func TestBillingMonthsAtTheClose(t *testing.T) {
	f := func(ann int, now string, unbilled string, lastYear, lastMonth int) {
		t.Helper()
		v := NewView(&report.Reporter{Settle: 5 * time.Second, Clock: clock.NewManual(at(now))}, nil, nil)
		if got := v.Unbilled(ann, at(now)); !got.Equal(at(unbilled)) {
			t.Errorf("anniversary %d at %s: unbilled from %s, want %s", ann, now, got, unbilled)
		}
		if y, m := v.LastClosed(ann, at(now)); y != lastYear || m != lastMonth {
			t.Errorf("anniversary %d at %s: last closed %d-%02d, want %d-%02d", ann, now, y, m, lastYear, lastMonth)
		}
	}
	f(1, "2027-01-01T00:30:00Z", "2026-12-01T00:00:00Z", 2026, 11) // December closes at 01:00
	f(1, "2027-01-01T01:00:04Z", "2026-12-01T00:00:00Z", 2026, 11) // not settled yet
	f(1, "2027-01-01T01:00:05Z", "2027-01-01T00:00:00Z", 2026, 12)
	f(13, "2027-01-12T23:59:00Z", "2026-12-13T00:00:00Z", 2026, 11)
	f(13, "2027-01-13T02:00:00Z", "2027-01-13T00:00:00Z", 2026, 12)
	f(28, "2027-03-01T00:00:00Z", "2027-02-28T00:00:00Z", 2027, 1)
}
