package metering

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/provisioning"
	"github.com/meterline/meterline/internal/usage"
)

// catalogWriter applies records straight to a catalog, standing in for the Kafka topic.
type catalogWriter struct{ c *provisioning.Catalog }

func (w catalogWriter) Put(_ context.Context, r provisioning.Record) error { return w.c.Apply(r) }

func builtinCatalog(t testing.TB) *provisioning.Catalog {
	t.Helper()
	c := provisioning.NewCatalog()
	if err := provisioning.NewAPI(c, catalogWriter{c}, zap.NewNop()).LoadBuiltin(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
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

func orgCell(metric string, l Level, at int64, plan string) CellKey {
	from, _ := l.Period(at)
	return CellKey{Scope: ScopeOrganization, Org: "org", Resource: "object-storage", Plan: plan, Metric: metric, Level: l, From: from}
}

// TestProcessObjectStorage runs Abacus' object storage figures through the processor: three
// documents of one instance, then the same for three more instances.
func TestProcessObjectStorage(t *testing.T) {
	p := &Processor{Plans: builtinCatalog(t), Acceptance: DefaultAcceptance}
	state := NewCells()
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC).UnixMilli()
	plan := PlanKey("basic", "basic-object-storage", "object-rating-plan", "object-pricing-basic")
	var last []*Cell
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
		for l := Level(0); l < Levels; l++ {
			if l < Hour {
				continue // the three documents are in different seconds and one minute
			}
			k := orgCell(c.metric, l, now-1000, plan)
			if v := state.Get(k); !equalDec(v, c.qty) {
				t.Errorf("%s %s org quantity = %v, want %s", c.metric, l, v, c.qty)
			}
			if v := state.Get(k.resourceLevel()); !equalDec(v, c.qty) {
				t.Errorf("%s %s org resource-level quantity = %v, want %s", c.metric, l, v, c.qty)
			}
		}
		for _, u := range last {
			if u.Key() == orgCell(c.metric, Month, now, plan) && !equalDec(u.Cost(), c.cost) {
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
		if v := state.Get(orgCell(metric, Month, now, plan)); !equalDec(v, want) {
			t.Errorf("4 instances x 4 documents: %s = %v, want %s", metric, v, want)
		}
	}
}

func (k CellKey) resourceLevel() CellKey { k.Plan = ""; return k }

func equalDec(v any, want string) bool {
	d, ok := v.(decimal.Decimal)
	return ok && d.Equal(decimal.RequireFromString(want))
}

// TestProcessRejects: late, future and unplanned usage is rejected with its reason and leaves
// the state untouched; so does a failing formula.
func TestProcessRejects(t *testing.T) {
	cat := builtinCatalog(t)
	p := &Processor{Plans: cat, Acceptance: DefaultAcceptance}
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC).UnixMilli()
	f := func(name string, doc *usage.Document, want error) {
		t.Helper()
		state := NewCells()
		_, err := p.Process(doc, now, state)
		if !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", name, err, want)
		}
		var r *Rejection
		if errors.As(err, &r) && r.Reason == "" {
			t.Errorf("%s: rejection without a reason", name)
		}
		if n := len(state.Changed()); n != 0 {
			t.Errorf("%s: state changed: %d cells", name, n)
		}
	}
	f("beyond the slack", objectDoc("i", now-49*3600*1000), ErrTooLate)
	f("from the future", objectDoc("i", now+3600*1000), ErrFuture)
	unknown := objectDoc("i", now)
	unknown.ResourceID = "no-such-resource"
	f("unknown resource", unknown, ErrNoPlan)
	noPlan := objectDoc("i", now)
	noPlan.PlanID = "gold"
	f("unmapped plan", noPlan, ErrNoPlan)

	bad := plans.MeteringPlan{PlanID: "divides-by-zero", Measures: []plans.Measure{{Name: "storage"}},
		Metrics: []plans.MeteringMetric{{Name: "storage", Accumulate: "a + qty / 0"}}}
	api := provisioning.NewAPI(cat, catalogWriter{cat}, zap.NewNop())
	if _, err := api.PutPlan(context.Background(), provisioning.KindMetering, &bad); err != nil {
		t.Fatal(err)
	}
	if _, err := api.PutResourceType(context.Background(), provisioning.ResourceType{ResourceID: "div", ResourceType: "div"}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.PutMapping(context.Background(), provisioning.Mapping{Kind: provisioning.KindMetering, ResourceType: "div", PlanID: "basic", Plan: "divides-by-zero"}); err != nil {
		t.Fatal(err)
	}
	div := objectDoc("i", now)
	div.ResourceID = "div"
	var ee *plans.EvalError
	state := NewCells()
	if _, err := p.Process(div, now, state); !errors.As(err, &ee) || ee.Plan != "divides-by-zero" || ee.Document != div.ID() || len(state.Changed()) != 0 {
		t.Errorf("failing formula: %v (state %d cells), want an EvalError and no state change", err, len(state.Changed()))
	}
}

// TestLateUsageLandsInItsOwnPeriod: usage within the slack but from yesterday changes
// yesterday's day cell, never today's.
func TestLateUsageLandsInItsOwnPeriod(t *testing.T) {
	p := &Processor{Plans: builtinCatalog(t), Acceptance: DefaultAcceptance}
	now := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC).UnixMilli()
	yesterday := now - 2*3600*1000 // 2026-11-30T23:00Z: last month too
	updates, err := p.Process(objectDoc("i", yesterday), now, NewCells())
	if err != nil {
		t.Fatal(err)
	}
	nowDay, _ := Day.Period(now)
	nowMonth, _ := Month.Period(now)
	for _, u := range updates {
		if k := u.Key(); (k.Level == Day && k.From == nowDay) || (k.Level == Month && k.From == nowMonth) {
			t.Errorf("late usage changed the current period: %+v", k)
		}
	}
}

// TestNoPriceInCountry: an organization whose account's country the pricing plan does not
// price is rejected, not charged nothing.
func TestNoPriceInCountry(t *testing.T) {
	cat := builtinCatalog(t)
	api := provisioning.NewAPI(cat, catalogWriter{cat}, zap.NewNop())
	if _, err := api.PutAccount(context.Background(), provisioning.Account{AccountID: "far", Organizations: []string{"org"},
		PricingCountry: "NZL", Currency: "NZD"}); err != nil {
		t.Fatal(err)
	}
	p := &Processor{Plans: cat, Acceptance: DefaultAcceptance}
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC).UnixMilli()
	state := NewCells()
	if _, err := p.Process(objectDoc("i", now), now, state); !errors.Is(err, ErrNoPrice) || len(state.Changed()) != 0 {
		t.Errorf("got %v with %d cells, want ErrNoPrice and no change", err, len(state.Changed()))
	}
}

// TestCellKeyString: keys read back as they were, ids with any characters escaped as
// url.PathEscape does.
func TestCellKeyString(t *testing.T) {
	f := func(k CellKey, want string) {
		t.Helper()
		if got := k.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
		if back, err := ParseCellKey(want); err != nil || back != k {
			t.Errorf("ParseCellKey(%q) = %+v, %v, want %+v", want, back, err, k)
		}
	}
	f(CellKey{Scope: ScopeInstance, Org: "o-1", Space: "s_2", Consumer: "app:1", Instance: "i.3~", Resource: "r",
		Plan: PlanKey("p", "m", "r", "x"), Metric: "m", Level: Hour, From: -3600000},
		"c/instance/o-1/s_2/app:1/i.3~/r/p%2Fm%2Fr%2Fx/m/hour/-3600000")
	f(CellKey{Scope: ScopeOrganization, Org: "ü ?#%/", Resource: "r", Metric: "m", Level: Month, From: 0},
		"c/organization/%C3%BC%20%3F%23%25%2F////r//m/month/0")
}

// TestRatingFailureDoesNotDependOnBatching: a rating formula that fails on one value the
// organization's storage passes through (3 GB) rejects the document that makes it, whether the
// documents' cells are rated one by one (Process) or once per transaction (Meter, then Rate):
// of four instances storing 1 GB each, the third and the fourth (which makes 3 again) are
// rejected both ways.
func TestRatingFailureDoesNotDependOnBatching(t *testing.T) {
	cat := builtinCatalog(t)
	api := provisioning.NewAPI(cat, catalogWriter{cat}, zap.NewNop())
	ctx := context.Background()
	odd := plans.RatingPlan{PlanID: "odd-rating",
		Metrics: []plans.RatingMetric{{Name: "storage", Rate: "(price, qty) => qty == 3 ? qty / 0 : qty"}}}
	if _, err := api.PutPlan(ctx, provisioning.KindRating, &odd); err != nil {
		t.Fatal(err)
	}
	if _, err := api.PutResourceType(ctx, provisioning.ResourceType{ResourceID: "odd-storage", ResourceType: "odd"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range [][2]string{{provisioning.KindMetering, "basic-object-storage"}, {provisioning.KindRating, "odd-rating"}} {
		if _, err := api.PutMapping(ctx, provisioning.Mapping{Kind: m[0], ResourceType: "odd", PlanID: "basic", Plan: m[1]}); err != nil {
			t.Fatal(err)
		}
	}
	p := &Processor{Plans: cat, Acceptance: DefaultAcceptance}
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC).UnixMilli()
	for _, batched := range []bool{false, true} {
		cells := NewCells()
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
