package focus

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/report/reporttest"
)

// builtin is the built-in sample plans, compiled, and a catalog of the seed's account.
type builtin struct {
	metering map[string]*plans.Metering
	rating   map[string]*plans.Rating
	pricing  map[string]*plans.Pricing
	accounts map[string]catalog.Account
}

func (b builtin) MeteringPlan(id string) (*plans.Metering, bool) {
	m, ok := b.metering[id]
	return m, ok
}
func (b builtin) RatingPlan(id string) (*plans.Rating, bool) { r, ok := b.rating[id]; return r, ok }
func (b builtin) Account(id string) (catalog.Account, bool)  { a, ok := b.accounts[id]; return a, ok }
func (b builtin) AccountOf(org string) (catalog.Account, bool) {
	for _, a := range b.accounts {
		for _, o := range a.Organizations {
			if o == org {
				return a, true
			}
		}
	}
	return catalog.DefaultAccount, false
}
func (b builtin) Price(pricingPlan, metric, org string) (decimal.Decimal, bool) {
	p, ok := b.pricing[pricingPlan]
	if !ok {
		return decimal.Decimal{}, false
	}
	a, _ := b.AccountOf(org)
	return p.Price(metric, a.PricingCountry)
}

func builtinPlans(t testing.TB) builtin {
	t.Helper()
	src, err := plans.LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	b := builtin{metering: map[string]*plans.Metering{}, rating: map[string]*plans.Rating{}, pricing: map[string]*plans.Pricing{},
		accounts: map[string]catalog.Account{seedAccount: {AccountID: seedAccount, Name: "Seed Account",
			Organizations: []string{seedOrg, seedOrg2}, PricingCountry: "USA", Currency: "USD"}}}
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

// The seed's organizations and account, and a time inside November 2026.
const (
	seedOrg     = "us-south:a3d7fe4d-3cb1-4cc3-a831-ffe98e20cf27"
	seedOrg2    = "us-south:b3d7fe4d-3cb1-4cc3-a831-ffe98e20cf28"
	lonelyOrg   = "org-without-account"
	seedAccount = "1234"
	objectKey   = "basic/basic-object-storage/object-rating-plan/object-pricing-basic"
	linuxKey    = "basic/basic-linux-container/linux-rating-plan/linux-pricing-basic"
)

var objectPrices = map[string]string{"storage": "1", "thousand_light_api_calls": "0.03", "heavy_api_calls": "0.15"}

// objectCells are the instance-scope month cells of object storage usage q (storage,
// thousands of light calls, heavy calls) of at's month, with their resource-level cells.
func objectCells(space, consumer, instance string, at, processed int64, q [3]string) []report.Cell {
	var out []report.Cell
	from, _ := metering.Month.Period(at)
	for i, metric := range []string{"storage", "thousand_light_api_calls", "heavy_api_calls"} {
		qty := decimal.RequireFromString(q[i])
		c := report.Cell{Scope: metering.ScopeInstance, Space: space, Consumer: consumer, Instance: instance,
			Resource: "object-storage", Metric: metric, Level: metering.Month, From: from, Quantity: report.DecimalValue(qty), Processed: processed}
		plan := c
		plan.Plan, plan.Cost = objectKey, report.DecimalValue(qty.Mul(decimal.RequireFromString(objectPrices[metric])))
		out = append(out, plan, c)
	}
	return out
}

// seedExporter is the export over: the seed's object storage in the first organization (two
// instances), a linux app running since the 2nd of the month, last month's usage, usage
// processed after the export's time, and object storage in the second organization and in an
// organization no account names. at is the export's time; the clock reads an hour later.
func seedExporter(t testing.TB, at int64) *Exporter {
	t.Helper()
	st := &reporttest.Memory{}
	write := func(org string, cells []report.Cell) {
		for _, c := range cells {
			st.Write(reporttest.Version{Org: org, Cell: c, Visible: c.Processed})
		}
	}
	processed := at - 1000
	write(seedOrg, objectCells("space-1", "app:1", "instance-1", at, processed, [3]string{"1", "3", "300"}))
	write(seedOrg, objectCells("space-1", "app:2", "instance-2", at, processed, [3]string{"2", "1", "100"}))
	lastMonth := time.UnixMilli(at).UTC().AddDate(0, -1, 0).UnixMilli()
	write(seedOrg, objectCells("space-1", "app:1", "instance-1", lastMonth, lastMonth, [3]string{"7", "7", "7"}))
	write(seedOrg, objectCells("space-1", "app:3", "instance-late", at, at+1, [3]string{"9", "9", "9"}))
	write(seedOrg2, objectCells("s2", "app:3", "i3", at, processed, [3]string{"0.5", "10", "7"}))
	write(lonelyOrg, objectCells("s3", "app:4", "i4", at, processed, [3]string{"1", "0", "0"}))

	from, to := metering.Month.Period(at)
	start := from + 24*3600_000
	two := decimal.NewFromInt(2)
	consumed := two.Mul(decimal.NewFromInt(from + to - 2*start))
	qty, err := report.ValueOf(map[string]any{"consuming": two, "consumed": consumed, "since": start})
	if err != nil {
		t.Fatal(err)
	}
	cost, err := report.ValueOf(map[string]any{"consuming": two, "consumed": consumed, "price": decimal.RequireFromString("0.00014")})
	if err != nil {
		t.Fatal(err)
	}
	write(seedOrg, []report.Cell{{Scope: metering.ScopeInstance, Space: "space-1", Consumer: "app:linux", Instance: "app:linux",
		Resource: "linux-container", Plan: linuxKey, Metric: "memory", Level: metering.Month, From: from, Processed: processed,
		Quantity: qty, Cost: cost}})
	b := builtinPlans(t)
	return NewExporter(&report.Reporter{Store: st, Plans: b, Slots: metering.DefaultSlots, Future: time.Minute,
		Settle: 5 * time.Second, Clock: clock.NewManual(time.UnixMilli(at + 3600_000))}, b)
}
