package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/plans"
)

// invalid fails the test unless err is invalid input with a problem on each of fields (and
// no other), each echoing a short value; and unless nothing was written.
func invalid(t *testing.T, what string, err error, w *topicWriter, puts int, fields ...string) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.KindInvalid {
		t.Errorf("%s: %v, want invalid input", what, err)
		return
	}
	var got []string
	for _, p := range fe.Problems {
		got = append(got, p.Field)
		if b, _ := json.Marshal(p.Value); len(b) > 200 {
			t.Errorf("%s: %s echoes %d bytes", what, p.Field, len(b))
		}
	}
	if strings.Join(got, ",") != strings.Join(fields, ",") {
		t.Errorf("%s: problems with %v, want %v (%v)", what, got, fields, fe.Problems)
	}
	if w.puts != puts {
		t.Errorf("%s: written although invalid", what)
	}
}

var huge = strings.Repeat("x", 500_000)

// A mapping with a 500 KB organization id was written, and the broker's refusal of the record
// answered 503 (issue 9 defects 5 and 6): every id of a mapping is bounded and checked.
func TestPutMappingLimits(t *testing.T) {
	ctx := context.Background()
	api, w := newTestAPI()
	doc := `{"plan_id":"a","measures":[{"name":"x","unit":"X"}],"metrics":[{"name":"x","unit":"X"}]}`
	if _, err := api.PutPlan(ctx, parsePlan(t, plans.KindMetering, doc)); err != nil {
		t.Fatal(err)
	}
	ok := catalog.Mapping{Kind: plans.KindMetering, ResourceType: "rt", PlanID: "basic", OrganizationID: "org-1", EffectiveFrom: 5, Plan: "a"}
	for _, c := range []struct {
		name   string
		change func(*catalog.Mapping)
		field  string
	}{
		{"huge organization id", func(m *catalog.Mapping) { m.OrganizationID = huge }, "organization_id"},
		{"organization id of 257", func(m *catalog.Mapping) { m.OrganizationID = strings.Repeat("o", 257) }, "organization_id"},
		{"NUL organization id", func(m *catalog.Mapping) { m.OrganizationID = "a\x00" }, "organization_id"},
		{"organization id ..", func(m *catalog.Mapping) { m.OrganizationID = ".." }, "organization_id"},
		{"whitespace resource type", func(m *catalog.Mapping) { m.ResourceType = "  " }, "resource_type"},
		{"control plan_id", func(m *catalog.Mapping) { m.PlanID = "a\nb" }, "plan_id"},
		{"huge plan", func(m *catalog.Mapping) { m.Plan = huge }, "plan"},
	} {
		m := ok
		c.change(&m)
		puts := w.puts
		_, err := api.PutMapping(ctx, m)
		invalid(t, c.name, err, w, puts, c.field)
	}
	if _, err := api.PutMapping(ctx, ok); err != nil {
		t.Errorf("valid mapping: %v", err)
	}
}

// Accounts with a 900 KB pricing_country or huge organization lists were stored (defect 6).
func TestPutAccountLimits(t *testing.T) {
	ctx := context.Background()
	api, w := newTestAPI()
	ok := catalog.Account{AccountID: "acme", Name: "ACME", Organizations: []string{"org-1"}, PricingCountry: "EUR", Currency: "EUR"}
	many := make([]string, catalog.MaxOrganizations+1)
	for i := range many {
		many[i] = fmt.Sprintf("org-%d", i)
	}
	for _, c := range []struct {
		name   string
		change func(*catalog.Account)
		fields []string
	}{
		{"huge pricing_country", func(a *catalog.Account) { a.PricingCountry = strings.Repeat("U", 900_000) }, []string{"pricing_country"}},
		{"lower-case pricing_country", func(a *catalog.Account) { a.PricingCountry = "usa" }, []string{"pricing_country"}},
		{"huge name", func(a *catalog.Account) { a.Name = huge }, []string{"name"}},
		{"name with NUL", func(a *catalog.Account) { a.Name = "a\x00" }, []string{"name"}},
		{"account id .", func(a *catalog.Account) { a.AccountID = "." }, []string{"account_id"}},
		{"huge account id", func(a *catalog.Account) { a.AccountID = huge }, []string{"account_id"}},
		{"huge organization", func(a *catalog.Account) { a.Organizations = []string{"org-1", huge} }, []string{"organizations[1]"}},
		{"control organization", func(a *catalog.Account) { a.Organizations = []string{"org\t1"} }, []string{"organizations[0]"}},
		{"too many organizations", func(a *catalog.Account) { a.Organizations = many }, []string{"organizations"}},
		{"several", func(a *catalog.Account) { a.Name, a.PricingCountry = huge, huge }, []string{"name", "pricing_country"}},
	} {
		a := ok
		c.change(&a)
		puts := w.puts
		_, err := api.PutAccount(ctx, a)
		invalid(t, c.name, err, w, puts, c.fields...)
	}
	if _, err := api.PutAccount(ctx, ok); err != nil {
		t.Errorf("valid account: %v", err)
	}
	full := ok
	full.Organizations = many[:catalog.MaxOrganizations]
	if _, err := api.PutAccount(ctx, full); err != nil {
		t.Errorf("account of %d organizations: %v", catalog.MaxOrganizations, err)
	}
}

func TestPutResourceTypeLimits(t *testing.T) {
	ctx := context.Background()
	api, w := newTestAPI()
	for _, c := range []struct {
		t     catalog.ResourceType
		field string
	}{
		{catalog.ResourceType{ResourceID: "r", ResourceType: huge}, "resource_type"},
		{catalog.ResourceType{ResourceID: "r", ResourceType: "a\x00"}, "resource_type"},
		{catalog.ResourceType{ResourceID: "..", ResourceType: "rt"}, "resource_id"},
		{catalog.ResourceType{ResourceID: huge, ResourceType: "rt"}, "resource_id"},
	} {
		puts := w.puts
		_, err := api.PutResourceType(ctx, c.t)
		invalid(t, c.field, err, w, puts, c.field)
	}
}

// Plan documents: ids, names, formulas and the counts of measures, metrics and prices.
func TestPutPlanLimits(t *testing.T) {
	ctx := context.Background()
	api, w := newTestAPI()
	measures := make([]string, catalog.MaxPlanEntries+1)
	for i := range measures {
		measures[i] = fmt.Sprintf(`{"name":"m%d","unit":"X"}`, i)
	}
	long := strings.Repeat("m.x + ", catalog.MaxFormulaLength/6+1) + "1"
	for _, c := range []struct {
		kind, doc string
		fields    []string
	}{
		{plans.KindMetering, `{"plan_id":"a\u0000","measures":[{"name":"x","unit":"X"}],"metrics":[{"name":"x","unit":"X"}]}`, []string{"plan_id"}},
		{plans.KindMetering, `{"plan_id":"` + strings.Repeat("p", 257) + `","measures":[{"name":"x","unit":"X"}],"metrics":[{"name":"x","unit":"X"}]}`, []string{"plan_id"}},
		{plans.KindMetering, `{"plan_id":"a","measures":[` + strings.Join(measures, ",") + `],"metrics":[{"name":"m0","unit":"X"}]}`, []string{"measures"}},
		{plans.KindMetering, `{"plan_id":"a","measures":[{"name":"x","unit":"` + strings.Repeat("X", 257) + `"}],"metrics":[{"name":"x","unit":"X","meter":"` + long + `"}]}`, []string{"measures[0].unit", "metrics[0].meter"}},
		{plans.KindRating, `{"plan_id":"a","metrics":[{"name":"x\n","charge":"` + long + `"}]}`, []string{"metrics[0].name", "metrics[0].charge"}},
		{plans.KindMetering, `{"plan_id":"a","measures":[{"name":"x","unit":"X"}],"metrics":[{"name":"x","unit":"X","type":"time-based","carry":"` + long + `"}]}`, []string{"metrics[0].carry"}},
		{plans.KindPricing, `{"plan_id":"a","metrics":[{"name":"x","prices":[{"country":"` + strings.Repeat("U", 1000) + `","price":1}]}]}`, []string{"metrics[0].prices[0].country"}},
	} {
		puts := w.puts
		_, err := api.PutPlan(ctx, parsePlan(t, c.kind, c.doc))
		invalid(t, c.kind+" "+strings.Join(c.fields, ","), err, w, puts, c.fields...)
	}
}

// Over HTTP a mapping with a 500 KB organization id is a 400 naming the field, not a 503.
func TestPostMappingHugeOrganizationIs400(t *testing.T) {
	api, w := newTestAPI()
	doc := `{"plan_id":"a","measures":[{"name":"x","unit":"X"}],"metrics":[{"name":"x","unit":"X"}]}`
	if _, err := api.PutPlan(context.Background(), parsePlan(t, plans.KindMetering, doc)); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	rec := httptest.NewRecorder()
	body := `{"kind":"metering","resource_type":"rt","plan_id":"basic","organization_id":"` + huge + `","effective_from":0,"plan":"a"}`
	puts := w.puts
	auth.AsAdmin(mux).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/provisioning/mappings", strings.NewReader(body)))
	if rec.Code != http.StatusBadRequest || rec.Header().Get("Retry-After") != "" ||
		!strings.Contains(rec.Body.String(), `"field":"organization_id"`) || rec.Body.Len() > 1000 {
		t.Errorf("POST of a mapping with a 500 KB organization id: %d %.300s", rec.Code, rec.Body)
	}
	if w.puts != puts {
		t.Error("the mapping was written")
	}
}
