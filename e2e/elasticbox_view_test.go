package e2e

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// TestElasticBoxView: the ElasticBox simulator's fleet read by the ElasticBox poller (one
// day from the CSV, its JSON broken), and an instance's documents posted through the
// collector, through the real broker into ClickHouse, over a year's end; then Meterline's
// ElasticBox view answers the JSON and the CSV report, and every instance's cost of every day
// equals the ground truth computed from the script (cents of the up-time at its rate, rounded
// down per day), the posted half cents once rounded; the details and state history come from
// the metadata records the poller publishes with its documents (provider_metadata), the
// posted instance has none; a wrong date is 400 and an unknown organization 404.
func TestElasticBoxView(t *testing.T) {
	s := newStackAt(t, time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC))
	now := s.now()
	first, last := time.Date(2025, 12, 30, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fleet := ebFleet(rand.New(rand.NewPCG(11, 0x6562)), first, now)
	const brokenDay = "2025-12-31"
	b, err := json.Marshal(map[string]any{"token": "e2e-token", "organizations": append(ebOrgs, "e2e-eb-empty"), "instances": fleet,
		"faults": map[string]any{"broken_json_days": []string{brokenDay}}})
	if err != nil {
		t.Fatal(err)
	}
	scriptFile := filepath.Join(t.TempDir(), "fleet.json")
	if err := os.WriteFile(scriptFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	wantDocs, _ := ebTruth(fleet, first, last, map[string]bool{brokenDay: true})
	// truth: organization → instance → the cents of each day first..last.
	truth := map[string]map[string][]int64{}
	for _, in := range fleet {
		costs, listed := make([]int64, 0, 3), false
		for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
			up := ebUp(in, d, d.AddDate(0, 0, 1))
			c := up * in.CentsPerHour / int64(time.Hour/time.Microsecond)
			costs = append(costs, c)
			listed = listed || c > 0 || (up > 0 && d.Format("2006-01-02") != brokenDay)
		}
		if listed {
			if truth[in.Organization] == nil {
				truth[in.Organization] = map[string][]int64{}
			}
			truth[in.Organization][in.ID] = costs
		}
	}
	// The posted instance: two documents of half a cent on the broken day (1 cent, rounded
	// once), with a measure a client may add: stored with the document, no detail of the view.
	truth[ebOrgs[0]]["eb-posted"] = []int64{0, 1, 0}

	const slack = "METERLINE_SLACK=120h"
	dev := s.start([]string{"dev"}, slack)
	sim := s.start([]string{"sim", "elasticbox"}, "METERLINE_EBSIM_SCRIPT="+scriptFile)
	s.start([]string{"poller", "elasticbox"},
		"METERLINE_ELASTICBOX_URL=http://"+sim.addr, "METERLINE_ELASTICBOX_TOKEN=e2e-token",
		"METERLINE_ELASTICBOX_ORGANIZATIONS=e2e-eb-a,e2e-eb-b,e2e-eb-empty", slack,
		"METERLINE_POLL_START="+first.Format(time.RFC3339), "METERLINE_POLL_LAG=10m", "METERLINE_POLL_INTERVAL=1s")
	day := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	for i := range 2 {
		r := post(t, dev, fmt.Sprintf(`{"start":%d,"end":%d,"organization_id":%q,"space_id":"prov-posted","resource_id":"elasticbox","plan_id":"standard",
"resource_instance_id":"eb-posted","dedup_id":"posted-%d","measured_usage":[{"measure":"cost","quantity":0.005},
{"measure":"eb_size","quantity":0}]}`,
			day.Add(time.Duration(i)*time.Hour).UnixMilli(), day.Add(time.Duration(i+1)*time.Hour).UnixMilli(), ebOrgs[0], i))
		if r.status != http.StatusCreated && r.status != http.StatusAccepted {
			t.Fatalf("post: %d %s", r.status, r.body)
		}
	}
	s.waitCount(uint64(wantDocs+2), "")

	base := "http://" + dev.addr + "/services/organizations/"
	period := "/" + first.Format("2006-01-02") + "/" + last.Format("2006-01-02")
	for _, org := range ebOrgs {
		// The view reads what is stored; the processor's rejections come a moment after the
		// raw sink's rows, so the totals are awaited (none is rejected: they equal at once).
		var got map[string][]int64
		var rep struct {
			Cost []struct {
				Cost    []int64 `json:"cost"`
				Service struct {
					ID           string `json:"id"`
					Organization string `json:"organization"`
					ProviderID   string `json:"provider_id"`
					Profile      struct {
						Flavor   string `json:"flavor"`
						Location string `json:"location"`
					} `json:"profile"`
					StateHistory []struct {
						Started, State, Completed string
					} `json:"state_history"`
				} `json:"service"`
			} `json:"cost"`
		}
		waitFor(t, "the ElasticBox report of "+org, func() (bool, string) {
			r := do(t, http.MethodGet, base+org+"/report"+period, "", nil)
			if r.status != http.StatusOK {
				return false, fmt.Sprintf("%d %s", r.status, r.body)
			}
			if err := json.Unmarshal(r.body, &rep); err != nil {
				t.Fatal(err)
			}
			got = map[string][]int64{}
			var missing []string // polled instances whose details are not stored yet
			for _, e := range rep.Cost {
				got[e.Service.ID] = e.Cost
				if e.Service.ID != "eb-posted" && e.Service.Profile.Flavor == "" {
					missing = append(missing, e.Service.ID)
				}
			}
			return fmt.Sprint(got) == fmt.Sprint(truth[org]) && len(missing) == 0,
				fmt.Sprintf("costs %v, want %v; no details yet of %v", got, truth[org], missing)
		})
		for _, e := range rep.Cost {
			sv := e.Service
			if sv.Organization != org || sv.ProviderID == "" {
				t.Errorf("%s: service %+v", sv.ID, sv)
			}
			if sv.ID == "eb-posted" {
				if sv.Profile.Flavor != "" || sv.Profile.Location != "" || sv.ProviderID != "prov-posted" {
					t.Errorf("posted instance's details %+v", sv)
				}
				continue
			}
			in := fleet[slices.IndexFunc(fleet, func(i ebInstance) bool { return i.ID == sv.ID })]
			if sv.Profile.Flavor != in.Flavor || sv.Profile.Location != in.Location || sv.ProviderID != in.ProviderID {
				t.Errorf("%s: details %+v, want %s %s %s", sv.ID, sv, in.Flavor, in.Location, in.ProviderID)
			}
			for _, h := range sv.StateHistory {
				if !slices.ContainsFunc(in.History, func(st ebState) bool {
					return st.State == h.State && st.Started.UTC().Format("2006-01-02 15:04:05.000000") == h.Started
				}) {
					t.Errorf("%s: state %+v is not in the script", sv.ID, h)
				}
			}
		}
		// The CSV: one row per instance and day, the same costs; every row of a polled
		// instance fills all 21 columns (the sizes from the CSV the poller reads beside the
		// JSON, or instead of it).
		// The last days' metadata records may be written a moment after the rest: awaited.
		var rows [][]string
		waitFor(t, "the ElasticBox CSV of "+org, func() (bool, string) {
			r := do(t, http.MethodGet, base+org+"/csv"+period, "", nil)
			if r.status != http.StatusOK {
				t.Fatalf("CSV of %s: %d %s", org, r.status, r.body)
			}
			var err error
			if rows, err = csv.NewReader(strings.NewReader(string(r.body))).ReadAll(); err != nil {
				t.Fatal(err)
			}
			for _, row := range rows[1:] {
				if row[0] != "eb-posted" && slices.Contains(row, "") {
					return false, fmt.Sprintf("a row of a polled instance with an empty column: %v", row)
				}
			}
			return true, ""
		})
		if len(rows) != 1+3*len(truth[org]) || len(rows[0]) != 21 {
			t.Fatalf("CSV of %s: %d rows, header %v", org, len(rows), rows[0])
		}
		var csvTotal, jsonTotal decimal.Decimal
		for _, row := range rows[1:] {
			csvTotal = csvTotal.Add(decimal.RequireFromString(row[9]))
			if row[0] != "eb-posted" && slices.Contains(row, "") {
				t.Errorf("CSV of %s: a row of a polled instance with an empty column: %v", org, row)
			}
		}
		for _, c := range got {
			for _, v := range c {
				jsonTotal = jsonTotal.Add(decimal.NewFromInt(v))
			}
		}
		if !csvTotal.Equal(jsonTotal) {
			t.Errorf("CSV of %s totals %s cents, the JSON %s", org, csvTotal, jsonTotal)
		}
		t.Logf("%s: %d instances, %s cents over %s, equal to the ground truth", org, len(got), jsonTotal, period)
	}
	for path, want := range map[string]int{
		"e2e-eb-a/report/2025-12-30/2026-1-01": http.StatusBadRequest,
		"e2e-eb-a/csv/yesterday/2026-01-01":    http.StatusBadRequest,
		"e2e-eb-nobody/report" + period:        http.StatusNotFound,
		"e2e-eb-nobody/csv" + period:           http.StatusNotFound,
	} {
		r := do(t, http.MethodGet, base+path, "", nil)
		var body map[string]any
		if r.status != want || json.Unmarshal(r.body, &body) != nil || body["message"] == nil {
			t.Errorf("GET %s: %d %s, want %d with a message", path, r.status, r.body, want)
		}
	}
}
