package abacus

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/report/reporttest"
)

// fragmentBomb is the query: eight aliases on each of six levels, written with
// fragments in 1.3 KB; run, it selects 8^6 windows' quantities (a 166 MB answer).
func fragmentBomb() string {
	var b strings.Builder
	aliases := func(prefix, field, spread string) {
		for i := range 8 {
			fmt.Fprintf(&b, " %s%d: %s", prefix, i, field)
			if spread != "" {
				fmt.Fprintf(&b, " { ...%s }", spread)
			}
		}
	}
	b.WriteString("{")
	aliases("o", `organization(organization_id: "o")`, "O")
	b.WriteString(" }\nfragment O on OrganizationReport {")
	aliases("r", "resources", "R")
	b.WriteString(" }\nfragment R on Resource {")
	aliases("p", "plans", "P")
	b.WriteString(" }\nfragment P on Plan {")
	aliases("m", "aggregated_usage", "M")
	b.WriteString(" }\nfragment M on PlanMetric {")
	aliases("w", "windows", "W")
	b.WriteString(" }\nfragment W on PlanWindow {")
	aliases("q", "quantity", "")
	b.WriteString(" }")
	return b.String()
}

// typenames is { __typename __typename ... } with n fields.
func typenames(n int) string { return "{" + strings.Repeat(" __typename", n) + " }" }

// budgetGraphQL is a GraphQL over organization o's object storage usage at at, and its store.
func budgetGraphQL(t testing.TB, at int64, accounts fakeAccounts) (*GraphQL, *memStore) {
	r, st := newReporter(t, at, objectCells("s", "app:1", "i1", at-1000, at-500, [3]string{"1", "3", "300"}))
	g, err := NewGraphQL(r, accounts)
	if err != nil {
		t.Fatal(err)
	}
	return g, st
}

// refused checks that resp is an error of kind, without data, whose JSON contains each of want.
func refused(t *testing.T, name string, resp *Response, kind fault.Kind, want ...string) {
	t.Helper()
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Data != nil || len(resp.Errors) == 0 || resp.Kind != kind {
		t.Errorf("%s: %s %.300s, want %s errors and no data", name, resp.Kind, b, kind)
	}
	for _, w := range want {
		if !strings.Contains(string(b), w) {
			t.Errorf("%s: %.300s, want it to contain %s", name, b, w)
		}
	}
}

func TestGraphQLRefusesQueriesOverBudgetBeforeRunningThem(t *testing.T) {
	at := clockInstant()
	big := catalog.Account{AccountID: "big"}
	for i := range MaxOrganizations {
		big.Organizations = append(big.Organizations, fmt.Sprintf("org-%d", i))
	}
	g, st := budgetGraphQL(t, at, fakeAccounts{"big": big})
	f := func(name, query string, kind fault.Kind, want ...string) {
		t.Helper()
		st.queries = nil
		refused(t, name, g.Execute(auth.AsAdminContext(context.Background()), Request{Query: query}), kind, want...)
		if len(st.queries) > 0 {
			t.Errorf("%s: read %d queries of the store, want none", name, len(st.queries))
		}
	}
	bomb := fragmentBomb()
	if len(bomb) > 1400 {
		t.Fatalf("the bomb has %d bytes, the issue's 1.3 KB", len(bomb))
	}
	f("fragment bomb", bomb, fault.KindInvalid, "query too costly", `"field":"query"`, "costs more than 1000000")
	f("30,000 __typename", typenames(30000), fault.KindTooLarge, "query too large", "16384 bytes")
	f("1,400 __typename", typenames(1400), fault.KindInvalid, "too many selections", `"field":"query"`, "1000 selections")
	f("too deep", `{ organization(organization_id: "o") { resources { plans { aggregated_usage { windows { quantity { a { b { c { d { e } } } } } } } } } } }`,
		fault.KindInvalid, "query too deep", "10 levels")
	// A fragment that spreads itself is a cycle: the walk stops, validation names it.
	f("cycle", `{ organization(organization_id: "o") { ...A } } fragment A on OrganizationReport { id resources { ...B } } fragment B on Resource { plans { resource_id } ...A }`,
		fault.KindInvalid, "Cannot spread fragment")
	f("fields conflict", `{ o: organization(organization_id: "a") { id } o: organization(organization_id: "b") { id } }`,
		fault.KindInvalid, "fields conflict", `"field":"o"`, `organization(organization_id: \"a\") and organization(organization_id: \"b\")`)
	f("fields conflict below", `{ organization(organization_id: "o") { x: id } ...Q } fragment Q on Query { organization(organization_id: "o") { x: start } }`,
		fault.KindInvalid, "fields conflict", "id and start are both answered as x")
	deep := `{ resources { plans { aggregated_usage { windows { quantity cost summary charge } } } } }`
	account := `{ account(account_id: "big") { spaces { consumers ` + deep + ` } } }`
	f("costly", account, fault.KindInvalid, "query too costly", "1000000")
	orgs := `{ organizations(organization_ids: [` + strings.Repeat(`"o", `, MaxOrganizations) + `]) { spaces { consumers ` + deep + ` } } }`
	f("costly organizations", orgs, fault.KindInvalid, "query too costly")
	f("costly organizations in a variable", `query ($ids: [String]) { organizations(organization_ids: $ids) { spaces { consumers `+deep+` } } }`,
		fault.KindInvalid, "query too costly")

	// The same selections under one organization cost less, and are served.
	st.queries = nil
	resp := g.Execute(auth.AsAdminContext(context.Background()), Request{Query: `{ organization(organization_id: "o") { spaces { consumers ` + deep + ` } } }`})
	if len(resp.Errors) > 0 || len(st.queries) == 0 {
		t.Errorf("one organization's consumers: %v, %d queries", resp.Errors, len(st.queries))
	}
	// An account of few organizations costs what they cost.
	g.accounts = fakeAccounts{"small": {AccountID: "small", Organizations: []string{"o"}}}
	if resp := g.Execute(auth.AsAdminContext(context.Background()), Request{Query: strings.Replace(account, "big", "small", 1)}); len(resp.Errors) > 0 {
		t.Errorf("an account of one organization: %v", resp.Errors)
	}
}

func TestGraphQLCost(t *testing.T) {
	g, _ := budgetGraphQL(t, clockInstant(), fakeAccounts{"acc": {AccountID: "acc", Organizations: []string{"a", "b", "c"}}})
	f := func(query string, vars map[string]any, selections, cost int) {
		t.Helper()
		doc, err := g.parse(query)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		m, err := g.measure(doc, "", vars)
		if err != nil || m.selections != selections || m.cost != cost {
			t.Errorf("%s: %d selections, cost %d, %v; want %d, %d", query, m.selections, m.cost, err, selections, cost)
		}
	}
	// Windows are 7 (the slots of 5 levels); resources 10, plans 2, metrics 10.
	f(`{ organization(organization_id: "o") { id windows { charge } } }`, nil, 4, 1+1+7+7)
	f(`{ organization(organization_id: "o") { resources { plans { plan_id } } } }`, nil, 4, 1+10+20+20)
	f(`{ account(account_id: "acc") { id } }`, nil, 2, 3+3)
	f(`{ account(account_id: "none") { id } }`, nil, 2, 0)
	f(`{ organizations(organization_ids: ["a", "b"]) { id } }`, nil, 2, 2+2)
	f(`query ($ids: [String]) { organizations(organization_ids: $ids) { id } }`, map[string]any{"ids": []any{"a"}}, 2, 1+1)
	f(`query ($ids: [String]) { organizations(organization_ids: $ids) { id } }`, nil, 2, 2*MaxOrganizations)
	// Fragments count where they are spread, and again where they are defined; the fields of
	// one response key cost once, as they run once.
	f(`{ organization(organization_id: "o") { ...F ...F } } fragment F on OrganizationReport { id __typename }`, nil, 2+2+2+2+1, 1+2)
	f(`{ organization(organization_id: "o") { a: id a: id resources { id: resource_id } resources { windows { charge } } } }`, nil, 8, 1+1+10+10+70+70)
	f(`{ organization(organization_id: "o") { ... on OrganizationReport { resources { resource_id } } } }`, nil, 4, 1+10+10)
}

func TestGraphQLBoundsTheAnswer(t *testing.T) {
	at := clockInstant()
	g, _ := budgetGraphQL(t, at, nil)
	q := Request{Query: `{ a: organization(organization_id: "o") { ...F } b: organization(organization_id: "o") { ...F } }
fragment F on OrganizationReport { id organization_id resources { resource_id aggregated_usage { metric windows { quantity summary charge } } } }`}
	resp := g.Execute(auth.AsAdminContext(context.Background()), q)
	if len(resp.Errors) > 0 {
		t.Fatal(resp.Errors)
	}
	data, err := json.Marshal(resp.Data)
	if err != nil {
		t.Fatal(err)
	}
	// The answer is counted as it is built, to the byte the data has in JSON.
	g.limits.AnswerBytes = len(data)
	if resp := g.Execute(auth.AsAdminContext(context.Background()), q); len(resp.Errors) > 0 {
		t.Errorf("an answer of %d bytes with %d allowed: %v", len(data), len(data), resp.Errors)
	}
	g.limits.AnswerBytes = len(data) - 1
	refused(t, "one byte over", g.Execute(auth.AsAdminContext(context.Background()), q), fault.KindTooLarge, "answer too large", fmt.Sprintf("%d bytes", len(data)-1))
}

func TestJSONSize(t *testing.T) {
	for _, v := range []any{nil, true, false, "", `a"b\c`, "<&>", "tab\there\x01", "é€😀", "\u2028", "bad\xffbyte", json.Number("12.5"),
		map[string]any{"b": json.Number("1"), "a": []any{nil, "x"}}, []any{}, map[string]any{}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonSize(v); got != len(b) {
			t.Errorf("jsonSize(%#v) = %d, want %d (%s)", v, got, len(b), b)
		}
	}
}

// cancellingStore cancels its context at the first read, as a client going away does.
type cancellingStore struct {
	reporttest.Memory
	cancel context.CancelFunc
	reads  int
}

func (s *cancellingStore) Read(ctx context.Context, q report.Query) ([]report.Cell, error) {
	s.reads++
	s.cancel()
	return s.Memory.Read(ctx, q)
}

func TestGraphQLStopsWhenTheClientLeaves(t *testing.T) {
	at := clockInstant()
	g, st := budgetGraphQL(t, at, nil)
	q := Request{Query: `{ a: organization(organization_id: "o") { id } b: organization(organization_id: "o") { id } }`}

	// A request whose client has gone does no work.
	ctx, cancel := context.WithCancel(auth.AsAdminContext(context.Background()))
	cancel()
	refused(t, "cancelled", g.Execute(ctx, q), fault.KindUnavailable, "the request was cancelled")
	if len(st.queries) > 0 {
		t.Errorf("a cancelled request read %d queries", len(st.queries))
	}
	// Nor does one past the time limit.
	g.limits.Time = -1
	refused(t, "past its time", g.Execute(auth.AsAdminContext(context.Background()), q), fault.KindUnavailable, "ran longer than")
	if len(st.queries) > 0 {
		t.Errorf("a request past its time read %d queries", len(st.queries))
	}
	g.limits.Time = DefaultLimits.Time

	// A client leaving during the first root field stops the query there.
	cs := &cancellingStore{}
	for _, c := range objectCells("s", "app:1", "i1", at-1000, at-500, [3]string{"1", "3", "300"}) {
		for _, org := range []string{"o", "p", "q"} {
			cs.Write(reporttest.Version{Org: org, Cell: c, Visible: c.Processed})
		}
	}
	g.r = NewReports(&report.Reporter{Store: cs, Plans: g.r.r.Plans, Slots: g.r.r.Slots, Future: g.r.r.Future, Settle: g.r.r.Settle, Clock: g.r.r.Clock})
	ctx, cs.cancel = context.WithCancel(auth.AsAdminContext(context.Background()))
	refused(t, "cancelled while running", g.Execute(ctx, Request{Query: `{ organizations(organization_ids: ["o", "p", "q"]) { id } x: organization(organization_id: "o") { id } }`}),
		fault.KindUnavailable, "the request was cancelled")
	if cs.reads != 1 {
		t.Errorf("cancelled at the first read, the query read %d times", cs.reads)
	}
}

func TestGraphQLSmallerDefects(t *testing.T) {
	g, _ := budgetGraphQL(t, clockInstant(), nil)
	f := func(name string, req Request, kind fault.Kind, want ...string) {
		t.Helper()
		refused(t, name, g.Execute(auth.AsAdminContext(context.Background()), req), kind, want...)
	}
	f("no query", Request{}, fault.KindInvalid, "no query")
	f("only a comment", Request{Query: "# nothing"}, fault.KindInvalid, "no query")
	f("only a fragment", Request{Query: "fragment F on OrganizationReport { id }"}, fault.KindInvalid, "no query")
	f("no such operation", Request{Query: "query A { __typename }", OperationName: "B"}, fault.KindInvalid, `no operation named \"B\"`)
	f("several operations", Request{Query: "query A { __typename } query B { __typename }"}, fault.KindInvalid, "several operations")
	f("an Int literal beyond 64 bits", Request{Query: `{ organization(organization_id: "o", time: 99999999999999999999) { id } }`},
		fault.KindInvalid, `"field":"time"`, "64 bits")
	f("a negative Int literal beyond 64 bits", Request{Query: `query ($t: Int = -99999999999999999999) { organization(organization_id: "o", time: $t) { id } }`},
		fault.KindInvalid, `"field":"t"`, "64 bits")
	f("an Int variable beyond 64 bits", Request{Query: `query ($t: Int) { organization(organization_id: "o", time: $t) { id } }`,
		Variables: map[string]any{"t": json.Number("99999999999999999999")}}, fault.KindInvalid, `"field":"t"`, "64 bits")
	f("a float Int variable beyond 64 bits", Request{Query: `query ($t: Int) { organization(organization_id: "o", time: $t) { id } }`,
		Variables: map[string]any{"t": 1e30}}, fault.KindInvalid, `"field":"t"`, "64 bits")
	f("a fractional Int variable", Request{Query: `query ($t: Int) { organization(organization_id: "o", time: $t) { id } }`,
		Variables: map[string]any{"t": json.Number("1.5")}}, fault.KindInvalid, `"field":"t"`, "not an integer")
}

// clockInstant is a report time inside a month (the last of clock.Instants).
func clockInstant() int64 { return clock.Instants[len(clock.Instants)-1].UnixMilli() }

// BenchmarkGraphQLRefused is the cost of refusing the queries, and of serving
// __typename as many times as a query may select it: the 30,000 __typename query took 40 s
// of CPU in validation before it was bounded.
func BenchmarkGraphQLRefused(b *testing.B) {
	g, _ := budgetGraphQL(b, clockInstant(), nil)
	for _, c := range []struct {
		name  string
		query string
		ok    bool
	}{
		{"typename-30000", typenames(30000), false},
		{"typename-1400", typenames(1400), false},
		{"typename-1000", typenames(DefaultLimits.Selections), true},
		{"fragment-bomb", fragmentBomb(), false},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if resp := g.Execute(auth.AsAdminContext(context.Background()), Request{Query: c.query}); (len(resp.Errors) == 0) != c.ok {
					b.Fatalf("%d errors, want ok %v: %v", len(resp.Errors), c.ok, resp.Errors)
				}
			}
		})
	}
}
