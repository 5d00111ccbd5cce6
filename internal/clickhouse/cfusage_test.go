package clickhouse_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/report/cfrecon"
	"github.com/meterline/meterline/internal/testenv"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// TestCFReconciliationOverClickHouse stores the Usage Service's figures of an organization's
// last day of 2026 on the real ClickHouse twice, as a re-read does, and the cf poller's
// documents of its app and service (one stored twice, one rejected, one the day before that
// sets what runs at midnight, one of 2027, a task): the reconciliation reads each row once, the
// footprints counted once, and shows exactly the difference.
func TestCFReconciliationOverClickHouse(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	conn := testenv.ClickHouse(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	day := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	const org, space = "o-ch-1", "sp-ch-1"
	rows := []cfrecon.Row{
		{Foundation: "f", Organization: org, Day: day, Kind: cfrecon.KindDay},
		{Foundation: "f", Organization: org, Day: day, Kind: cfrecon.KindApp, Entry: 0, Space: space, App: "app-1", AppName: "web", Process: "app-1",
			Instances: 2, Memory: 1024, Seconds: decimal.RequireFromString("86400")},
		{Foundation: "f", Organization: org, Day: day, Kind: cfrecon.KindService, Entry: 0, Space: space, ServiceInstance: "si-1", InstanceName: "db",
			InstanceType: "managed_service_instance", Plan: "small", Seconds: decimal.RequireFromString("43200.5")},
		{Foundation: "f", Organization: org, Day: day, Kind: cfrecon.KindTask, Entry: 0, Space: space, App: "app-1", Memory: 512, Instances: 1,
			Seconds: decimal.RequireFromString("3600")},
	}
	table := clickhouse.NewCFUsageService(conn)
	for range 2 {
		if err := table.Insert(ctx, rows, day.AddDate(0, 0, 1)); err != nil {
			t.Fatal(err)
		}
	}
	stored, err := table.Stored(ctx, []time.Time{day, day.AddDate(0, 0, -1)})
	if err != nil || len(stored) != 1 || !stored[[2]string{org, "2026-12-31"}] {
		t.Fatalf("stored %v %v", stored, err)
	}
	doc := func(res, inst, consumer, dedup string, at time.Time, ms ...usage.Measure) usage.Document {
		return usage.Document{Start: at.UnixMilli(), End: at.UnixMilli(), OrganizationID: org, SpaceID: space, ConsumerID: consumer,
			ResourceID: res, PlanID: "standard", ResourceInstanceID: inst, DedupID: "cf:f:" + dedup, MeasuredUsage: ms}
	}
	m := func(name string, q int64) usage.Measure {
		return usage.Measure{Measure: name, Quantity: decimal.NewFromInt(q)}
	}
	app := func(dedup string, at time.Time, memMB, inst, prevMB, prevInst int64) usage.Document {
		return doc(cfrecon.ResourceApp, "memory:app-1", "app:app-1", dedup, at, m("current_instance_memory", memMB<<20), m("current_running_instances", inst),
			m("previous_instance_memory", prevMB<<20), m("previous_running_instances", prevInst))
	}
	svc := func(dedup string, at time.Time, open int64) usage.Document {
		return doc(cfrecon.ResourceService, "service:si-1:small", "service:si-1", dedup, at, m("current_instances", open), m("previous_instances", 1-open))
	}
	docs := []usage.Document{
		app("e1", day.Add(-10*time.Hour), 1024, 1, 0, 0),   // the day before: 1 instance at midnight
		app("e2", day.Add(6*time.Hour), 1024, 3, 1024, 1),  // rejected below
		app("e3", day.Add(12*time.Hour), 1024, 3, 1024, 1), // 3 instances from noon
		app("e4", day.Add(25*time.Hour), 0, 0, 1024, 3),    // 2027
		svc("s1", day.Add(12*time.Hour), 1),                // opened at noon
		svc("s2", day.Add(24*time.Hour+30*time.Minute), 0), // closed in 2027
		// A task of 512 MB from 00:00 to 01:00.
		doc(cfrecon.ResourceTask, "task:t-1", "app:app-1", "t1", day, m("current_instance_memory", 512<<20), m("current_running_instances", 1)),
		doc(cfrecon.ResourceTask, "task:t-1", "app:app-1", "t2", day.Add(time.Hour), m("current_instance_memory", 0), m("current_running_instances", 0)),
	}
	var evs []usage.EventRow
	for i, d := range docs {
		evs = append(evs, usage.EventRow{Event: &meterlinev1.UsageEvent{Id: d.ID(), Document: d.Proto()}, Offset: int64(i)})
	}
	evs = append(evs, evs[2])
	if err := clickhouse.NewEvents(conn).Insert(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := clickhouse.NewRejections(conn).Insert(ctx, []usage.RejectionRow{{Rejection: &meterlinev1.RejectedUsage{
		Event: evs[1].Event, Code: "too_late", Reason: "test"}}}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	cfrecon.NewAPI(table, zap.NewNop()).Register(mux)
	get := func(path string) (int, cfrecon.Reconciliation, string) {
		w := httptest.NewRecorder()
		auth.AsAdmin(mux).ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil).WithContext(ctx))
		var rec cfrecon.Reconciliation
		if w.Code == http.StatusOK {
			if err := json.Unmarshal(w.Body.Bytes(), &rec); err != nil {
				t.Fatal(err)
			}
		}
		return w.Code, rec, w.Body.String()
	}
	code, rec, body := get("/v1/cf/organizations/" + org + "/reconciliation/2026-12-31")
	if code != http.StatusOK || !rec.Read || len(rec.Apps) != 1 || len(rec.Services) != 1 || len(rec.Tasks) != 1 ||
		!rec.Tasks[0].Metered.MemoryGBHours.Equal(decimal.RequireFromString("0.5")) || len(rec.Differences.Tasks) != 0 {
		t.Fatalf("%d %s", code, body)
	}
	// Metered: 1 GB × 12 h + 3 GB × 12 h = 48 GB-hours, 48 instance-hours: as reported. The
	// service: 12 h metered, 12 h 0.5 s reported.
	a, s := rec.Apps[0], rec.Services[0]
	if !a.Metered.MemoryGBHours.Equal(decimal.NewFromInt(48)) || !a.Metered.InstanceHours.Equal(decimal.NewFromInt(48)) ||
		!a.Difference.MemoryGBHours.IsZero() || !a.UsageService.MemoryGBHours.Equal(decimal.NewFromInt(48)) {
		t.Errorf("app %+v", a)
	}
	if !s.Metered.Hours.Equal(decimal.NewFromInt(12)) || s.Difference.Hours.String() != "0.000138888889" || len(rec.Differences.Services) != 1 || len(rec.Differences.Apps) != 0 {
		t.Errorf("service %+v; differences %+v", s, rec.Differences)
	}
	if code, rec, body := get("/v1/cf/organizations/" + org + "/reconciliation/2026-12-30"); code != http.StatusOK || rec.Read {
		t.Errorf("a day not read: %d %s", code, body)
	}
	if code, _, body := get("/v1/cf/organizations/o-ch-nope/reconciliation/2026-12-31"); code != http.StatusNotFound {
		t.Errorf("unknown organization: %d %s", code, body)
	}
}
