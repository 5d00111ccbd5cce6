package vcloudair

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/clickhouse/vcarows"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/poller"
)

// Billed is one billable of one entity in a service group's billed usage of a billing month:
// the row of vcloudair_billed, defined once in vcarows for the poller and the views.
type Billed = vcarows.Billed

type billedAnswer struct {
	Status    string    `json:"status"`
	StartTime string    `json:"startTime"`
	EndTime   string    `json:"endTime"`
	Entity    *[]Entity `json:"entity"`
}

// BilledMonth reads group g's billed usage of billing month (year, month): one row per entity
// and billable, and false while vCloud Air has not billed the month yet.
func (p *Provider) BilledMonth(ctx context.Context, g ServiceGroup, year, month int) ([]Billed, bool, error) {
	var a billedAnswer
	path := "/api/billing/service-group/" + url.PathEscape(g.ID) + "/billed-usage"
	q := url.Values{"year": {strconv.Itoa(year)}, "month": {strconv.Itoa(month)}}
	if err := p.get(ctx, path, q, &a); err != nil {
		return nil, false, err
	}
	if a.Entity == nil {
		return nil, false, nil // "not billed yet"
	}
	from, err1 := time.Parse(time.RFC3339Nano, a.StartTime)
	to, err2 := time.Parse(time.RFC3339Nano, a.EndTime)
	if err1 != nil || err2 != nil || !to.After(from) {
		return nil, false, fmt.Errorf("GET %s %d-%02d: billing period %q–%q is not a period", path, year, month, a.StartTime, a.EndTime)
	}
	var out []Billed
	for _, e := range *a.Entity {
		if !validID(e.ID) || (e.ServiceInstanceID != "" && !validID(e.ServiceInstanceID)) || (e.L2ID != "" && !validID(e.L2ID)) {
			return nil, false, fmt.Errorf("GET %s %d-%02d: entity %q (instance %q, L2 %q) has no valid id", path, year, month, e.ID, e.ServiceInstanceID, e.L2ID)
		}
		for _, b := range e.BillableList.Billable {
			qty, err := decimal.NewFromString(b.Usage.String())
			if err != nil || qty.IsNegative() {
				return nil, false, fmt.Errorf("GET %s %d-%02d: entity %s billable %q: usage %q is not a number at least 0", path, year, month, e.ID, b.Name, b.Usage)
			}
			cost := decimal.Zero
			if b.Cost != "" {
				if cost, err = decimal.NewFromString(b.Cost.String()); err != nil {
					return nil, false, fmt.Errorf("GET %s %d-%02d: entity %s billable %q: cost %q is not a number", path, year, month, e.ID, b.Name, b.Cost)
				}
			}
			out = append(out, Billed{Account: p.cfg.Account, Group: g.ID, Year: year, Month: month,
				FromMs: from.UnixMilli(), ToMs: to.UnixMilli(), ServiceInstance: e.ServiceInstanceID, L2: e.L2ID,
				Entity: e.ID, EntityType: e.EntityType, Billable: b.Name, Quantity: qty, Unit: b.Unit, Cost: cost, Currency: b.Currency})
		}
	}
	return out, true, nil
}

// ClosedMonths are the last n billing months (year, month) of a group with anniversary day
// ann that ended at or before now, the latest first.
func ClosedMonths(ann int, now time.Time, n int) [][2]int {
	ann = max(ann, 1)
	now = now.UTC()
	cur := time.Date(now.Year(), now.Month(), ann, 0, 0, 0, 0, time.UTC)
	if now.Before(cur) {
		cur = cur.AddDate(0, -1, 0)
	}
	var out [][2]int
	for i := 1; i <= n; i++ {
		m := cur.AddDate(0, -i, 0)
		out = append(out, [2]int{m.Year(), int(m.Month())})
	}
	return out
}

// Billing is the billing loop beside the poller: each round it reads every group's last closed
// billing months and writes what vCloud Air has billed (the same rows again on a re-read,
// which the table merges). It meters nothing.
type Billing struct {
	Provider *Provider
	Write    func(ctx context.Context, rows []Billed, now time.Time) error
	Clock    clock.Clock
	Interval time.Duration // between rounds (a minute when 0)
	Months   int           // how many closed months each round reads (3 when 0)
	Log      *zap.Logger
	// WriteDirectory writes the service groups and instances each round they changed (nil:
	// not stored); WriteCosts writes each billed month's cost items (nil: not read).
	WriteDirectory func(ctx context.Context, groups []vcarows.Group, insts []vcarows.Instance, now time.Time) error
	WriteCosts     func(ctx context.Context, costs []Cost, now time.Time) error
	lastDirectory  string
}

// Round reads and writes once; it returns the number of rows written.
func (b *Billing) Round(ctx context.Context) (int, error) {
	months := b.Months
	if months <= 0 {
		months = 3
	}
	now := b.Clock.Now()
	groups, err := b.Provider.Groups(ctx)
	if err != nil {
		return 0, err
	}
	if err := b.writeDirectory(ctx, groups, now); err != nil {
		return 0, err
	}
	n := 0
	for _, g := range groups {
		for _, ym := range ClosedMonths(g.Anniversary, now, months) {
			rows, billed, err := b.Provider.BilledMonth(ctx, g, ym[0], ym[1])
			if err != nil {
				return n, err
			}
			if !billed {
				continue
			}
			if err := b.Write(ctx, rows, now); err != nil {
				return n, err
			}
			n += len(rows)
			if err := b.writeCosts(ctx, g, ym[0], ym[1], now); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// Run runs rounds until ctx ends; a failed round is logged and tried again next round.
func (b *Billing) Run(ctx context.Context) error {
	return poller.RunRounds(ctx, b.Interval, b.Log, "vcloudair billed usage", b.Round)
}
