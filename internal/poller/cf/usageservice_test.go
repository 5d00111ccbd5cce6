package cf

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/poller"
	"github.com/meterline/meterline/internal/poller/cf/cfsim"
	"github.com/meterline/meterline/internal/report/cfrecon"
	"github.com/meterline/meterline/internal/usage"
)

func TestClosedDaysByLag(t *testing.T) {
	got := ClosedDays(time.Date(2027, 1, 1, 0, 9, 0, 0, time.UTC), 10*time.Minute, 2)
	want := []time.Time{time.Date(2026, 12, 29, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC)}
	if !slices.Equal(got, want) {
		t.Fatalf("9 minutes into 2027 with a lag of 10: %v, want %v (31 December waits)", got, want)
	}
	if got := ClosedDays(time.Date(2027, 1, 1, 0, 10, 0, 0, time.UTC), 10*time.Minute, 1); !got[0].Equal(time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("at the lag: %v", got)
	}
}

// steps are the documents as the reconciliation's store gives them: per instance, in order.
func steps(docs []usage.Document, org string) []cfrecon.Step {
	var out []cfrecon.Step
	for _, d := range docs {
		if d.OrganizationID != org {
			continue
		}
		s := cfrecon.Step{Resource: d.ResourceID, Instance: d.ResourceInstanceID, Space: d.SpaceID, Consumer: d.ConsumerID, AtMs: d.Start}
		for _, m := range d.MeasuredUsage {
			switch m.Measure {
			case "current_instance_memory":
				s.Memory = m.Quantity
			case "current_running_instances", "current_instances":
				s.Instances = m.Quantity
			}
		}
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b cfrecon.Step) int {
		if a.Resource+a.Instance != b.Resource+b.Instance {
			return map[bool]int{true: -1, false: 1}[a.Resource+a.Instance < b.Resource+b.Instance]
		}
		return int(a.AtMs - b.AtMs)
	})
	return out
}

// rows are a day's entries as stored.
func rows(u DayUsage) []cfrecon.Row {
	var out []cfrecon.Row
	for _, a := range u.Apps {
		out = append(out, cfrecon.Row{Kind: cfrecon.KindApp, Space: a.Space, App: a.App, Process: a.Process, Instances: a.Instances, Memory: a.Memory, Seconds: a.Seconds})
	}
	for _, k := range u.Tasks {
		out = append(out, cfrecon.Row{Kind: cfrecon.KindTask, Space: k.Space, App: k.App, Instances: k.Count, Memory: k.Memory, Seconds: k.Seconds})
	}
	for _, s := range u.Services {
		out = append(out, cfrecon.Row{Kind: cfrecon.KindService, Space: s.Space, ServiceInstance: s.Instance, InstanceType: s.InstanceType, Plan: s.Plan, Seconds: s.Seconds})
	}
	return out
}

// The simulator's Usage Service against the poller's own documents of the same script, over
// three days from each test instant (month and year ends): the Usage Service loop
// reads each closed day of each organization once; the honest organization reconciles to
// zero every day (an app started at a fraction of a second, scaled, restaged and stopped two
// days later; a task; a service moved to another plan, renamed and deleted), the skewed one shows
// exactly the injected 90 seconds on each entry (an app, a task over midnight, both 256 MB).
func TestUsageServiceReconcilesWithTheDocuments(t *testing.T) {
	for _, t0 := range instants {
		at := func(d time.Duration) time.Time { return t0.Add(d) }
		sc := cfsim.Script{Actions: []cfsim.Action{
			{At: at(10*time.Minute + 400*time.Millisecond), Kind: "start", Org: "o1", Space: "s1", App: "a1", MemoryMB: 512, Instances: 2},
			{At: at(time.Hour), Kind: "create_service", Org: "o1", Space: "s1", Instance: "db1", Plan: "small", Name: "db"},
			{At: at(2 * time.Hour), Kind: "start", Org: "o2", Space: "s2", App: "b1", MemoryMB: 256, Instances: 1},
			{At: at(150 * time.Minute), Kind: "task", Org: "o1", Space: "s1", App: "a1", Task: "t1", MemoryMB: 512, Duration: 45 * time.Minute},
			{At: at(3 * time.Hour), Kind: "task", Org: "o2", Space: "s2", App: "b1", Task: "t2", MemoryMB: 256, Duration: 20 * time.Hour},
			{At: at(3 * time.Hour), Kind: "scale", App: "a1", Instances: 3},
			{At: at(4 * time.Hour), Kind: "restage", App: "a1"},
			{At: at(5 * time.Hour), Kind: "update_service", Instance: "db1", Plan: "large"},
			{At: at(6 * time.Hour), Kind: "update_service", Instance: "db1", Name: "db-renamed"},
			{At: at(28 * time.Hour), Kind: "delete_service", Instance: "db1"},
			{At: at(30 * time.Hour), Kind: "stop", App: "a1"},
			{At: at(50 * time.Hour), Kind: "stop", App: "b1"},
		}, UsageSkew: map[string]time.Duration{"o2": 90 * time.Second}}
		f := newFoundation(t, t0, sc, cfsim.Client)
		var docs []usage.Document
		for f.clk.Now().Before(at(78 * time.Hour)) {
			ds, _ := f.poll(t)
			docs = append(docs, ds...)
			f.clk.Advance(20 * time.Minute)
		}
		stored := map[OrgDay]DayUsage{}
		l := &UsageLoop{Provider: f.p, URL: cfsim.UsageURL(f.p.cfg.API), Clock: f.clk, Lag: 10 * time.Minute, Days: 4, Log: zap.NewNop(),
			Stored: func(_ context.Context, days []time.Time) (map[OrgDay]bool, error) {
				out := map[OrgDay]bool{}
				for k := range stored {
					out[k] = slices.ContainsFunc(days, k.Day.Equal)
				}
				return out, nil
			},
			Write: func(_ context.Context, u DayUsage, _ time.Time) error {
				stored[OrgDay{u.Organization, u.Day}] = u
				return nil
			}}
		n, err := l.Round(context.Background())
		if err != nil || n != 8 {
			t.Fatalf("%v: first round stored %d organization days (%v), want 2 × 4", t0, n, err)
		}
		if n, err := l.Round(context.Background()); err != nil || n != 0 {
			t.Fatalf("%v: a second round read %d days again (%v)", t0, n, err)
		}
		days, tasks := map[string]int{}, map[string]int{}
		for k, u := range stored {
			from := u.Day
			lines, diff, _ := cfrecon.Reconcile(rows(u), steps(docs, k.Organization), from, from.AddDate(0, 0, 1))
			apps := lines.Apps
			days[k.Organization] += len(lines.Apps) + len(lines.Services)
			tasks[k.Organization] += len(lines.Tasks)
			switch k.Organization {
			case "o1":
				if len(diff.Apps)+len(diff.Tasks)+len(diff.Services) != 0 {
					t.Errorf("%v: honest o1 on %s differs: %+v", t0, from.Format(time.DateOnly), diff)
				}
			case "o2":
				for _, a := range append(apps, lines.Tasks...) {
					if !a.Difference.InstanceHours.Equal(decimal.RequireFromString("0.025")) || !a.Difference.MemoryGBHours.Equal(decimal.RequireFromString("0.00625")) {
						t.Errorf("%v: skewed o2 on %s: %+v, want 90 s × 256 MB more", t0, from.Format(time.DateOnly), a)
					}
				}
			}
		}
		// a1 and db1 (on two plans the first day) over 2 or 3 days, b1 over 3 or 4.
		if days["o1"] < 5 || days["o2"] < 3 || tasks["o1"] < 1 || tasks["o2"] < 1 {
			t.Errorf("%v: lines per organization %v, task lines %v", t0, days, tasks)
		}
	}
}

// The recorded answers of the Usage Service (../shared/upstream-samples/cf-usage-service,
// copied to testdata: app, service and task usages) decode, integer and fractional durations
// exactly; an answer of another
// organization and a bad entry are refused, naming the problem.
func TestUsageDayDecodesTheSamples(t *testing.T) {
	apps, err1 := os.ReadFile("testdata/org_app_usages.pcf-docs.json")
	svcs, err2 := os.ReadFile("testdata/org_service_usages.pcf-docs.json")
	tasks, err3 := os.ReadFile("testdata/org_task_usages.pcf-docs.json")
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatal(err1, err2, err3)
	}
	const org = "88e485fa-2222-4993-8ef5-bac3711adfee" // the app sample's; the service sample's is another
	body := map[string][]byte{"/organizations/" + org + "/app_usages": apps, "/organizations/" + org + "/service_usages": []byte(`{"service_usages":[]}`),
		"/organizations/" + org + "/task_usages": []byte(strings.Replace(string(tasks), "8f88362f-547c-4158-808b-4605468387d5", org, 1))}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("start") != "2019-01-16" || r.URL.Query().Get("end") != "2019-01-16" {
			w.WriteHeader(http.StatusBadRequest)
		}
		_, _ = w.Write(body[r.URL.Path])
	}))
	defer srv.Close()
	p := New(Config{API: srv.URL, Client: &poller.Client{HTTP: srv.Client()}})
	day := time.Date(2019, 1, 16, 0, 0, 0, 0, time.UTC)
	u, err := p.UsageDay(context.Background(), srv.URL, org, day)
	if err != nil || len(u.Apps) != 2 || u.Apps[0].App != "1afc2b20-dd41-4ba4-8e6e-c894b5a2cb23" || u.Apps[0].Seconds.String() != "172800" ||
		u.Apps[1].Memory != 1024 || u.Apps[1].Instances != 1 || u.Apps[1].SpaceName != "development" || len(u.Services) != 0 {
		t.Fatalf("%+v %v", u, err)
	}
	// The task summaries, by space guid.
	if len(u.Tasks) != 2 || u.Tasks[0].App != "d941b689-4a27-44ec-91d3-1f97434dbed9" || u.Tasks[0].Count != 14 || u.Tasks[0].Seconds.String() != "20583" ||
		u.Tasks[1].Memory != 256 || u.Tasks[1].Count != 54084 || u.Tasks[1].Seconds.String() != "37651415" || u.Tasks[1].SpaceName != "smoketest" {
		t.Fatalf("tasks %+v", u.Tasks)
	}
	body["/organizations/"+org+"/service_usages"] = svcs
	if _, err := p.UsageDay(context.Background(), srv.URL, org, day); err == nil || !strings.Contains(err.Error(), "8d83362f-587a-4148-806b-4407428887b5") {
		t.Fatalf("an answer of another organization: %v", err)
	}
	body["/organizations/"+org+"/service_usages"] = []byte(strings.Replace(string(svcs), "8d83362f-587a-4148-806b-4407428887b5", org, 1))
	if u, err = p.UsageDay(context.Background(), srv.URL, org, day); err != nil || len(u.Services) != 1 || u.Services[0].Seconds.String() != "1377982.52" ||
		u.Services[0].Plan != "70915a70-7311-4f3e-ab0d-4a7dfd3ef2d9" || u.Services[0].InstanceType != "managed_service_instance" {
		t.Fatalf("%+v %v", u, err)
	}
	body["/organizations/"+org+"/app_usages"] = []byte(`{"app_usages":[{"app_guid":"p1","instance_count":-1,"memory_in_mb_per_instance":1.5,"duration_in_seconds":1}]}`)
	_, err = p.UsageDay(context.Background(), srv.URL, org, day)
	if err == nil || poller.KindOf(err) != poller.KindUndecodable || !strings.Contains(err.Error(), "instance_count") || !strings.Contains(err.Error(), "memory_in_mb_per_instance") {
		t.Fatalf("a bad entry: %v", err)
	}
}
