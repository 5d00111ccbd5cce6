package clickhouse_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/clickhouse"
	vca "github.com/meterline/meterline/internal/report/vcloudair"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// TestVCloudAirReconciliationOverClickHouse stores a billing month (across the year's end) on
// the real ClickHouse twice, as a re-read does, and the poller's hourly documents of the
// same entities (one stored twice, one rejected, one of the hour after the month): the
// reconciliation reads each billed row once, the metered usage counted once, and shows
// exactly the differences.
func TestVCloudAirReconciliationOverClickHouse(t *testing.T) {
	conn, ctx, from := vcaSetup(t)
	to := from.AddDate(0, 1, 0) // 13 January 2027
	billed := func(sid, l2, entity, billable, q string) vca.Billed {
		return vca.Billed{Account: "sim", Group: "sg-east", Year: 2026, Month: 12, FromMs: from.UnixMilli(), ToMs: to.UnixMilli(),
			ServiceInstance: sid, L2: l2, Entity: entity, EntityType: "vm", Billable: billable,
			Quantity: decimal.RequireFromString(q), Unit: "vCPU-hour", Cost: decimal.RequireFromString("0.0125"), Currency: "USD"}
	}
	rows := []vca.Billed{billed("si-100", "vdc-a", "vm-a1", "vcpu_hours", "4"), billed("si-100", "vdc-a", "vm-a2", "vcpu_hours", "1.25"),
		billed("", "", "sg-east", "vcpu_hours", "3.5")}
	table := clickhouse.NewVCloudAirBilled(conn)
	for range 2 {
		if err := table.Insert(ctx, rows, to.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	doc := func(entity string, h time.Time, q string) usage.Document {
		return usage.Document{Start: h.UnixMilli(), End: h.Add(time.Hour).UnixMilli() - 1, OrganizationID: "si-100", SpaceID: "vdc-a",
			ConsumerID: entity, ResourceID: vca.Resource, PlanID: "vpc-ondemand", ResourceInstanceID: entity,
			DedupID:       "vca:sim:si-100:" + entity + ":" + h.Format(time.RFC3339),
			MeasuredUsage: []usage.Measure{{Measure: "vcpu_hours", Quantity: decimal.RequireFromString(q)}}}
	}
	last := to.Add(-time.Hour)
	docs := []usage.Document{doc("vm-a1", from, "2"), doc("vm-a1", last, "2"), doc("vm-a2", from, "1"),
		doc("vm-a2", from.Add(time.Hour), "0.25"), // rejected below
		doc("vm-a1", to, "2")}                     // the next month's
	var evs []usage.EventRow
	for i, d := range docs {
		evs = append(evs, usage.EventRow{Event: &meterlinev1.UsageEvent{Id: d.ID(), Document: d.Proto()}, Offset: int64(i)})
	}
	evs = append(evs, evs[1])
	if err := clickhouse.NewEvents(conn).Insert(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := clickhouse.NewRejections(conn).Insert(ctx, []usage.RejectionRow{{Rejection: &meterlinev1.RejectedUsage{
		Event: evs[3].Event, Code: "too_late", Reason: "test"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := table.Metered(ctx, []string{"si-100"}, from.UnixMilli(), to.UnixMilli()); err != nil {
		t.Fatalf("metered: %v", errors.Unwrap(err))
	}
	mux := http.NewServeMux()
	vca.NewAPI(table, zap.NewNop()).Register(mux)
	w := httptest.NewRecorder()
	auth.AsAdmin(mux).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/vcloudair/service-groups/sg-east/reconciliation/2026/12", nil).WithContext(ctx))
	var body struct {
		From, To    string
		Lines       []vca.Line
		Differences []vca.Line
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 200 {
		t.Fatalf("%d %s %v", w.Code, w.Body, err)
	}
	got, _ := json.Marshal(body.Differences)
	want := `[{"service_instance":"","l2":"","entity":"sg-east","billable":"vcpu_hours","unit":"vCPU-hour","billed":"3.5","metered":"0","difference":"3.5"},` +
		`{"service_instance":"si-100","l2":"vdc-a","entity":"vm-a2","billable":"vcpu_hours","unit":"vCPU-hour","billed":"1.25","metered":"1","difference":"0.25"}]`
	if string(got) != want || len(body.Lines) != 3 || body.From != "2026-12-13T00:00:00Z" || body.To != "2027-01-13T00:00:00Z" {
		t.Fatalf("%s\n%s", got, w.Body)
	}
	if !body.Lines[1].Billed.Equal(decimal.NewFromInt(4)) || !body.Lines[1].Metered.Equal(decimal.NewFromInt(4)) {
		t.Fatalf("vm-a1: %+v", body.Lines[1])
	}
	w = httptest.NewRecorder()
	auth.AsAdmin(mux).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/vcloudair/service-groups/sg-nope/reconciliation/2026/12", nil).WithContext(ctx))
	if w.Code != http.StatusNotFound {
		t.Fatalf("unknown group: %d %s", w.Code, w.Body)
	}
}

// TestVCloudAirMeteredSumBeyondDecimal128: ClickHouse's sum of four quantities of about
// 8.5 × 10^25 wraps around to 5; Metered says the sum is too large instead of reporting 5.
func TestVCloudAirMeteredSumBeyondDecimal128(t *testing.T) {
	conn, ctx, from := vcaSetup(t)
	var evs []usage.EventRow
	for i := range 4 {
		h := from.Add(time.Duration(i) * time.Hour)
		d := usage.Document{Start: h.UnixMilli(), End: h.Add(time.Hour).UnixMilli() - 1, OrganizationID: "si-wrap", SpaceID: "vdc-w",
			ConsumerID: "vm-w", ResourceID: vca.Resource, PlanID: "vpc-ondemand", ResourceInstanceID: "vm-w",
			DedupID:       "vca:sim:si-wrap:vm-w:" + h.Format(time.RFC3339),
			MeasuredUsage: []usage.Measure{{Measure: "vcpu_hours", Quantity: decimal.RequireFromString("85070591730234615865843653.107942052864")}}}
		evs = append(evs, usage.EventRow{Event: &meterlinev1.UsageEvent{Id: d.ID(), Document: d.Proto()}, Offset: int64(i)})
	}
	if err := clickhouse.NewEvents(conn).Insert(ctx, evs); err != nil {
		t.Fatal(err)
	}
	got, err := clickhouse.NewVCloudAirBilled(conn).Metered(ctx, []string{"si-wrap"}, from.UnixMilli(), from.AddDate(0, 0, 1).UnixMilli())
	if err == nil || !strings.Contains(err.Error(), "beyond what ClickHouse sums exactly") {
		t.Fatalf("Metered() = %v, %v; want an error saying the sum is too large", got, err)
	}
}

// vcaSetup is the real ClickHouse, a context of two minutes and the start of the billing
// month the tests use.
func vcaSetup(t *testing.T) (clickhouse.Conn, context.Context, time.Time) {
	t.Helper()
	conn := testenv.ClickHouse(t, testenv.Get(t).Config(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return conn, ctx, time.Date(2026, 12, 13, 0, 0, 0, 0, time.UTC)
}
