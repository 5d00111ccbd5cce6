package clickhouse_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/report/directory"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// TestDirectory lists organizations and rejections from the real tables.
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
	list := func(q directory.OrganizationQuery) []directory.Organization {
		t.Helper()
		orgs, err := d.Organizations(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return orgs
	}
	want := []directory.Organization{
		{OrganizationID: "org-a", From: dec.UnixMilli(), To: dec.AddDate(0, 1, 0).UnixMilli()},
		{OrganizationID: "org-b", From: nov.UnixMilli(), To: dec.AddDate(0, 1, 0).UnixMilli()},
		{OrganizationID: "org-c", From: nov.UnixMilli(), To: dec.UnixMilli()},
	}
	if got := list(directory.OrganizationQuery{Limit: 10}); !slices.Equal(got, want) {
		t.Errorf("organizations %+v, want %+v", got, want)
	}
	if got := list(directory.OrganizationQuery{After: "org-a", Limit: 1}); !slices.Equal(got, want[1:2]) {
		t.Errorf("after org-a, one: %+v, want %+v", got, want[1:2])
	}
	if got := list(directory.OrganizationQuery{Only: []string{"org-c", "org-x"}, Limit: 10}); !slices.Equal(got, want[2:]) {
		t.Errorf("only org-c and org-x: %+v, want %+v", got, want[2:])
	}
	if got := list(directory.OrganizationQuery{Only: []string{}, Limit: 10}); len(got) != 0 {
		t.Errorf("only none: %+v", got)
	}

	insts := func(q directory.InstanceQuery) []directory.Instance {
		t.Helper()
		out, err := d.Instances(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	inst := func(id, space, consumer string, from, to time.Time) directory.Instance {
		return directory.Instance{ResourceInstanceID: id, SpaceID: space, ConsumerID: consumer, ResourceID: "object-storage",
			PlanID: "basic", MeteringPlanID: "m", RatingPlanID: "r", PricingPlanID: "p", From: from.UnixMilli(), To: to.UnixMilli()}
	}
	jan := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	allInsts := []directory.Instance{inst("i-1", "s-1", "c-1", nov, jan), inst("i-2", "s-1", "c-2", dec, jan), inst("i-3", "s-2", "c-3", dec, jan)}
	if got := insts(directory.InstanceQuery{Organization: "org-a", Limit: 10}); !slices.Equal(got, allInsts) {
		t.Errorf("instances %+v, want %+v", got, allInsts)
	}
	if got := insts(directory.InstanceQuery{Organization: "org-a", Space: "s-1", Consumer: "c-2", Limit: 10}); !slices.Equal(got, allInsts[1:2]) {
		t.Errorf("instances of s-1/c-2 %+v, want %+v", got, allInsts[1:2])
	}
	if got := insts(directory.InstanceQuery{Organization: "org-a", Resources: []string{"linux-container"}, Limit: 10}); len(got) != 0 {
		t.Errorf("instances of linux-container: %+v", got)
	}

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
	rejs := func(q directory.RejectionQuery) []string {
		t.Helper()
		out, err := d.Rejections(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range out {
			ids = append(ids, r.ID+":"+r.Code)
		}
		return ids
	}
	if got, want := rejs(directory.RejectionQuery{Organization: "org-a", Limit: 10}), []string{"30-c:no_plan", "20-b:future", "10-a:too_late"}; !slices.Equal(got, want) {
		t.Errorf("rejections %v, want %v", got, want)
	}
	if got, want := rejs(directory.RejectionQuery{Organization: "org-a", Resources: []string{"object-storage"}, Limit: 1}), []string{"20-b:future"}; !slices.Equal(got, want) {
		t.Errorf("object-storage, one: %v, want %v", got, want)
	}
	if got := rejs(directory.RejectionQuery{Organization: "org-b", Limit: 10}); len(got) != 0 {
		t.Errorf("org-b: %v", got)
	}
	full, err := d.Rejections(ctx, directory.RejectionQuery{Organization: "org-a", Resources: []string{"linux-container"}, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := (directory.Rejection{ID: "30-c", ResourceID: "linux-container", PlanID: "basic", End: 25, Code: "no_plan",
		Reason: "no_plan because", Processed: 30}); len(full) != 1 || full[0] != want {
		t.Errorf("rejection %+v, want %+v", full, want)
	}
}
