package vcasim

import (
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// CostItem is a cost item vCloud Air bills a service group every billing month (a support
// cost, a service credit: negative), with its properties.
type CostItem struct {
	Type       string            `json:"type"`
	Amount     decimal.Decimal   `json:"amount"`
	Properties map[string]string `json:"properties,omitempty"`
}

// billedCosts answers GET /api/billing/service-group/{id}/billed-costs?month=&year=: the
// group's scripted cost items of a billed month (a Support Cost of 0 when it has none), or
// the "not billed yet" status.
func (s *Sim) billedCosts(r *http.Request, now time.Time) (int, any) {
	g, y, m, from, to, status, body := s.billedMonth(r, now)
	if status != 0 {
		return status, body
	}
	items := s.sc.BilledCosts[g.ID]
	if items == nil {
		items = []CostItem{{Type: "Support Cost"}}
	}
	costs := make([]map[string]any, len(items))
	for i, c := range items {
		props := []map[string]string{}
		for _, k := range slices.Sorted(maps.Keys(c.Properties)) {
			props = append(props, map[string]string{"name": k, "value": c.Properties[k]})
		}
		costs[i] = map[string]any{"type": c.Type, "amount": number{c.Amount}, "properties": map[string]any{"property": props}}
	}
	return http.StatusOK, map[string]any{"currency": g.Currency, "month": m, "year": y, "startTime": from.Format(time.RFC3339),
		"endTime": to.Format(time.RFC3339), "cost": costs}
}
