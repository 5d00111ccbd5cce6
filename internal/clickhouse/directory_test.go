package clickhouse_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report/directory"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// TestDirectory lists organizations, instances and rejections from the real tables.
func TestDirectory(t *testing.T) {
	ctx := context.Background()
	conn := testenv.ClickHouse(t, testenv.Get(t).Config(t))
	nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	dec := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	cell := func(org, scope, level string, from time.Time, offset int64) clickhouse.CellRow {
		return clickhouse.CellRow{Offset: offset, Cell: &meterlinev1.RatedUsage{OrganizationId: org, ResourceId: "object-storage",
			Metric: "storage", Scope: scope, Level: level, PeriodStartMs: from.UnixMilli(),
			PeriodEndMs: from.AddDate(0, 1, 0).UnixMilli(), ProcessedMs: from.UnixMilli() + 1}}
	}
	instance := func(id, space, consumer, plan string, from time.Time, offset int64) clickhouse.CellRow {
		c := cell("org-a", "instance", "month", from, offset)
		c.Cell.ResourceInstanceId, c.Cell.SpaceId, c.Cell.ConsumerId, c.Cell.Plan = id, space, consumer, plan
		return c
	}
	cells := clickhouse.NewCells(conn)
	cells.Clock = clock.NewManual(dec.Add(time.Hour))
	if err := cells.Insert(ctx, []clickhouse.CellRow{
		cell("org-b", "organization", "month", nov, 1), cell("org-b", "organization", "month", dec, 2),
		cell("org-a", "organization", "month", dec, 3), cell("org-c", "organization", "month", nov, 4),
		// A space cell or a day cell alone does not list an organization: every usage has a
		// monthly organization cell, and the list reads only those.
		cell("org-s", "space", "month", nov, 5), cell("org-d", "organization", "day", nov, 6),
		instance("i-1", "s-1", "c-1", "basic/m/r/p", nov, 7), instance("i-1", "s-1", "c-1", "basic/m/r/p", dec, 8),
		instance("i-2", "s-1", "c-2", "basic/m/r/p", dec, 9), instance("i-3", "s-2", "c-3", "basic/m/r/p", dec, 10),
		// The cells of a resource that add up its plans have no plan: not an instance of its own.
		instance("i-1", "s-1", "c-1", "", dec, 11),
	}); err != nil {
		t.Fatal(err)
	}
	d := clickhouse.NewDirectory(conn)
	org := func(id string, from, to time.Time) directory.Organization {
		return directory.Organization{OrganizationID: id, From: from.UnixMilli(), To: to.UnixMilli()}
	}
	jan := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	orgA, orgB, orgC := org("org-a", dec, jan), org("org-b", nov, jan), org("org-c", nov, dec)
	checkList(t, d.Organizations, []listCase[directory.OrganizationQuery, directory.Organization]{
		{"every one", directory.OrganizationQuery{Limit: 10}, []directory.Organization{orgA, orgB, orgC}},
		{"after org-a, one", directory.OrganizationQuery{After: "org-a", Limit: 1}, []directory.Organization{orgB}},
		{"only org-c and org-x", directory.OrganizationQuery{Only: []string{"org-c", "org-x"}, Limit: 10}, []directory.Organization{orgC}},
		{"only none", directory.OrganizationQuery{Only: []string{}, Limit: 10}, nil},
	})

	inst := func(id, space, consumer string, from time.Time) directory.Instance {
		return directory.Instance{ResourceInstanceID: id, SpaceID: space, ConsumerID: consumer, ResourceID: "object-storage",
			PlanID: "basic", MeteringPlanID: "m", RatingPlanID: "r", PricingPlanID: "p", From: from.UnixMilli(), To: jan.UnixMilli()}
	}
	i1, i2, i3 := inst("i-1", "s-1", "c-1", nov), inst("i-2", "s-1", "c-2", dec), inst("i-3", "s-2", "c-3", dec)
	checkList(t, d.Instances, []listCase[directory.InstanceQuery, directory.Instance]{
		{"every one", directory.InstanceQuery{Organization: "org-a", Limit: 10}, []directory.Instance{i1, i2, i3}},
		{"the first", directory.InstanceQuery{Organization: "org-a", Limit: 1}, []directory.Instance{i1}},
		{"of s-1/c-2", directory.InstanceQuery{Organization: "org-a", Space: "s-1", Consumer: "c-2", Limit: 10}, []directory.Instance{i2}},
		{"of s-2", directory.InstanceQuery{Organization: "org-a", Space: "s-2", Limit: 10}, []directory.Instance{i3}},
		{"of object-storage", directory.InstanceQuery{Organization: "org-a", Resources: []string{"object-storage"}, Limit: 10}, []directory.Instance{i1, i2, i3}},
		{"of linux-container", directory.InstanceQuery{Organization: "org-a", Resources: []string{"linux-container"}, Limit: 10}, nil},
		{"of no resource", directory.InstanceQuery{Organization: "org-a", Resources: []string{}, Limit: 10}, nil},
	})

	rejection := func(id, resource, code string, processed int64) usage.RejectionRow {
		return usage.RejectionRow{Rejection: &meterlinev1.RejectedUsage{Event: &meterlinev1.UsageEvent{Id: id,
			Document: &meterlinev1.UsageDocument{OrganizationId: "org-a", ResourceId: resource, PlanId: "basic", End: processed - 5}},
			Code: code, Reason: code + " because", ProcessedMs: processed}}
	}
	rows := []usage.RejectionRow{rejection("10-a", "object-storage", "too_late", 10), rejection("30-c", "linux-container", "no_plan", 30),
		rejection("20-b", "object-storage", "future", 20)}
	rj := clickhouse.NewRejections(conn)
	// Written twice, as a replay after a crash writes them: listed once.
	for range 2 {
		if err := rj.Insert(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	rej := func(id, resource, code string, processed int64) directory.Rejection {
		return directory.Rejection{ID: id, ResourceID: resource, PlanID: "basic", End: processed - 5, Code: code,
			Reason: code + " because", Processed: processed}
	}
	r10, r20, r30 := rej("10-a", "object-storage", "too_late", 10), rej("20-b", "object-storage", "future", 20), rej("30-c", "linux-container", "no_plan", 30)
	checkList(t, d.Rejections, []listCase[directory.RejectionQuery, directory.Rejection]{
		{"latest first", directory.RejectionQuery{Organization: "org-a", Limit: 10}, []directory.Rejection{r30, r20, r10}},
		{"object-storage, one", directory.RejectionQuery{Organization: "org-a", Resources: []string{"object-storage"}, Limit: 1}, []directory.Rejection{r20}},
		{"linux-container", directory.RejectionQuery{Organization: "org-a", Resources: []string{"linux-container"}, Limit: 10}, []directory.Rejection{r30}},
		{"of no resource", directory.RejectionQuery{Organization: "org-a", Resources: []string{}, Limit: 10}, nil},
		{"org-b", directory.RejectionQuery{Organization: "org-b", Limit: 10}, nil},
	})
}

// listCase is a query of a directory list and the rows it returns, in order.
type listCase[Q any, T comparable] struct {
	name string
	q    Q
	want []T
}

// checkList asks list each case's query and compares the rows with the case's; then it asks
// the first case's query of a server that cannot answer (a cancelled context), which must be
// unavailable.
func checkList[Q any, T comparable](t *testing.T, list func(context.Context, Q) ([]T, error), cases []listCase[Q, T]) {
	t.Helper()
	for _, tc := range cases {
		got, err := list(context.Background(), tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := list(done, cases[0].q); fault.KindOf(err) != fault.KindUnavailable {
		t.Errorf("%s, of a cancelled query: %v, want unavailable", cases[0].name, err)
	}
}
