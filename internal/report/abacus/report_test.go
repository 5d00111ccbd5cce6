package abacus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/report/reporttest"
)

// builtin is the built-in sample plans, compiled.
type builtin struct {
	metering map[string]*plans.Metering
	rating   map[string]*plans.Rating
}

func (b builtin) MeteringPlan(id string) (*plans.Metering, bool) {
	m, ok := b.metering[id]
	return m, ok
}
func (b builtin) RatingPlan(id string) (*plans.Rating, bool) { r, ok := b.rating[id]; return r, ok }

func builtinPlans(t testing.TB) builtin {
	t.Helper()
	src, err := plans.LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	b := builtin{metering: map[string]*plans.Metering{}, rating: map[string]*plans.Rating{}}
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
	return b
}

// memStore is a reporttest.Memory that records the queries it was asked.
type memStore struct {
	reporttest.Memory
	queries []report.Query
}

func (m *memStore) Read(ctx context.Context, q report.Query) ([]report.Cell, error) {
	m.queries = append(m.queries, q)
	return m.Memory.Read(ctx, q)
}

// decimalOf is a value's decimal.
func decimalOf(v report.Value) decimal.Decimal { d, _ := v.Decimal(); return d }

const objectKey = "basic/basic-object-storage/object-rating-plan/object-pricing-basic"

var objectPrices = map[string]string{"storage": "1", "thousand_light_api_calls": "0.03", "heavy_api_calls": "0.15"}

// objectCells are the month and day cells of object storage usage q (storage, thousands of
// light calls, heavy calls) at every scope from instance up, for one instance of a consumer.
func objectCells(space, consumer, instance string, at, processed int64, q [3]string) []report.Cell {
	var out []report.Cell
	for i, metric := range []string{"storage", "thousand_light_api_calls", "heavy_api_calls"} {
		qty := decimal.RequireFromString(q[i])
		cost := qty.Mul(decimal.RequireFromString(objectPrices[metric]))
		for _, l := range []metering.Level{metering.Day, metering.Month} {
			from, _ := l.Period(at)
			for _, c := range []report.Cell{
				{Scope: metering.ScopeInstance, Space: space, Consumer: consumer, Instance: instance},
				{Scope: metering.ScopeConsumer, Space: space, Consumer: consumer},
				{Scope: metering.ScopeSpace, Space: space},
				{Scope: metering.ScopeOrganization},
			} {
				c.Resource, c.Metric, c.Level, c.From, c.Quantity, c.Processed = "object-storage", metric, l, from, report.DecimalValue(qty), processed
				plan := c
				plan.Plan, plan.Cost = objectKey, report.DecimalValue(cost)
				out = append(out, plan)
				if c.Scope != metering.ScopeInstance {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// sumCells adds cells of the same key (scopes above instance) as the processor aggregates.
func sumCells(groups ...[]report.Cell) []report.Cell {
	var out []report.Cell
	for _, g := range groups {
	next:
		for _, c := range g {
			for i, o := range out {
				if c.Scope != metering.ScopeInstance && o.Scope == c.Scope && o.Space == c.Space && o.Consumer == c.Consumer &&
					o.Plan == c.Plan && o.Metric == c.Metric && o.Level == c.Level && o.From == c.From && o.Processed == c.Processed {
					out[i].Quantity = report.DecimalValue(decimalOf(o.Quantity).Add(decimalOf(c.Quantity)))
					if !c.Cost.IsZero() {
						out[i].Cost = report.DecimalValue(decimalOf(o.Cost).Add(decimalOf(c.Cost)))
					}
					continue next
				}
			}
			out = append(out, c)
		}
	}
	return out
}

// atInstants runs f as a subtest at each of clock.Instants (a day's and a month's first and
// last seconds, a year's last half second, an instant inside a month): at is the report's
// time, and the usage is of just before it.
func atInstants(t *testing.T, f func(t *testing.T, at int64)) {
	t.Helper()
	for _, now := range clock.Instants {
		t.Run(now.Format("2006-01-02T15:04:05.000Z"), func(t *testing.T) { f(t, now.UnixMilli()) })
	}
}

// newReporter is a reporter over cells whose clock reads an hour after at.
// Each cell is a version of organization o written when processed.
func newReporter(t testing.TB, at int64, cells []report.Cell) (*Reports, *memStore) {
	st := &memStore{}
	for i, c := range cells {
		st.Write(reporttest.Version{Org: "o", Cell: c, Visible: c.Processed, Offset: int64(i)})
	}
	return NewReports(&report.Reporter{Store: st, Plans: builtinPlans(t), Slots: metering.DefaultSlots, Future: time.Minute,
		Settle: 5 * time.Second, Clock: clock.NewManual(time.UnixMilli(at + 3600_000))}), st
}

// monthBefore is the start of the month before at's (epoch ms).
func monthBefore(at int64) int64 {
	tm := time.UnixMilli(at).UTC()
	return time.Date(tm.Year(), tm.Month()-1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
}

// asJSON decodes a report as a client does.
func asJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func get(t *testing.T, v any, steps ...any) any {
	t.Helper()
	for i, s := range steps {
		switch k := s.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: %v is not an object", steps[:i], v)
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("at %v: %v has no index %d", steps[:i], v, k)
			}
			v = a[k]
		}
	}
	return v
}

func TestOrganizationReport(t *testing.T) { atInstants(t, testOrganizationReport) }

func testOrganizationReport(t *testing.T, at int64) {
	// Two consumers of one space: 46.09 and 17.03. A later version of a cell, processed after
	// the report's time, is not in the report.
	cells := sumCells(
		objectCells("s", "app:1", "i1", at-1000, at-500, [3]string{"1", "3", "300"}),
		objectCells("s", "app:2", "i2", at-1000, at-500, [3]string{"2", "1", "100"}),
	)
	cells = append(cells, objectCells("s", "app:2", "i2", at-1000, at+1, [3]string{"9", "9", "900"})...)
	r, _ := newReporter(t, at, cells)
	rep, err := r.Organization(context.Background(), "o", at, AllScopes)
	if err != nil {
		t.Fatal(err)
	}
	m := asJSON(t, rep)
	f := func(want string, steps ...any) {
		t.Helper()
		if got := fmt.Sprint(get(t, m, steps...)); got != want {
			t.Errorf("%v = %s, want %s", steps, got, want)
		}
	}
	f(fmt.Sprintf("k-o-t-%016d", at), "id")
	f(fmt.Sprint(at), "end")
	f(fmt.Sprint(at-500), "processed")
	f(fmt.Sprint(monthBefore(at)), "start") // the first day of the month before
	f("map[charge:63.12]", "windows", 4, 0)
	f("<nil>", "windows", 4, 1)
	f("map[charge:63.12]", "windows", 3, 0)
	f("[<nil>]", "windows", 0) // no second-level cells
	f("map[charge:63.12]", "spaces", 0, "windows", 4, 0)
	f("app:1", "spaces", 0, "consumers", 0, "consumer_id")
	f("map[charge:46.09]", "spaces", 0, "consumers", 0, "windows", 4, 0)
	f("map[charge:17.03]", "spaces", 0, "consumers", 1, "windows", 4, 0)
	f("map[charge:17.03]", "spaces", 0, "consumers", 1, "resources", 0, "plans", 0, "windows", 4, 0)
	f("map[charge:15 cost:15 quantity:100 summary:100]", "spaces", 0, "consumers", 1, "resources", 0, "plans", 0, "aggregated_usage", 2, "windows", 4, 0)
	f("map[charge:60 quantity:400 summary:400]", "resources", 0, "aggregated_usage", 2, "windows", 4, 0)
	f("storage", "resources", 0, "aggregated_usage", 0, "metric") // in the metering plan's order
	f("basic-object-storage", "resources", 0, "plans", 0, "metering_plan_id")

	if _, err := r.Organization(context.Background(), "nobody", at, AllScopes); fault.KindOf(err) != fault.KindNotFound {
		t.Errorf("unknown organization: %v, want not found", err)
	}
}

func TestOrganizationReportReadsOnlyScopesAsked(t *testing.T) {
	atInstants(t, testOrganizationReportReadsOnlyScopesAsked)
}

func testOrganizationReportReadsOnlyScopesAsked(t *testing.T, at int64) {
	r, st := newReporter(t, at, objectCells("s", "app:1", "i1", at, at, [3]string{"1", "3", "300"}))
	rep, err := r.Organization(context.Background(), "o", at, Scopes{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Spaces) != 0 || len(rep.Resources) != 1 {
		t.Errorf("spaces %d, resources %d; want 0 and 1", len(rep.Spaces), len(rep.Resources))
	}
	if got := st.queries[0].Scopes; !slices.Equal(got, []metering.Scope{metering.ScopeOrganization}) {
		t.Errorf("scopes read %v, want only the organization's", got)
	}
	if n := len(st.queries[0].Periods); n != 7 {
		t.Errorf("%d periods read, want 7 (slots 1,1,1,2,2)", n)
	}
}

func TestTimeBasedSummaryAndCharge(t *testing.T) { atInstants(t, testTimeBasedSummaryAndCharge) }

func testTimeBasedSummaryAndCharge(t *testing.T, at int64) {
	// An app running 2 GB from halfway between the start of the report's day and the report's
	// time: at 12:00 it started at 06:00 and has used 12 GB-hours, at 00:00:30 it started at
	// 00:00:15 and has used 2 GB for 15 s. The linux rating plan charges GB-hours at the USA
	// price.
	from, to := metering.Day.Period(at)
	start := from + (at-from)/2
	gbHours := func(t int64) string {
		return plans.Round(decimal.NewFromInt(2 * (t - start)).Div(decimal.NewFromInt(3600_000))).(decimal.Decimal).String()
	}
	charge := func(t int64) string {
		return plans.Round(decimal.NewFromInt(2 * (t - start)).Div(decimal.NewFromInt(3600_000)).
			Mul(decimal.RequireFromString("0.00014"))).(decimal.Decimal).String()
	}
	two := decimal.NewFromInt(2)
	consumed := two.Mul(decimal.NewFromInt(from + to - 2*start))
	price := decimal.RequireFromString("0.00014")
	qty, err := report.ValueOf(map[string]any{"consuming": two, "consumed": consumed, "since": start})
	if err != nil {
		t.Fatal(err)
	}
	cost, err := report.ValueOf(map[string]any{"consuming": two, "consumed": consumed, "price": price})
	if err != nil {
		t.Fatal(err)
	}
	c := report.Cell{Scope: metering.ScopeInstance, Space: "s", Consumer: "app:l", Instance: "app:l", Resource: "linux-container",
		Plan: "basic/basic-linux-container/linux-rating-plan/linux-pricing-basic", Metric: "memory", Level: metering.Day,
		From: from, Processed: at - 1,
		Quantity: qty, Cost: cost}
	r, _ := newReporter(t, at, []report.Cell{c})
	rep, err := r.Instance(context.Background(), InstanceKey{Org: "o", Instance: "app:l", Consumer: "app:l",
		PlanIDs: report.PlanIDs{PlanID: "basic"}}, at)
	if err != nil {
		t.Fatal(err)
	}
	m := asJSON(t, rep)
	w := get(t, m, "accumulated_usage", 0, "windows", 3, 0).(map[string]any)
	if fmt.Sprint(w["summary"]) != gbHours(at) || fmt.Sprint(w["charge"]) != charge(at) {
		t.Errorf("day window %v: want summary %s (GB-hours) and charge %s", w, gbHours(at), charge(at))
	}
	if q := fmt.Sprint(w["quantity"]); !strings.Contains(q, "consuming:2") {
		t.Errorf("quantity %s, want the cell's map", q)
	}
	if m["rating_plan_id"] != "linux-rating-plan" || m["space_id"] != "s" || m["resource_id"] != "linux-container" {
		t.Errorf("plan ids and ids from the cells: %v", m)
	}
	// Halfway to the day's end (at 18:00 for a report of 12:00) the running app has used
	// twice as much (24 GB-hours).
	mid := at + (to-at)/2
	core := *r.r
	core.Clock = clock.NewManual(time.UnixMilli(to))
	later := NewReports(&core)
	rep, err = later.Instance(context.Background(), InstanceKey{Org: "o", Instance: "app:l", Consumer: "app:l",
		PlanIDs: report.PlanIDs{PlanID: "basic"}}, mid)
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, asJSON(t, rep), "accumulated_usage", 0, "windows", 3, 0, "summary"); fmt.Sprint(got) != gbHours(mid) {
		t.Errorf("summary at %d = %v, want %s", mid, got, gbHours(mid))
	}
}

func TestInstancePlanIDAmbiguous(t *testing.T) { atInstants(t, testInstancePlanIDAmbiguous) }

func testInstancePlanIDAmbiguous(t *testing.T, at int64) {
	a := objectCells("s", "app:1", "i1", at, at-1, [3]string{"1", "1", "1"})
	b := objectCells("s", "app:1", "i1", at, at-1, [3]string{"1", "1", "1"})
	for i := range b {
		if b[i].Plan != "" {
			b[i].Plan = "basic/standard-object-storage/object-rating-plan/object-pricing-standard"
		}
	}
	r, _ := newReporter(t, at, append(a, b...))
	_, err := r.Instance(context.Background(), InstanceKey{Org: "o", Instance: "i1", Consumer: "app:1", PlanIDs: report.PlanIDs{PlanID: "basic"}}, at)
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.KindInvalid || fe.Problems[0].Field != "plan_id" {
		t.Fatalf("two sets of plans under plan_id basic: %v, want invalid naming plan_id", err)
	}
	rep, err := r.Instance(context.Background(), InstanceKey{Org: "o", Instance: "i1", Consumer: "app:1", PlanIDs: report.SplitPlanKey(objectKey)}, at)
	if err != nil || rep.PricingPlanID != "object-pricing-basic" {
		t.Fatalf("named plans: %v %+v", err, rep)
	}
}

func TestGraphQL(t *testing.T) { atInstants(t, testGraphQL) }

func testGraphQL(t *testing.T, at int64) {
	cells := objectCells("s", "app:1", "i1", at-1000, at-500, [3]string{"1", "3", "300"})
	r, st := newReporter(t, at, cells)
	id := fmt.Sprintf("k-o-t-%016d", at)
	accounts := fakeAccounts{"acc": {AccountID: "acc", Organizations: []string{"nobody", "o"}}}
	g, err := NewGraphQL(r, accounts)
	if err != nil {
		t.Fatal(err)
	}
	run := func(q string) (string, fault.Kind) {
		t.Helper()
		resp := g.Execute(auth.AsAdminContext(context.Background()), Request{Query: q})
		b, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), resp.Kind
	}
	f := func(q, want string) {
		t.Helper()
		if got, _ := run(q); got != want {
			t.Errorf("%s\n got %s\nwant %s", q, got, want)
		}
	}
	f(fmt.Sprintf(`{ organization(organization_id: "o", time: %d) { organization_id, windows { charge } } }`, at),
		`{"data":{"organization":{"organization_id":"o","windows":[[null],[null],[null],[{"charge":46.09},null],[{"charge":46.09},null]]}}}`)
	if got := st.queries[len(st.queries)-1].Scopes; len(got) != 1 {
		t.Errorf("an organization-level query read scopes %v, want only the organization's", got)
	}
	// Aliases, fragments, __typename and @skip, in the query's order.
	f(fmt.Sprintf(`query Q { org: organization(organization_id: "o", time: %d) { ...ids, __typename, spaces @skip(if: true) { space_id } } }
fragment ids on OrganizationReport { id, resources { resource_id, plans { plan_id, pricing_plan_id } } }`, at),
		`{"data":{"org":{"id":"`+id+`","resources":[{"resource_id":"object-storage","plans":[{"plan_id":"basic","pricing_plan_id":"object-pricing-basic"}]}],"__typename":"OrganizationReport"}}}`)
	f(fmt.Sprintf(`{ account(account_id: "acc", time: %d) { organization_id spaces { consumers { consumer_id } } } }`, at),
		`{"data":{"account":[{"organization_id":"o","spaces":[{"consumers":[{"consumer_id":"app:1"}]}]}]}}`)
	f(fmt.Sprintf(`{ resource_instance(organization_id: "o", consumer_id: "app:1", resource_instance_id: "i1", plan_id: "basic", time: %d) { resource_id accumulated_usage { metric windows { cost } } } }`, at),
		`{"data":{"resource_instance":{"resource_id":"object-storage","accumulated_usage":[{"metric":"storage","windows":[[null],[null],[null],[{"cost":1},null],[{"cost":1},null]]},{"metric":"thousand_light_api_calls","windows":[[null],[null],[null],[{"cost":0.09},null],[{"cost":0.09},null]]},{"metric":"heavy_api_calls","windows":[[null],[null],[null],[{"cost":45},null],[{"cost":45},null]]}]}}}`)

	// Fields of one response key merge, from fragments too; a root field asked twice runs once.
	f(fmt.Sprintf(`{ organization(organization_id: "o", time: %d) { resources { resource_id } ...F } organization(organization_id: "o", time: %d) { id } }
fragment F on OrganizationReport { resources { windows { charge } } }`, at, at),
		`{"data":{"organization":{"resources":[{"resource_id":"object-storage","windows":[[null],[null],[null],[{"charge":46.09},null],[{"charge":46.09},null]]}],"id":"`+id+`"}}}`)
	f(`{ organizations(organization_ids: []) { id } }`, `{"data":{"organizations":[]}}`)

	// A time in JSON variables, beyond GraphQL's 32-bit Int.
	resp := g.Execute(auth.AsAdminContext(context.Background()), Request{Query: `query ($t: Int) { organization(organization_id: "o", time: $t) { end } }`,
		Variables: map[string]any{"t": float64(at)}})
	if b, _ := json.Marshal(resp); string(b) != fmt.Sprintf(`{"data":{"organization":{"end":%d}}}`, at) {
		t.Errorf("time in a variable: %s", b)
	}

	for _, c := range []struct {
		query string
		kind  fault.Kind
		want  string
	}{
		{`{ organization(organization_id: "nobody") { id } }`, fault.KindNotFound, `"path":["organization"]`},
		{`{ organization(organization_id: "o", time: 99999999999999999) { id } }`, fault.KindInvalid, "time"},
		{`{ organization(organization_id: "o") { nonsense } }`, fault.KindInvalid, `Cannot query field \"nonsense\"`},
		{`{ organization(organization_id: "o" { id } }`, fault.KindInvalid, `"locations"`},
		{`{ account(account_id: "none") { id } }`, fault.KindNotFound, "no account none"},
		{`{ organizations(organization_ids: [` + strings.Repeat(`"o",`, MaxOrganizations+1) + `]) { id } }`, fault.KindInvalid, "at most 100"},
		{`{ a: organizations(organization_ids: [` + strings.Repeat(`"o",`, MaxOrganizations) + `]) { id } b: organization(organization_id: "o") { id } }`,
			fault.KindInvalid, "at most 100"},
		{`{ __schema { types { name } } }`, fault.KindInvalid, "introspection is not served"},
	} {
		got, kind := run(c.query)
		if kind != c.kind || !strings.Contains(got, c.want) || !strings.Contains(got, `"errors"`) {
			t.Errorf("%s: %s %s, want %s errors containing %s", c.query, kind, got, c.kind, c.want)
		}
	}
}

type fakeAccounts map[string]catalog.Account

func (f fakeAccounts) Account(id string) (catalog.Account, bool) { a, ok := f[id]; return a, ok }
