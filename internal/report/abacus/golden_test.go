package abacus

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/report/reporttest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json with what the tests get")

// golden compares got, a JSON document as a client receives it, with testdata/name.golden.json
// (the same document indented), or rewrites the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, got, "", "  "); err != nil {
		t.Fatalf("%s: %v in %s", name, err, got)
	}
	b.WriteByte('\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/report/abacus -update to write it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("%s differs from %s (go test ./internal/report/abacus -update rewrites it):\n%s", name, path, b.Bytes())
	}
}

// The organizations, account, consumer and instance of seed 001's examples, and its time
// (2015-06-30T00:00:00Z, the first millisecond of June's last day).
const (
	seedOrg      = "us-south:a3d7fe4d-3cb1-4cc3-a831-ffe98e20cf27"
	seedOrg2     = "us-south:b3d7fe4d-3cb1-4cc3-a831-ffe98e20cf28"
	seedAccount  = "1234"
	seedSpace    = "aaeae239-f3f8-483c-9dd0-de6781c38bab"
	seedConsumer = "bbeae239-f3f8-483c-9dd0-de6781c38bab"
	seedInstance = "0b39fa70-a65f-4183-bae8-385633ca5c87"
	seedTime     = int64(1435622400000)
)

// seedReports is the Abacus view over the seed's usage, processed a second before its time
// (so on June 29: the day before the report's, in slot 1 of the day windows): object storage
// of the seed's instance and of another consumer, and a 2 GB linux app running since 06:00 of
// June 29, in the first organization; object storage in the second.
func seedReports(t testing.TB) *Reports {
	t.Helper()
	processed := seedTime - 1000
	st := &reporttest.Memory{}
	write := func(org string, cells []report.Cell) {
		for _, c := range cells {
			st.Write(reporttest.Version{Org: org, Cell: c, Visible: c.Processed})
		}
	}
	write(seedOrg, sumCells(
		objectCells(seedSpace, seedConsumer, seedInstance, processed, processed, [3]string{"1", "3", "300"}),
		objectCells(seedSpace, "app:2", "i2", processed, processed, [3]string{"2", "1", "100"}),
	))
	write(seedOrg2, objectCells("s2", "app:3", "i3", processed, processed, [3]string{"0.5", "10", "7"}))
	from, to := metering.Day.Period(processed)
	start := from + 6*3600_000
	two := decimal.NewFromInt(2)
	consumed := two.Mul(decimal.NewFromInt(from + to - 2*start))
	price := decimal.RequireFromString("0.00014")
	qty, err := report.ValueOf(map[string]any{"consuming": two, "consumed": consumed, "since": start})
	if err != nil {
		t.Fatal(err)
	}
	cost, err := report.ValueOf(map[string]any{"consuming": two, "consumed": consumed, "price": price})
	if err != nil {
		t.Fatal(err)
	}
	for _, scope := range []metering.Scope{metering.ScopeInstance, metering.ScopeConsumer, metering.ScopeSpace, metering.ScopeOrganization} {
		c := report.Cell{Scope: scope, Space: seedSpace, Consumer: "app:linux", Instance: "app:linux", Resource: "linux-container",
			Plan: "basic/basic-linux-container/linux-rating-plan/linux-pricing-basic", Metric: "memory", Level: metering.Day,
			From: from, Processed: processed, Quantity: qty, Cost: cost}
		if scope > metering.ScopeInstance {
			c.Instance = ""
		}
		if scope > metering.ScopeConsumer {
			c.Consumer = ""
		}
		if scope > metering.ScopeSpace {
			c.Space = ""
		}
		write(seedOrg, []report.Cell{c})
	}
	return NewReports(&report.Reporter{Store: st, Plans: builtinPlans(t), Slots: metering.DefaultSlots, Future: time.Minute,
		Settle: 5 * time.Second, Clock: clock.NewManual(time.UnixMilli(seedTime + 3600_000))})
}

// TestReportGoldens checks the organization report and resource instance reports of the
// seed's usage, byte for byte as the API writes them.
func TestReportGoldens(t *testing.T) {
	r := seedReports(t)
	ctx := context.Background()
	f := func(name string, v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, name, b)
	}
	rep, err := r.Organization(ctx, seedOrg, seedTime, AllScopes)
	f("organization", rep, err)
	inst, err := r.Instance(ctx, InstanceKey{Org: seedOrg, Instance: seedInstance, Consumer: seedConsumer,
		PlanIDs: report.PlanIDs{PlanID: "basic"}}, seedTime)
	f("resource_instance", inst, err)
	inst, err = r.Instance(ctx, InstanceKey{Org: seedOrg, Instance: "app:linux", Consumer: "app:linux",
		PlanIDs: report.SplitPlanKey("basic/basic-linux-container/linux-rating-plan/linux-pricing-basic")}, seedTime)
	f("resource_instance_time_based", inst, err)
}

// TestGraphQLSeedGoldens runs seed 001's example queries (testdata/seed001) and checks each
// response; the seed's eighth example, as printed, repeats "time:" and is a syntax error.
func TestGraphQLSeedGoldens(t *testing.T) {
	g, err := NewGraphQL(seedReports(t), fakeAccounts{seedAccount: {AccountID: seedAccount, Organizations: []string{seedOrg, seedOrg2}}})
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "seed001", "*.graphql"))
	if err != nil || len(files) != 9 {
		t.Fatalf("%d example queries, want 9: %v", len(files), err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".graphql")
		t.Run(name, func(t *testing.T) {
			q, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(g.Execute(auth.AsAdminContext(context.Background()), Request{Query: string(q)}))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "graphql_"+name, b)
		})
	}
}
