package vcloudair

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/clickhouse/vcarows"
)

// Cost is a cost item of a billing month (billed-costs): the row of vcloudair_billed_costs.
type Cost = vcarows.Cost

type costsMonthAnswer struct {
	Status    string `json:"status"`
	Currency  string `json:"currency"`
	StartTime string `json:"startTime"`
	EndTime   string `json:"endTime"`
	Cost      *[]struct {
		Type       string      `json:"type"`
		Amount     json.Number `json:"amount"`
		Properties struct {
			Property []vcarows.Property `json:"property"`
		} `json:"properties"`
	} `json:"cost"`
}

// MaxCosts bounds the cost items of one billing month.
const MaxCosts = 1000

// BilledCosts reads group g's cost items of billing month (year, month) (support cost,
// service credit), and false while vCloud Air has not billed the month yet.
func (p *Provider) BilledCosts(ctx context.Context, g ServiceGroup, year, month int) ([]Cost, bool, error) {
	var a costsMonthAnswer
	path := "/api/billing/service-group/" + url.PathEscape(g.ID) + "/billed-costs"
	q := url.Values{"year": {strconv.Itoa(year)}, "month": {strconv.Itoa(month)}}
	if err := p.get(ctx, path, q, &a); err != nil {
		return nil, false, err
	}
	if a.Cost == nil {
		return nil, false, nil // "not billed yet"
	}
	from, err1 := time.Parse(time.RFC3339Nano, a.StartTime)
	to, err2 := time.Parse(time.RFC3339Nano, a.EndTime)
	if err1 != nil || err2 != nil || !to.After(from) {
		return nil, false, fmt.Errorf("GET %s %d-%02d: billing period %q–%q is not a period", path, year, month, a.StartTime, a.EndTime)
	}
	if len(*a.Cost) > MaxCosts {
		return nil, false, fmt.Errorf("GET %s %d-%02d: %d cost items, more than %d", path, year, month, len(*a.Cost), MaxCosts)
	}
	currency := a.Currency
	if currency == "" {
		currency = g.Currency
	}
	out := make([]Cost, 0, len(*a.Cost))
	for i, c := range *a.Cost {
		amount, err := decimal.NewFromString(c.Amount.String())
		if err != nil {
			return nil, false, fmt.Errorf("GET %s %d-%02d: cost %d (%q): amount %q is not a number", path, year, month, i, c.Type, c.Amount)
		}
		if c.Type == "" || len(c.Type) > 128 {
			return nil, false, fmt.Errorf("GET %s %d-%02d: cost %d has no type (or one over 128 bytes)", path, year, month, i)
		}
		out = append(out, Cost{Account: p.cfg.Account, Group: g.ID, Year: year, Month: month, FromMs: from.UnixMilli(), ToMs: to.UnixMilli(),
			Index: i, Type: c.Type, Amount: amount, Currency: currency, Properties: c.Properties.Property})
	}
	return out, true, nil
}

// directory is the account's service groups and instances as rows.
func (p *Provider) directory(groups []ServiceGroup, insts []ServiceInstance) ([]vcarows.Group, []vcarows.Instance) {
	gs := make([]vcarows.Group, len(groups))
	for i, g := range groups {
		gs[i] = vcarows.Group{Account: p.cfg.Account, ID: g.ID, Name: g.Name, Currency: g.Currency, Anniversary: g.Anniversary}
	}
	is := make([]vcarows.Instance, len(insts))
	for i, in := range insts {
		is[i] = vcarows.Instance{Account: p.cfg.Account, ID: in.ID, Name: in.Name, Group: in.Group}
	}
	return gs, is
}

// writeDirectory writes the groups and instances when they differ from the last written.
func (b *Billing) writeDirectory(ctx context.Context, groups []ServiceGroup, now time.Time) error {
	if b.WriteDirectory == nil {
		return nil
	}
	insts, err := b.Provider.Instances(ctx)
	if err != nil {
		return err
	}
	gs, is := b.Provider.directory(groups, insts)
	key := fmt.Sprint(gs, is)
	if key == b.lastDirectory {
		return nil
	}
	if err := b.WriteDirectory(ctx, gs, is, now); err != nil {
		return err
	}
	b.lastDirectory = key
	return nil
}

// writeCosts reads and writes group g's cost items of a billed month.
func (b *Billing) writeCosts(ctx context.Context, g ServiceGroup, year, month int, now time.Time) error {
	if b.WriteCosts == nil {
		return nil
	}
	costs, billed, err := b.Provider.BilledCosts(ctx, g, year, month)
	if err != nil || !billed {
		return err
	}
	return b.WriteCosts(ctx, costs, now)
}
