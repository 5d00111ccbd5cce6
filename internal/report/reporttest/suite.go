package reporttest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report"
)

// NewStore returns an empty store of the implementation under test and how to write it: one
// call of write is one write of the cell sink (of several versions of one cell in one write,
// a store may keep only the greatest offset's, as clickhouse.Cells does).
type NewStore func(t *testing.T) (st report.Store, write func(vs ...Version))

// Store runs the behaviour every report.Store has, at each of clock.Instants (the report's
// time is the instant, the versions are of the days around it): the value as of a time is
// the latest processed at or before it, a tie of processed times goes to the greater offset,
// a value written after the time is not read; queries narrow by organization, scope, period,
// instance and consumer, plan key and plan id; decimals and maps read back as written.
func Store(t *testing.T, newStore NewStore) {
	for _, now := range clock.Instants {
		t.Run(now.Format("2006-01-02T15:04:05.000Z"), func(t *testing.T) {
			at := now.UnixMilli()
			t.Run("AsOf", func(t *testing.T) { asOf(t, newStore, at) })
			t.Run("AcrossDays", func(t *testing.T) { acrossDays(t, newStore, at) })
		})
	}
}

// read reads q and names each cell "scope/plan/level/instance" with "quantity cost processed".
func read(t *testing.T, st report.Store, q report.Query) map[string]string {
	t.Helper()
	cells, err := st.Read(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range cells {
		k := fmt.Sprintf("%s/%s/%s/%s", c.Scope, c.Plan, c.Level, c.Instance)
		if _, dup := out[k]; dup {
			t.Errorf("cell %s read twice", k)
		}
		out[k] = fmt.Sprint(c.Quantity, " ", c.Cost, " ", c.Processed)
	}
	return out
}

func asOf(t *testing.T, newStore NewStore, at int64) {
	st, write := newStore(t)
	day, _ := metering.Day.Period(at)
	month, _ := metering.Month.Period(at)
	two := decimal.NewFromInt(2)
	n := func(i int64) report.Value { return report.DecimalValue(decimal.NewFromInt(i)) }
	cell := func(scope metering.Scope, plan string, l metering.Level, from, processed int64, q report.Value) report.Cell {
		c := report.Cell{Scope: scope, Space: "s", Resource: "r", Plan: plan, Metric: "m", Level: l, From: from, Quantity: q, Processed: processed}
		if scope <= metering.ScopeConsumer {
			c.Consumer = "app:1"
		}
		if scope == metering.ScopeInstance {
			c.Instance = "i1"
		}
		if plan != "" {
			c.Cost = report.DecimalValue(decimal.RequireFromString("0.5"))
		}
		return c
	}
	memory, err := report.ValueOf(map[string]any{"consuming": two, "consumed": decimal.RequireFromString("123.000000000001")})
	if err != nil {
		t.Fatal(err)
	}
	var first []Version
	for i, c := range []report.Cell{
		cell(metering.ScopeOrganization, "", metering.Day, day, at-100, n(1)),
		cell(metering.ScopeOrganization, "p/m/r/x", metering.Day, day, at-100, n(1)),
		cell(metering.ScopeOrganization, "", metering.Month, month, at-200, n(1)),
		cell(metering.ScopeOrganization, "", metering.Month, month, at-100, memory),
		cell(metering.ScopeOrganization, "", metering.Hour, day, at-100, n(7)), // a period not asked for
		cell(metering.ScopeInstance, "p/m/r/x", metering.Day, day, at-100, report.DecimalValue(two)),
		cell(metering.ScopeInstance, "pp/m/r/x", metering.Day, day, at-100, report.DecimalValue(two)),
		cell(metering.ScopeConsumer, "p/m/r/x", metering.Day, day, at-100, n(6)),
	} {
		first = append(first, Version{Org: "o", Cell: c, Visible: at - 1000, Offset: int64(i)},
			Version{Org: "other", Cell: c, Visible: at - 1000, Offset: int64(i)})
	}
	// The month cell's two values in writes of their own (a store may keep only the last of
	// a cell's values in one write).
	write(first[:6]...)
	write(first[6:]...)
	// Two transactions in one millisecond, written apart: the later record of the rated topic
	// wins, not the first written nor the greater value.
	write(Version{Org: "o", Cell: cell(metering.ScopeSpace, "", metering.Day, day, at-50, n(4)), Visible: at - 1000, Offset: 101})
	write(Version{Org: "o", Cell: cell(metering.ScopeSpace, "", metering.Day, day, at-50, n(9)), Visible: at - 1000, Offset: 100})
	// A later version, processed after the report's time.
	write(Version{Org: "o", Cell: cell(metering.ScopeOrganization, "", metering.Day, day, at+100, n(5)), Visible: at - 1000, Offset: 50})
	// Processed before the report's time but written after it: not in the report of that time.
	write(Version{Org: "o", Cell: cell(metering.ScopeOrganization, "", metering.Minute, day, at-100, n(8)), Visible: at + 50, Offset: 200})

	f := func(name string, q report.Query, want map[string]string) {
		t.Helper()
		if got := read(t, st, q); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s\n got %v\nwant %v", name, got, want)
		}
	}
	org := []metering.Scope{metering.ScopeOrganization}
	periods := []report.Period{{Level: metering.Day, From: day}, {Level: metering.Month, From: month}}
	p := func(ms int64) string { return fmt.Sprint(ms) }
	f("as of the report's time", report.Query{Org: "o", AsOf: at, Scopes: org, Periods: periods}, map[string]string{
		"organization//day/":        "1 <nil> " + p(at-100),
		"organization/p/m/r/x/day/": "1 0.5 " + p(at-100),
		"organization//month/":      "map[consumed:123.000000000001 consuming:2] <nil> " + p(at-100),
	})
	f("before anything was processed", report.Query{Org: "o", AsOf: at - 1001, Scopes: org, Periods: periods}, map[string]string{})
	f("another organization", report.Query{Org: "nobody", AsOf: at, Scopes: org, Periods: periods}, map[string]string{})
	minute := []report.Period{{Level: metering.Minute, From: day}}
	f("a row written after the report's time", report.Query{Org: "o", AsOf: at, Scopes: org, Periods: minute}, map[string]string{})
	f("a row written at the report's time", report.Query{Org: "o", AsOf: at + 50, Scopes: org, Periods: minute},
		map[string]string{"organization//minute/": "8 <nil> " + p(at-100)})
	f("as of later", report.Query{Org: "o", AsOf: at + 100, Scopes: org, Periods: periods[:1]}, map[string]string{
		"organization//day/":        "5 <nil> " + p(at+100),
		"organization/p/m/r/x/day/": "1 0.5 " + p(at-100),
	})
	f("two versions processed in the same millisecond", report.Query{Org: "o", AsOf: at,
		Scopes: []metering.Scope{metering.ScopeSpace}, Periods: periods}, map[string]string{"space//day/": "4 <nil> " + p(at-50)})
	inst := []metering.Scope{metering.ScopeInstance}
	f("plan id p, not pp", report.Query{Org: "o", AsOf: at, Scopes: inst, Periods: periods, Instance: "i1", Consumer: "app:1", PlanID: "p"},
		map[string]string{"instance/p/m/r/x/day/i1": "2 0.5 " + p(at-100)})
	f("plan key", report.Query{Org: "o", AsOf: at, Scopes: inst, Periods: periods, Instance: "i1", Consumer: "app:1", Plan: "pp/m/r/x"},
		map[string]string{"instance/pp/m/r/x/day/i1": "2 0.5 " + p(at-100)})
	f("another consumer's instance", report.Query{Org: "o", AsOf: at, Scopes: inst, Periods: periods, Instance: "i1", Consumer: "app:2"},
		map[string]string{})
	f("scopes", report.Query{Org: "o", AsOf: at, Scopes: []metering.Scope{metering.ScopeConsumer, metering.ScopeSpace}, Periods: periods},
		map[string]string{"consumer/p/m/r/x/day/": "6 0.5 " + p(at-100), "space//day/": "4 <nil> " + p(at-50)})
	got := read(t, st, report.Query{Org: "o", AsOf: at})
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range got {
			if !yield(k) {
				return
			}
		}
	})
	want := []string{"consumer/p/m/r/x/day/", "instance/p/m/r/x/day/i1", "instance/pp/m/r/x/day/i1", "organization//day/",
		"organization//hour/", "organization//month/", "organization/p/m/r/x/day/", "space//day/"}
	if !slices.Equal(keys, want) {
		t.Errorf("no scopes and no periods: every cell\n got %v\nwant %v", keys, want)
	}
}

// acrossDays reads a cell whose values were written over several days, each as of the time
// asked: a store that keeps older days apart (clickhouse.Cells' daily table) answers as one.
func acrossDays(t *testing.T, newStore NewStore, at int64) {
	st, write := newStore(t)
	const dayMs = 86_400_000
	month, _ := metering.Month.Period(at)
	w := func(value, processed, visible, offset int64) {
		c := report.Cell{Scope: metering.ScopeOrganization, Resource: "r", Metric: "m", Level: metering.Month, From: month,
			Quantity: report.DecimalValue(decimal.NewFromInt(value)), Processed: processed}
		write(Version{Org: "o", Cell: c, Visible: visible, Offset: offset})
	}
	w(1, at-2*dayMs-100, at-2*dayMs, 1)
	w(5, at-2*dayMs+100, at-2*dayMs+200, 2) // two writes of the day before yesterday: the later counts
	w(2, at-dayMs-100, at-dayMs, 3)
	w(3, at-100, at-50, 4)
	w(4, at-10, at+10, 5) // written after the report's time
	f := func(asOf int64, want string) {
		t.Helper()
		cells, err := st.Read(context.Background(), report.Query{Org: "o", AsOf: asOf, Scopes: []metering.Scope{metering.ScopeOrganization},
			Periods: []report.Period{{Level: metering.Month, From: month}}})
		if err != nil {
			t.Fatal(err)
		}
		got := "none"
		if len(cells) == 1 {
			got = fmt.Sprint(cells[0].Quantity)
		} else if len(cells) > 1 {
			got = fmt.Sprint(len(cells), " cells")
		}
		if got != want {
			t.Errorf("as of %d (day %+d, %d ms into it): %s, want %s", asOf, (asOf-at)/dayMs, asOf%dayMs, got, want)
		}
	}
	f(at-2*dayMs-1, "none")
	f(at-2*dayMs+150, "1")
	f(at-dayMs-1, "5")
	f(at-dayMs+3600_000, "2")
	f(at, "3")
	f(at+20, "4")
	f(at+5*dayMs, "4")
}
