package plans

import (
	"testing"
	"time"
)

// TestElasticBoxCost: the ElasticBox poller's daily cost (dollars) is summed exactly and rated
// as it is, whatever the price; its up-time seconds are metered as hours; a document of the
// CSV fallback, without up-time, adds no hours.
func TestElasticBoxCost(t *testing.T) {
	s := compileBuiltin(t)
	c := newCells(t, s.metering["elasticbox"], monthStart, monthEnd)
	day := monthStart.Add(24 * time.Hour)
	end := day.Add(24*time.Hour - time.Millisecond)
	c.submit("eb-1", day, end, map[string]any{"cost": d("2.4"), "up_seconds": d("86400")})
	c.submit("eb-2", day, end, map[string]any{"cost": d("0.45"), "up_seconds": d("23399.999767")})
	c.submit("eb-3", day, end, map[string]any{"cost": d("0.07")})
	wantDec(t, "cost", c.org["cost"], "2.92")
	wantDec(t, "up_hours", c.org["up_hours"], "30.499999935277777777777778")
	for _, price := range []string{"1", "0"} {
		cost, err := s.rating["elasticbox-rating"].Rate("cost", d(price), c.org["cost"])
		if err != nil {
			t.Fatal(err)
		}
		wantDec(t, "charge at price "+price, Round(cost), "2.92")
	}
	if p, ok := s.pricing["elasticbox-pricing"].Price("cost", "USA"); !ok || !p.Equal(d("1")) {
		t.Errorf("USA price of cost %v (%v), want 1", p, ok)
	}
}
