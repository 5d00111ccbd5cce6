// Package vcloudair is the reconciliation view of vCloud Air: a service group's billed usage
// of one billing month (as the vCloud Air poller's billing loop stored it) against the usage
// Meterline metered for the same entities and period, with the differences.
package vcloudair

import (
	"context"
	"slices"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/clickhouse/vcarows"
)

// Resource is the resource id of vCloud Air's documents.
const Resource = "vcloudair"

// Billed is one billable of one entity in a service group's billed usage of a billing month:
// the row of vcloudair_billed, defined once in vcarows for the poller and the views.
type Billed = vcarows.Billed

// Key places a quantity: an entity's billable within its service instance and L2.
type Key struct {
	ServiceInstance string `json:"service_instance"`
	L2              string `json:"l2"`
	Entity          string `json:"entity"`
	Billable        string `json:"billable"`
}

// Store reads the billed and metered usage.
type Store interface {
	// Billed returns the group's billed rows of (year, month), and whether the group has any
	// billed month at all (false: an unknown group).
	Billed(ctx context.Context, group string, year, month int) ([]Billed, bool, error)
	// Metered sums the counted vCloud Air documents of the organizations (service instances)
	// within [fromMs, toMs) by entity and measure.
	Metered(ctx context.Context, orgs []string, fromMs, toMs int64) (map[Key]decimal.Decimal, error)
}

// Line is one entity's billable, billed against metered.
type Line struct {
	Key
	Unit       string          `json:"unit,omitempty"`
	Billed     decimal.Decimal `json:"billed"`
	Metered    decimal.Decimal `json:"metered"`
	Difference decimal.Decimal `json:"difference"` // billed - metered
}

// Reconciliation is a service group's billing month reconciled.
type Reconciliation struct {
	ServiceGroup string `json:"service_group"`
	Year         int    `json:"year"`
	Month        int    `json:"month"`
	From         string `json:"from"`
	To           string `json:"to"`
	// Billed is false while vCloud Air has not billed the month (no row stored yet).
	Billed      bool   `json:"billed"`
	Lines       []Line `json:"lines"`
	Differences []Line `json:"differences"`
	// Over is what vCloud Air billed above what Meterline metered, per billable (negative:
	// billed below).
	Over map[string]decimal.Decimal `json:"over"`
}

// Organizations are the service instances of the billed rows.
func Organizations(rows []Billed) []string {
	var out []string
	for _, r := range rows {
		if r.ServiceInstance != "" && !slices.Contains(out, r.ServiceInstance) {
			out = append(out, r.ServiceInstance)
		}
	}
	slices.Sort(out)
	return out
}

// Reconcile sets billed against metered: every key of either, sorted, with the differences.
// Metered keys outside the billed service instances are not given to it.
func Reconcile(billed []Billed, metered map[Key]decimal.Decimal) (lines, diffs []Line, over map[string]decimal.Decimal) {
	byKey := map[Key]*Line{}
	for _, b := range billed {
		k := Key{b.ServiceInstance, b.L2, b.Entity, b.Billable}
		l, ok := byKey[k]
		if !ok {
			l = &Line{Key: k, Unit: b.Unit}
			byKey[k] = l
		}
		l.Billed = l.Billed.Add(b.Quantity)
	}
	for k, q := range metered {
		l, ok := byKey[k]
		if !ok {
			l = &Line{Key: k}
			byKey[k] = l
		}
		l.Metered = l.Metered.Add(q)
	}
	over = map[string]decimal.Decimal{}
	lines, diffs = []Line{}, []Line{}
	for _, l := range byKey {
		l.Difference = l.Billed.Sub(l.Metered)
		lines = append(lines, *l)
	}
	slices.SortFunc(lines, func(a, b Line) int {
		return strings.Compare(a.ServiceInstance+"\x00"+a.L2+"\x00"+a.Entity+"\x00"+a.Billable,
			b.ServiceInstance+"\x00"+b.L2+"\x00"+b.Entity+"\x00"+b.Billable)
	})
	for _, l := range lines {
		if !l.Difference.IsZero() {
			diffs = append(diffs, l)
			over[l.Billable] = over[l.Billable].Add(l.Difference)
		}
	}
	return lines, diffs, over
}
