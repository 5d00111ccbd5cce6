package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/pkg/ratedusage"
)

// TestBillingExporter reads the rated usage topic as a billing exporter does, with the public
// package pkg/ratedusage (committed records only): after Abacus' three
// object storage documents, the latest month cells of the organization cost 1 + 0.09 + 45 =
// 46.09 USD.
func TestBillingExporter(t *testing.T) {
	s := newStack(t)
	dev := s.start([]string{"dev"})
	now := s.nowMs()
	for i := range 3 {
		if r := post(t, dev, objectDoc("exported-org", "instance-1", now-int64(i+1)*1000)); r.status != http.StatusCreated {
			t.Fatalf("POST %d: %d %s", i, r.status, r.body)
		}
	}
	r, err := ratedusage.NewReader([]string{s.brokers}, s.prefix+".usage.rated.v2", s.prefix+"-exporter")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	latest := map[string]ratedusage.Cell{}
	for {
		c, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("reading the rated topic: %v; month cells so far: %v", err, latest)
		}
		if c.OrganizationID != "exported-org" || c.Scope != ratedusage.ScopeOrganization || c.Level != ratedusage.LevelMonth || c.PlanID == "" {
			continue
		}
		if prev, ok := latest[c.Key()]; !ok || !c.Processed.Before(prev.Processed) {
			latest[c.Key()] = c
		}
		total := decimal.Zero
		for _, m := range latest {
			total = total.Add(decimal.RequireFromString(m.Cost.Decimal))
		}
		if total.Equal(decimal.RequireFromString("46.09")) {
			for _, m := range latest {
				if m.Currency != "USD" || m.PricingPlanID != "object-pricing-basic" || m.PeriodEnd.Sub(m.PeriodStart) < 28*24*time.Hour {
					t.Errorf("month cell %+v: want USD, pricing plan object-pricing-basic, a month's period", m)
				}
			}
			return
		}
	}
}
