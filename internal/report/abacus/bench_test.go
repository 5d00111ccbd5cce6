package abacus

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/metering"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/report/reporttest"
	"github.com/meterline/meterline/internal/testenv"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// The benchmark organization: 10,000 resource instances of object storage in 1,000 consumers
// of 10 spaces, with usage in the current second, minute, hour, day and month. Every cell
// above the instances has three committed versions (as after three transactions that changed
// it), so reads pick the latest of several rows, as they do in production.
// at is the benchmark's report time, pinned: the benchmark reads the same periods whatever
// the date it runs on.
var at = clock.Instants[0].UnixMilli()

const (
	benchSpaces    = 10
	benchConsumers = 1000
	benchInstances = 10000
	benchVersions  = 3
)

var (
	benchOnce  sync.Once
	benchStore *clickhouse.Cells
	benchErr   error
)

// benchReporter fills the database meterline_bench_reports of the real test server, once
// per run (Go calls a benchmark several times); it is left for the next run to replace.
func benchReporter(b *testing.B) *Reports {
	b.Helper()
	cfg := testenv.Get(b).Config(b)
	benchOnce.Do(func() {
		ctx := context.Background()
		cfg.ClickHouse.Database = "meterline_bench_reports"
		conn, err := clickhouse.Open(ctx, cfg.ClickHouse)
		if err == nil {
			err = conn.Exec(ctx, "DROP TABLE IF EXISTS usage_cells")
		}
		if err == nil {
			err = conn.Exec(ctx, "DROP TABLE IF EXISTS schema_migrations")
		}
		if err == nil {
			err = clickhouse.Migrate(ctx, conn, zap.NewNop())
		}
		if err == nil {
			err = fillBench(b, conn)
		}
		benchErr, benchStore = err, clickhouse.NewCells(conn)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return NewReports(&report.Reporter{Store: benchStore, Plans: builtinPlans(b), Slots: metering.DefaultSlots,
		Future: time.Minute, Clock: clock.NewManual(time.UnixMilli(at + 1000))})
}

func fillBench(b testing.TB, conn clickhouse.Conn) error {
	ctx := context.Background()
	cells := clickhouse.NewCells(conn)
	cells.Clock = clock.NewManual(time.UnixMilli(at - 1000))
	// Each version of the cells goes in writes of its own, as the cell sink writes them: of
	// several values of a cell in one write it keeps only the last.
	var rows [benchVersions][]clickhouse.CellRow
	offset := int64(0)
	flush := func(v int) error {
		err := cells.Insert(ctx, rows[v])
		rows[v] = rows[v][:0]
		return err
	}
	add := func(c report.Cell, versions int) error {
		for v := range versions {
			c.Processed = at - int64(versions-v)*100
			offset++
			rows[v] = append(rows[v], ratedRow(b, c, "bench-org", offset))
			if len(rows[v]) >= 50000 {
				if err := flush(v); err != nil {
					return err
				}
			}
		}
		return nil
	}
	qty := map[string]decimal.Decimal{"storage": decimal.NewFromInt(1), "thousand_light_api_calls": decimal.NewFromInt(3),
		"heavy_api_calls": decimal.NewFromInt(300)}
	for l := metering.Level(0); l < metering.Levels; l++ {
		from, _ := l.Period(at)
		for _, metric := range []string{"storage", "thousand_light_api_calls", "heavy_api_calls"} {
			for _, plan := range []string{objectKey, ""} {
				base := report.Cell{Resource: "object-storage", Plan: plan, Metric: metric, Level: l, From: from, Quantity: report.DecimalValue(qty[metric])}
				if plan != "" {
					base.Cost = report.DecimalValue(qty[metric].Mul(decimal.RequireFromString(objectPrices[metric])))
				}
				for i := range benchInstances {
					if plan == "" {
						break // instances have plan cells only
					}
					c := base
					c.Scope, c.Space = metering.ScopeInstance, fmt.Sprint("space-", i%benchSpaces)
					c.Consumer, c.Instance = fmt.Sprint("app:", i%benchConsumers), fmt.Sprint("instance-", i)
					if err := add(c, 1); err != nil {
						return err
					}
				}
				for i := range benchConsumers {
					c := base
					c.Scope, c.Space, c.Consumer = metering.ScopeConsumer, fmt.Sprint("space-", i%benchSpaces), fmt.Sprint("app:", i)
					if err := add(c, benchVersions); err != nil {
						return err
					}
				}
				for i := range benchSpaces {
					c := base
					c.Scope, c.Space = metering.ScopeSpace, fmt.Sprint("space-", i)
					if err := add(c, benchVersions); err != nil {
						return err
					}
				}
				c := base
				c.Scope = metering.ScopeOrganization
				if err := add(c, benchVersions); err != nil {
					return err
				}
			}
		}
	}
	for v := range rows {
		if err := flush(v); err != nil {
			return err
		}
	}
	return conn.Exec(ctx, "OPTIMIZE TABLE usage_cells FINAL")
}

// ratedRow is a usage_cells row as the cell sink writes it.
func ratedRow(t testing.TB, c report.Cell, org string, offset int64) clickhouse.CellRow {
	t.Helper()
	q, err := metering.ValueProto(c.Quantity.Any())
	if err != nil {
		t.Fatal(err)
	}
	cost, err := metering.ValueProto(c.Cost.Any())
	if err != nil {
		t.Fatal(err)
	}
	_, to := c.Level.Period(c.From)
	return clickhouse.CellRow{Offset: offset, Cell: &meterlinev1.RatedUsage{OrganizationId: org, SpaceId: c.Space,
		ConsumerId: c.Consumer, ResourceInstanceId: c.Instance, ResourceId: c.Resource, Plan: c.Plan, Metric: c.Metric,
		Scope: c.Scope.String(), Level: c.Level.String(), PeriodStartMs: c.From, PeriodEndMs: to, Quantity: q, Cost: cost,
		ProcessedMs: c.Processed}}
}

// BenchmarkOrganizationReport is the full usage summary report of the benchmark organization
// (1,000 consumers, 10,000 instances) read from the real ClickHouse and written as JSON, as
// GET /v1/metering/organizations/:org/aggregated/usage/:time answers it.
func BenchmarkOrganizationReport(b *testing.B) {
	r := benchReporter(b)
	reporttest.Latencies(b, func() error {
		rep, err := r.Organization(context.Background(), "bench-org", at, AllScopes)
		if err != nil {
			return err
		}
		if n := len(rep.Spaces); n != benchSpaces {
			return fmt.Errorf("%d spaces, want %d", n, benchSpaces)
		}
		_, err = json.Marshal(rep)
		return err
	})
}

// BenchmarkGraphQLOrganization is a GraphQL query of the benchmark organization's own usage
// by resource and metric (seed 001's first example query).
func BenchmarkGraphQLOrganization(b *testing.B) {
	g, err := NewGraphQL(benchReporter(b), fakeAccounts{})
	if err != nil {
		b.Fatal(err)
	}
	q := Request{Query: fmt.Sprintf(`{ organization(organization_id: "bench-org", time: %d) { organization_id,
resources { resource_id, aggregated_usage { metric, windows { quantity, summary, charge } } } } }`, at)}
	reporttest.Latencies(b, func() error {
		resp := g.Execute(auth.AsAdminContext(context.Background()), q)
		if len(resp.Errors) > 0 {
			return resp.Errors
		}
		_, err := json.Marshal(resp)
		return err
	})
}
