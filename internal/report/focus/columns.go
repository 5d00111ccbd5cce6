package focus

import (
	"time"

	"github.com/shopspring/decimal"
)

// Types of FOCUS columns, as the specification names them.
const (
	TypeString   = "String"
	TypeDecimal  = "Decimal"
	TypeDateTime = "Date/Time"
	TypeJSON     = "JSON"
)

// Column is one column an export writes: its FOCUS name, type and whether it may be null.
type Column struct {
	Name     string
	Type     string
	Nullable bool
	value    func(r *Row) *string // nil is null
}

// DateTimeFormat is how Date/Time columns are written in CSV: ISO 8601 in UTC, to the second.
const DateTimeFormat = "2006-01-02T15:04:05Z"

func str(s string) *string { return &s }

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func num(d decimal.Decimal) *string { return str(round(d).String()) }

func numOrNull(d *decimal.Decimal) *string {
	if d == nil {
		return nil
	}
	return num(*d)
}

func tm(t time.Time) *string { return str(t.UTC().Format(DateTimeFormat)) }

func constant(s string) func(*Row) *string { return func(*Row) *string { return str(s) } }

// Columns are the columns of an export, in the order written: every mandatory column of
// FOCUS 1.2, and the conditional and recommended ones Meterline has data for.
var Columns = []Column{
	{"BilledCost", TypeDecimal, false, func(r *Row) *string { return num(r.BilledCost) }},
	{"BillingAccountId", TypeString, false, func(r *Row) *string { return str(r.BillingAccountID) }},
	{"BillingAccountName", TypeString, true, func(r *Row) *string { return nonEmpty(r.BillingAccountName) }},
	{"BillingCurrency", TypeString, false, func(r *Row) *string { return str(r.BillingCurrency) }},
	{"BillingPeriodEnd", TypeDateTime, false, func(r *Row) *string { return tm(r.BillingPeriodEnd) }},
	{"BillingPeriodStart", TypeDateTime, false, func(r *Row) *string { return tm(r.BillingPeriodStart) }},
	{"ChargeCategory", TypeString, false, constant(chargeCategory)},
	// ChargeClass is null: Meterline's rows are charges of their period, never corrections.
	{"ChargeClass", TypeString, true, func(*Row) *string { return nil }},
	{"ChargeDescription", TypeString, true, func(r *Row) *string { return nonEmpty(r.ChargeDescription) }},
	{"ChargeFrequency", TypeString, false, constant(chargeFrequency)},
	{"ChargePeriodEnd", TypeDateTime, false, func(r *Row) *string { return tm(r.ChargePeriodEnd) }},
	{"ChargePeriodStart", TypeDateTime, false, func(r *Row) *string { return tm(r.ChargePeriodStart) }},
	{"ConsumedQuantity", TypeDecimal, true, func(r *Row) *string { return num(r.Quantity) }},
	{"ConsumedUnit", TypeString, true, func(r *Row) *string { return nonEmpty(r.Unit) }},
	{"ContractedCost", TypeDecimal, false, func(r *Row) *string { return num(r.BilledCost) }},
	{"ContractedUnitPrice", TypeDecimal, true, func(r *Row) *string { return numOrNull(r.ListUnitPrice) }},
	{"EffectiveCost", TypeDecimal, false, func(r *Row) *string { return num(r.BilledCost) }},
	{"InvoiceIssuerName", TypeString, false, constant(Meterline)},
	{"ListCost", TypeDecimal, false, func(r *Row) *string { return num(r.BilledCost) }},
	{"ListUnitPrice", TypeDecimal, true, func(r *Row) *string { return numOrNull(r.ListUnitPrice) }},
	{"PricingCategory", TypeString, true, constant(pricingCategory)},
	{"PricingQuantity", TypeDecimal, true, func(r *Row) *string { return num(r.Quantity) }},
	{"PricingUnit", TypeString, true, func(r *Row) *string { return nonEmpty(r.Unit) }},
	{"ProviderName", TypeString, false, constant(Meterline)},
	{"PublisherName", TypeString, false, constant(Meterline)},
	{"RegionId", TypeString, true, func(r *Row) *string { return nonEmpty(r.RegionID) }},
	{"ResourceId", TypeString, true, func(r *Row) *string { return nonEmpty(r.ResourceID) }},
	{"ResourceType", TypeString, true, func(r *Row) *string { return nonEmpty(r.ResourceType) }},
	{"ServiceCategory", TypeString, false, constant(serviceCategory)},
	{"ServiceName", TypeString, false, func(r *Row) *string { return str(r.ResourceType) }},
	{"ServiceSubcategory", TypeString, false, constant(serviceSubcategory)},
	{"SkuId", TypeString, true, func(r *Row) *string { return nonEmpty(r.SkuID) }},
	{"SkuPriceId", TypeString, true, func(r *Row) *string { return nonEmpty(r.SkuPriceID) }},
	{"SubAccountId", TypeString, true, func(r *Row) *string { return nonEmpty(r.SubAccountID) }},
	{"Tags", TypeJSON, true, func(r *Row) *string { return nonEmpty(r.Tags) }},
}

// Header is the names of Columns, in order.
func Header() []string {
	h := make([]string, len(Columns))
	for i, c := range Columns {
		h[i] = c.Name
	}
	return h
}
