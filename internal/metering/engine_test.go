package metering_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/usage"
)

func builtinCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// put applies catalog documents (plans, mappings, resource types) as their records would be.
func put(t testing.TB, c *catalog.Catalog, docs ...any) {
	t.Helper()
	for _, d := range docs {
		r, err := catalog.RecordOf(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
}

func objectDoc(instance string, end int64) *usage.Document {
	return &usage.Document{Start: end, End: end, OrganizationID: "org", SpaceID: "space", ConsumerID: "app:1",
		ResourceID: "object-storage", PlanID: "basic", ResourceInstanceID: instance,
		MeasuredUsage: []usage.Measure{
			{Measure: "storage", Quantity: decimal.NewFromInt(1073741824)},
			{Measure: "light_api_calls", Quantity: decimal.NewFromInt(1000)},
			{Measure: "heavy_api_calls", Quantity: decimal.NewFromInt(100)},
		}}
}

func orgCell(metric string, l metering.Level, at int64, plan string) metering.CellKey {
	from, _ := l.Period(at)
	return metering.CellKey{Scope: metering.ScopeOrganization, Org: "org", Resource: "object-storage", Plan: plan, Metric: metric, Level: l, From: from}
}

// TestProcessObjectStorage runs Abacus' object storage figures through the processor: three
// documents of one instance, then the same for three more instances.
func TestProcessObjectStorage(t *testing.T) { atInstants(t, testProcessObjectStorage) }

func testProcessObjectStorage(t *testing.T, now int64) {
	p := &metering.Engine{Plans: builtinCatalog(t), Acceptance: metering.DefaultAcceptance}
	state := metering.NewCells()
	plan := metering.PlanKey("basic", "basic-object-storage", "object-rating-plan", "object-pricing-basic")
	var last []*metering.Cell
	for i := range 3 {
		var err error
		last, err = p.Process(objectDoc("i1", now-int64(i+1)*1000), now, state)
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		metric, qty, cost string
	}{{"storage", "1", "1"}, {"thousand_light_api_calls", "3", "0.09"}, {"heavy_api_calls", "300", "45"}} {
		for l := metering.Level(0); l < metering.Levels; l++ {
			if l < metering.Hour {
				continue // the three documents are in different seconds and one minute
			}
			k := orgCell(c.metric, l, now-1000, plan)
			if v := state.Get(k); !equalDec(v, c.qty) {
				t.Errorf("%s %s org quantity = %v, want %s", c.metric, l, v, c.qty)
			}
			if v := state.Get(resourceLevel(k)); !equalDec(v, c.qty) {
				t.Errorf("%s %s org resource-level quantity = %v, want %s", c.metric, l, v, c.qty)
			}
		}
		for _, u := range last {
			if u.Key() == orgCell(c.metric, metering.Month, now, plan) && !equalDec(u.Cost(), c.cost) {
				t.Errorf("%s month cost = %v, want %s", c.metric, u.Cost(), c.cost)
			}
		}
	}
	for _, inst := range []string{"i2", "i3", "i4"} {
		for i := range 4 {
			if _, err := p.Process(objectDoc(inst, now-int64(i+1)*1000), now, state); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := p.Process(objectDoc("i1", now-4000), now, state); err != nil { // i1's fourth document
		t.Fatal(err)
	}
	for metric, want := range map[string]string{"storage": "4", "thousand_light_api_calls": "16", "heavy_api_calls": "1600"} {
		if v := state.Get(orgCell(metric, metering.Month, now, plan)); !equalDec(v, want) {
			t.Errorf("4 instances x 4 documents: %s = %v, want %s", metric, v, want)
		}
	}
}

func resourceLevel(k metering.CellKey) metering.CellKey { k.Plan = ""; return k }

func equalDec(v any, want string) bool {
	d, ok := v.(decimal.Decimal)
	return ok && d.Equal(decimal.RequireFromString(want))
}

// TestProcessRejects: late, future and unplanned usage is rejected with its reason and leaves
// the state untouched; so does a failing formula.
func TestProcessRejects(t *testing.T) { atInstants(t, testProcessRejects) }

func testProcessRejects(t *testing.T, now int64) {
	cat := builtinCatalog(t)
	p := &metering.Engine{Plans: cat, Acceptance: metering.DefaultAcceptance}
	f := func(name string, doc *usage.Document, want error) {
		t.Helper()
		state := metering.NewCells()
		_, err := p.Process(doc, now, state)
		if !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", name, err, want)
		}
		var r *metering.Rejection
		if errors.As(err, &r) && r.Reason == "" {
			t.Errorf("%s: rejection without a reason", name)
		}
		if n := len(state.Changed()); n != 0 {
			t.Errorf("%s: state changed: %d cells", name, n)
		}
	}
	f("beyond the slack", objectDoc("i", now-49*3600*1000), metering.ErrTooLate)
	f("from the future", objectDoc("i", now+3600*1000), metering.ErrFuture)
	unknown := objectDoc("i", now)
	unknown.ResourceID = "no-such-resource"
	f("unknown resource", unknown, metering.ErrNoPlan)
	noPlan := objectDoc("i", now)
	noPlan.PlanID = "gold"
	f("unmapped plan", noPlan, metering.ErrNoPlan)

	bad := plans.MeteringPlan{PlanID: "divides-by-zero", Measures: []plans.Measure{{Name: "storage"}},
		Metrics: []plans.MeteringMetric{{Name: "storage", Accumulate: "a + qty / 0"}}}
	put(t, cat, &bad, catalog.ResourceType{ResourceID: "div", ResourceType: "div"},
		catalog.Mapping{Kind: plans.KindMetering, ResourceType: "div", PlanID: "basic", Plan: "divides-by-zero"})
	div := objectDoc("i", now)
	div.ResourceID = "div"
	var ee *plans.EvalError
	state := metering.NewCells()
	if _, err := p.Process(div, now, state); !errors.As(err, &ee) || ee.Plan != "divides-by-zero" || ee.Document != div.ID() || len(state.Changed()) != 0 {
		t.Errorf("failing formula: %v (state %d cells), want an EvalError and no state change", err, len(state.Changed()))
	}
}

// TestLateUsageLandsInItsOwnPeriod: usage within the slack but from yesterday changes
// yesterday's day cell, never today's.
func TestLateUsageLandsInItsOwnPeriod(t *testing.T) {
	f := func(now int64) {
		t.Helper()
		lateUsageLandsInItsOwnPeriod(t, now)
	}
	f(time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC).UnixMilli())
	// On the first of each instant's month at its time of day: yesterday is last month.
	atInstants(t, func(t *testing.T, now int64) {
		month, _ := metering.Month.Period(now)
		day, _ := metering.Day.Period(now)
		lateUsageLandsInItsOwnPeriod(t, month+now-day)
	})
}

func lateUsageLandsInItsOwnPeriod(t *testing.T, now int64) {
	p := &metering.Engine{Plans: builtinCatalog(t), Acceptance: metering.DefaultAcceptance}
	today, _ := metering.Day.Period(now)
	yesterday := today - 3600*1000 // 23:00 yesterday, within the slack; on the 1st, last month too
	updates, err := p.Process(objectDoc("i", yesterday), now, metering.NewCells())
	if err != nil {
		t.Fatal(err)
	}
	nowDay, _ := metering.Day.Period(now)
	nowMonth, _ := metering.Month.Period(now)
	for _, u := range updates {
		if k := u.Key(); (k.Level == metering.Day && k.From == nowDay) || (k.Level == metering.Month && k.From == nowMonth) {
			t.Errorf("late usage changed the current period: %+v", k)
		}
	}
}

// TestNoPriceInCountry: an organization whose account's country the pricing plan does not
// price is rejected, not charged nothing.
func TestNoPriceInCountry(t *testing.T) { atInstants(t, testNoPriceInCountry) }

func testNoPriceInCountry(t *testing.T, now int64) {
	cat := builtinCatalog(t)
	put(t, cat, catalog.Account{AccountID: "far", Organizations: []string{"org"}, PricingCountry: "NZL", Currency: "NZD"})
	p := &metering.Engine{Plans: cat, Acceptance: metering.DefaultAcceptance}
	state := metering.NewCells()
	if _, err := p.Process(objectDoc("i", now), now, state); !errors.Is(err, metering.ErrNoPrice) || len(state.Changed()) != 0 {
		t.Errorf("got %v with %d cells, want metering.ErrNoPrice and no change", err, len(state.Changed()))
	}
}

// TestCellKeyString: keys read back as they were, ids with any characters escaped as
// url.PathEscape does.
func TestCellKeyString(t *testing.T) {
	f := func(k metering.CellKey, want string) {
		t.Helper()
		if got := k.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
		if back, err := metering.ParseCellKey(want); err != nil || back != k {
			t.Errorf("metering.ParseCellKey(%q) = %+v, %v, want %+v", want, back, err, k)
		}
	}
	f(metering.CellKey{Scope: metering.ScopeInstance, Org: "o-1", Space: "s_2", Consumer: "app:1", Instance: "i.3~", Resource: "r",
		Plan: metering.PlanKey("p", "m", "r", "x"), Metric: "m", Level: metering.Hour, From: -3600000},
		"c/instance/o-1/s_2/app:1/i.3~/r/p%2Fm%2Fr%2Fx/m/hour/-3600000")
	f(metering.CellKey{Scope: metering.ScopeOrganization, Org: "ü ?#%/", Resource: "r", Metric: "m", Level: metering.Month, From: 0},
		"c/organization/%C3%BC%20%3F%23%25%2F////r//m/month/0")
}

// TestRatingFailureDoesNotDependOnBatching: a rating formula that fails on one value the
// organization's storage passes through (3 GB) rejects the document that makes it, whether the
// documents' cells are rated one by one (Process) or once per transaction (Meter, then Rate):
// of four instances storing 1 GB each, the third and the fourth (which makes 3 again) are
// rejected both ways.
func TestRatingFailureDoesNotDependOnBatching(t *testing.T) {
	atInstants(t, testRatingFailureDoesNotDependOnBatching)
}

func testRatingFailureDoesNotDependOnBatching(t *testing.T, now int64) {
	cat := builtinCatalog(t)
	odd := plans.RatingPlan{PlanID: "odd-rating",
		Metrics: []plans.RatingMetric{{Name: "storage", Rate: "(price, qty) => qty == 3 ? qty / 0 : qty"}}}
	put(t, cat, &odd, catalog.ResourceType{ResourceID: "odd-storage", ResourceType: "odd"},
		catalog.Mapping{Kind: plans.KindMetering, ResourceType: "odd", PlanID: "basic", Plan: "basic-object-storage"},
		catalog.Mapping{Kind: plans.KindRating, ResourceType: "odd", PlanID: "basic", Plan: "odd-rating"})
	p := &metering.Engine{Plans: cat, Acceptance: metering.DefaultAcceptance}
	for _, batched := range []bool{false, true} {
		cells := metering.NewCells()
		var rejected []int
		for i, inst := range []string{"i1", "i2", "i3", "i4"} {
			d := objectDoc(inst, now-int64(4-i)*1000)
			d.ResourceID = "odd-storage"
			var err error
			if batched {
				err = p.Meter(d, now, cells)
			} else {
				_, err = p.Process(d, now, cells)
			}
			var ee *plans.EvalError
			if errors.As(err, &ee) {
				rejected = append(rejected, i+1)
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Rate(cells); err != nil {
			t.Errorf("batched %v: Rate after the documents: %v", batched, err)
		}
		if fmt.Sprint(rejected) != "[3 4]" {
			t.Errorf("batched %v: rejected documents %v, want [3 4]", batched, rejected)
		}
	}
}

// heavyDoc is a document of heavy API calls only, of quantity qty, told apart by dedup.
func heavyDoc(org, instance, qty, dedup string, end int64) *usage.Document {
	return &usage.Document{Start: end, End: end, OrganizationID: org, SpaceID: "space", ConsumerID: "app:1",
		ResourceID: "object-storage", PlanID: "basic", ResourceInstanceID: instance, DedupID: dedup,
		MeasuredUsage: []usage.Measure{{Measure: "heavy_api_calls", Quantity: decimal.RequireFromString(qty)}}}
}

const nines26 = "99999999999999999999999999" // the largest whole quantity Decimal(38, 12) holds

// TestOverflowIsRejected: two valid documents whose quantities add up past Decimal(38, 12)
// in a cell: the first counts, the second is rejected (overflow) with a reason naming the
// metric and the cell, and leaves the state as it was; the cells stay writable, and other
// organizations are not affected. The same with documents metered first and rated once
// (Meter, then Rate).
func TestOverflowIsRejected(t *testing.T) { atInstants(t, testOverflowIsRejected) }

func testOverflowIsRejected(t *testing.T, now int64) {
	p := &metering.Engine{Plans: builtinCatalog(t), Acceptance: metering.DefaultAcceptance}
	plan := metering.PlanKey("basic", "basic-object-storage", "object-rating-plan", "object-pricing-basic")
	for _, batched := range []bool{false, true} {
		cells := metering.NewCells()
		apply := func(d *usage.Document) error {
			if batched {
				return p.Meter(d, now, cells)
			}
			_, err := p.Process(d, now, cells)
			return err
		}
		if err := apply(heavyDoc("org", "i1", nines26, "a", now-2000)); err != nil {
			t.Fatalf("batched %v: the first document: %v", batched, err)
		}
		before := len(cells.Changed())
		err := apply(heavyDoc("org", "i1", nines26, "b", now-1000))
		var r *metering.Rejection
		if code, ok := metering.CodeOf(err); !errors.As(err, &r) || !errors.Is(err, metering.ErrOverflow) || !ok || code != metering.RejectOverflow {
			t.Fatalf("batched %v: the second document: %v, want an overflow rejection", batched, err)
		}
		for _, want := range []string{"heavy_api_calls", "instance", "org", "i1", "Decimal(38, 12)"} {
			if !strings.Contains(r.Reason, want) {
				t.Errorf("batched %v: the reason %q does not name %s", batched, r.Reason, want)
			}
		}
		if len(r.Reason) > 600 {
			t.Errorf("batched %v: a reason of %d bytes", batched, len(r.Reason))
		}
		month := orgCell("heavy_api_calls", metering.Month, now-1000, plan)
		if v := cells.Get(month); !equalDec(v, nines26) || len(cells.Changed()) != before {
			t.Errorf("batched %v: after the rejection the month cell is %v (%d cells changed, %d before), want %s unchanged",
				batched, v, len(cells.Changed()), before, nines26)
		}
		// The cell takes what still fits, and another organization meters as before.
		if err := apply(heavyDoc("org", "i1", "0", "c", now-500)); err != nil {
			t.Errorf("batched %v: a document that fits: %v", batched, err)
		}
		if err := apply(heavyDoc("other", "i1", nines26, "d", now-500)); err != nil {
			t.Errorf("batched %v: another organization: %v", batched, err)
		}
		if err := p.Rate(cells); err != nil {
			t.Errorf("batched %v: Rate: %v", batched, err)
		}
	}
}

// TestCostOverflowIsRejected: a cost past Decimal(38, 12) rejects the document that makes it
// (overflow) when documents are rated one by one; rated once per transaction (Rate), the
// failure is an overflow rejection too, which the processor answers by rating document by
// document.
func TestCostOverflowIsRejected(t *testing.T) { atInstants(t, testCostOverflowIsRejected) }

func testCostOverflowIsRejected(t *testing.T, now int64) {
	cat := builtinCatalog(t)
	dear := plans.PricingPlan{PlanID: "dear", Metrics: []plans.PricingMetric{
		{Name: "storage", Prices: []plans.Price{{Country: "USA", Price: decimal.NewFromInt(1)}}},
		{Name: "thousand_light_api_calls", Prices: []plans.Price{{Country: "USA", Price: decimal.NewFromInt(1)}}},
		{Name: "heavy_api_calls", Prices: []plans.Price{{Country: "USA", Price: decimal.RequireFromString("1e20")}}},
	}}
	put(t, cat, &dear, catalog.Mapping{Kind: plans.KindPricing, ResourceType: "object-storage", PlanID: "basic", OrganizationID: "org", Plan: "dear"})
	p := &metering.Engine{Plans: cat, Acceptance: metering.DefaultAcceptance}

	cells := metering.NewCells()
	if _, err := p.Process(heavyDoc("org", "i1", "100000", "a", now-2000), now, cells); err != nil {
		t.Fatal(err) // a cost of 1e25
	}
	_, err := p.Process(heavyDoc("org", "i1", "1000000", "b", now-1000), now, cells) // 1.1e26
	if code, _ := metering.CodeOf(err); code != metering.RejectOverflow || !strings.Contains(err.Error(), "cost") {
		t.Errorf("a document whose cost overflows: %v, want an overflow rejection naming the cost", err)
	}

	cells = metering.NewCells()
	for i, qty := range []string{"100000", "1000000"} {
		if err := p.Meter(heavyDoc("org", "i1", qty, fmt.Sprint(i), now-2000), now, cells); err != nil {
			t.Fatal(err)
		}
	}
	if code, _ := metering.CodeOf(p.Rate(cells)); code != metering.RejectOverflow {
		t.Errorf("Rate of a cost that overflows: %v, want an overflow rejection", p.Rate(cells))
	}
}
