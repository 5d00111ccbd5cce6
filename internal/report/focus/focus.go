// Package focus is the FOCUS 1.2 view of the report core: the rated usage of a billing period
// (a UTC calendar month) as FinOps FOCUS rows, for an organization or for every organization
// of an account, written as CSV or Parquet.
//
// A row is one metric of one resource instance under one set of plans: the instance-scope
// month cell of the billing period, as of the export's time (report.Reporter's as-of reads).
// Its ConsumedQuantity and PricingQuantity are the metering plan's summary and its BilledCost
// the rating plan's charge, both computed at the export's time as every report computes them,
// exactly, and rounded once, on output, to Precision decimal places (half to even). Meterline
// grants no discounts, so ListCost, ContractedCost and EffectiveCost equal BilledCost; the
// ListUnitPrice is the pricing plan's price of the metric in the account's pricing country.
// The sum of an organization's BilledCost is its month charge in the Abacus report (up to the
// rounding of each row, less than 1e-12 per row).
//
// Like every view, it imports the report core and never another view.
package focus

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/report"
)

// Precision is the decimal places every cost, price and quantity of an export is rounded to,
// once, half to even: those of usage_cells (Decimal(38, 12)) and of the other reports.
const Precision = plans.StoredScale

// The values FOCUS asks for that are the same on every row Meterline writes.
const (
	// Meterline is the provider, publisher and invoice issuer of what it rates.
	Meterline          = "Meterline"
	chargeCategory     = "Usage"
	chargeFrequency    = "Usage-Based"
	pricingCategory    = "Standard"
	serviceCategory    = "Other"
	serviceSubcategory = "Other (Other)"
)

// Catalog is what an export reads of the catalog: the accounts (names, currencies, their
// organizations) and the prices.
type Catalog interface {
	Account(id string) (catalog.Account, bool)
	AccountOf(org string) (catalog.Account, bool)
	Price(pricingPlan, metric, org string) (decimal.Decimal, bool)
}

// Row is one FOCUS row. A nil pointer is a null.
type Row struct {
	BillingAccountID, BillingAccountName string
	BillingCurrency                      string
	BillingPeriodStart, BillingPeriodEnd time.Time
	ChargePeriodStart, ChargePeriodEnd   time.Time
	ChargeDescription                    string
	// BilledCost is the charge, unrounded; writers round it to Precision.
	BilledCost       decimal.Decimal
	Quantity         decimal.Decimal // ConsumedQuantity and PricingQuantity
	Unit             string          // ConsumedUnit and PricingUnit; "" is null
	ListUnitPrice    *decimal.Decimal
	ResourceID       string
	ResourceType     string // and ServiceName: the resource id (object-storage, ...)
	SkuID            string // the plan key
	SkuPriceID       string // <pricing plan>/<metric>
	SubAccountID     string // the organization
	Tags             string // JSON: the space, consumer and plan ids
	RegionID         string // the organization id's region prefix (us-south:...), "" is null
	organizationName string
}

// Exporter builds FOCUS rows with the report core.
type Exporter struct {
	r   *report.Reporter
	cat Catalog
	// MaxRows bounds the rows of one export; a larger one is refused (or, once rows were
	// written, cut off so that the client sees an incomplete answer, never a short valid one).
	MaxRows int
}

// DefaultMaxRows is an export's row bound: 1,000,000 rows of about 700 bytes of CSV.
const DefaultMaxRows = 1_000_000

// NewExporter returns the FOCUS view over r, with the accounts and prices of cat.
func NewExporter(r *report.Reporter, cat Catalog) *Exporter {
	return &Exporter{r: r, cat: cat, MaxRows: DefaultMaxRows}
}

// Organizations returns the organizations an export of p covers: p's organization, or every
// organization of p's account (fault.NotFound for an unknown account).
func (e *Exporter) Organizations(p Params) ([]string, error) {
	if p.Organization != "" {
		return []string{p.Organization}, nil
	}
	a, ok := e.cat.Account(p.Account)
	if !ok {
		return nil, fault.NotFound("no account %s", p.Account)
	}
	if len(a.Organizations) > MaxOrganizations {
		return nil, fault.Invalid("account too large", fault.Problem{Field: "account_id", Value: p.Account,
			Reason: fmt.Sprintf("%d organizations, more than the %d one export covers", len(a.Organizations), MaxOrganizations)})
	}
	return slices.Sorted(slices.Values(a.Organizations)), nil
}

// MaxOrganizations bounds the organizations of an account export, as GraphQL's account.
const MaxOrganizations = 100

// Rows returns the FOCUS rows of org in p's billing period as of p.AsOf, ordered by space,
// consumer, instance, resource, plan and metric (the golden files and the clients' diffs need
// a stable order).
func (e *Exporter) Rows(ctx context.Context, org string, p Params) ([]Row, error) {
	cells, err := e.r.Store.Read(ctx, report.Query{Org: org, AsOf: p.AsOf, Scopes: []metering.Scope{metering.ScopeInstance},
		Periods: []report.Period{{Level: metering.Month, From: p.Start.UnixMilli()}}})
	if err != nil {
		return nil, err
	}
	// Resource-level cells (no plan) add up every plan of a resource; their charge is in the
	// plan cells already.
	cells = slices.DeleteFunc(cells, func(c report.Cell) bool { return c.Plan == "" })
	slices.SortFunc(cells, func(a, b report.Cell) int {
		return cmpStrings([]string{a.Space, a.Consumer, a.Instance, a.Resource, a.Plan, a.Metric},
			[]string{b.Space, b.Consumer, b.Instance, b.Resource, b.Plan, b.Metric})
	})
	acct, _ := e.cat.AccountOf(org)
	sets := map[string]report.PlanSet{}
	rows := make([]Row, 0, len(cells))
	for i := range cells {
		c := &cells[i]
		ps, ok := sets[c.Plan]
		if !ok {
			if ps, err = e.r.PlanSet(report.SplitPlanKey(c.Plan)); err != nil {
				return nil, err
			}
			sets[c.Plan] = ps
		}
		mm := metricOf(ps.Metering, c.Metric)
		if mm == nil {
			return nil, fmt.Errorf("cell of metric %s, which metering plan %s does not have", c.Metric, ps.IDs.MeteringPlanID)
		}
		summary, charge, err := ps.Rate(mm, c, p.AsOf)
		if err != nil {
			return nil, err
		}
		if !fitsDecimal38(charge) || !fitsDecimal38(summary) {
			return nil, fmt.Errorf("plan %s, metric %s: summary %s or charge %s does not fit Decimal(38, %d)",
				c.Plan, c.Metric, summary, charge, Precision)
		}
		tags, err := json.Marshal(map[string]string{"meterline/space_id": c.Space, "meterline/consumer_id": c.Consumer,
			"meterline/plan_id": ps.IDs.PlanID, "meterline/metering_plan_id": ps.IDs.MeteringPlanID,
			"meterline/rating_plan_id": ps.IDs.RatingPlanID, "meterline/pricing_plan_id": ps.IDs.PricingPlanID})
		if err != nil {
			return nil, err
		}
		from, to := metering.Month.Period(c.From)
		row := Row{BillingAccountID: acct.AccountID, BillingAccountName: acct.Name, BillingCurrency: acct.Currency,
			BillingPeriodStart: p.Start, BillingPeriodEnd: p.End,
			ChargePeriodStart: time.UnixMilli(from).UTC(), ChargePeriodEnd: time.UnixMilli(to).UTC(),
			ChargeDescription: c.Resource + " " + c.Metric, BilledCost: charge, Quantity: summary, Unit: mm.Unit,
			ResourceID: c.Instance, ResourceType: c.Resource, SkuID: c.Plan, SubAccountID: org, Tags: string(tags),
			RegionID: region(org)}
		if ps.IDs.PricingPlanID != "" {
			row.SkuPriceID = ps.IDs.PricingPlanID + "/" + c.Metric
			if price, ok := e.cat.Price(ps.IDs.PricingPlanID, c.Metric, org); ok {
				row.ListUnitPrice = &price
			}
		}
		if row.BillingAccountID == "" {
			// An organization no account names is billed to itself (DefaultAccount's terms).
			row.BillingAccountID = org
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// region is the region prefix of a Cloud Foundry organization id ("us-south" of
// "us-south:a3d7..."), or "".
func region(org string) string {
	if r, _, ok := strings.Cut(org, ":"); ok {
		return r
	}
	return ""
}

func metricOf(m *plans.Metering, name string) *plans.Metric {
	for _, mm := range m.Metrics {
		if mm.Name == name {
			return mm
		}
	}
	return nil
}

func cmpStrings(a, b []string) int {
	for i := range a {
		if c := strings.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

// maxDecimal38 is the least magnitude Decimal(38, 12) cannot hold: 10^26.
var maxDecimal38 = decimal.New(1, 38-Precision)

// fitsDecimal38 reports whether d, rounded, fits DECIMAL(38, 12), the Parquet type of costs.
func fitsDecimal38(d decimal.Decimal) bool { return round(d).Abs().LessThan(maxDecimal38) }

// round is d rounded once to Precision places, half to even, as plans.Round rounds.
func round(d decimal.Decimal) decimal.Decimal { return plans.Round(d).(decimal.Decimal) }
