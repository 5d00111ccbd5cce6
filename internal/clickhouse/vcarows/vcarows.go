// Package vcarows holds the rows of Meterline's vCloud Air tables (vcloudair_billed,
// vcloudair_billed_costs, vcloudair_service_groups, vcloudair_service_instances): the one
// definition the vCloud Air poller's billing loop writes, internal/clickhouse stores and the
// vCloud Air views read. It has no I/O, so that the poller and the views, which may not import
// each other, can both import it.
package vcarows

import "github.com/shopspring/decimal"

// Billed is one billable of one entity in a service group's billed usage of a billing month.
type Billed struct {
	Account         string
	Group           string
	Year, Month     int
	FromMs, ToMs    int64 // the billing month [from, to), Unix milliseconds
	ServiceInstance string
	L2              string
	Entity          string
	EntityType      string
	Billable        string
	Quantity        decimal.Decimal
	Unit            string
	Cost            decimal.Decimal
	Currency        string
}

// Cost is one cost item (a support cost, a service credit) of a service group's billing month,
// as GET /api/billing/service-group/{id}/billed-costs lists it.
type Cost struct {
	Account      string
	Group        string
	Year, Month  int
	FromMs, ToMs int64 // the billing month [from, to), Unix milliseconds
	// Index is the item's place in the answer's cost list (two items may share a type).
	Index    int
	Type     string
	Amount   decimal.Decimal
	Currency string
	// Properties are the item's name/value properties, in the answer's order.
	Properties []Property
}

// Property is a name/value property of a cost item.
type Property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Group is a service group (the billing account of service instances) as
// /api/billing/service-groups lists it.
type Group struct {
	Account  string
	ID       string
	Name     string
	Currency string
	// Anniversary is the day of the month (1-28) its billing months start, UTC.
	Anniversary int
}

// Instance is a service instance and the service group it is billed to.
type Instance struct {
	Account string
	ID      string
	Name    string
	Group   string
}
