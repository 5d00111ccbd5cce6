package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// ebState and ebInstance are the ElasticBox simulator's script format (ebsim).
type ebState struct {
	State   string    `json:"state"`
	Started time.Time `json:"started"`
}

type ebInstance struct {
	ID           string     `json:"id"`
	Organization string     `json:"organization"`
	ProviderID   string     `json:"provider_id"`
	Flavor       string     `json:"flavor"`
	Location     string     `json:"location"`
	Type         string     `json:"type"`
	CPU          int64      `json:"cpu"`
	MemoryGiB    int64      `json:"memory_gib"`
	DiskGB       int64      `json:"disk_gb"`
	Created      time.Time  `json:"created"`
	Deleted      *time.Time `json:"deleted,omitempty"`
	CentsPerHour int64      `json:"cents_per_hour"`
	History      []ebState  `json:"state_history"`
}

var ebOrgs = []string{"e2e-eb-a", "e2e-eb-b"}

// ebFleet scripts instances going up and down, at random microseconds, from four days before
// first to the end of now's day; some deleted.
func ebFleet(rng *rand.Rand, first, now time.Time) []ebInstance {
	var out []ebInstance
	for i := range 9 {
		created := first.Add(-2*24*time.Hour + time.Duration(rng.Int64N(int64(5*24*time.Hour)))).Truncate(time.Microsecond)
		in := ebInstance{ID: fmt.Sprintf("eb-e2e%02d", i), Organization: ebOrgs[i%len(ebOrgs)], ProviderID: "prov-" + strconv.Itoa(i%3),
			Flavor: "m1.small", Location: "us-east-1", Type: "Linux Compute", CPU: 1, MemoryGiB: 2, DiskGB: 20, Created: created,
			CentsPerHour: 1 + rng.Int64N(200)}
		t, up := created.Add(time.Duration(rng.Int64N(int64(time.Hour)))).Truncate(time.Microsecond), true
		for t.Before(now) && len(in.History) < 12 {
			st := "down"
			if up {
				st = "up"
			}
			in.History = append(in.History, ebState{State: st, Started: t})
			t, up = t.Add(time.Duration(time.Hour+time.Duration(rng.Int64N(int64(30*time.Hour))))).Truncate(time.Microsecond), !up
		}
		if rng.IntN(3) == 0 && t.Before(now) {
			in.Deleted = &t
		}
		out = append(out, in)
	}
	return out
}

// ebUp returns the microseconds in was up in [from, to).
func ebUp(in ebInstance, from, to time.Time) int64 {
	var up int64
	for i, h := range in.History {
		if h.State != "up" {
			continue
		}
		end := to
		if i+1 < len(in.History) {
			end = in.History[i+1].Started
		} else if in.Deleted != nil {
			end = *in.Deleted
		}
		a, b := max(h.Started.UnixMicro(), from.UnixMicro()), min(end.UnixMicro(), to.UnixMicro())
		if b > a {
			up += b - a
		}
	}
	return up
}

// ebTruth computes the documents of the days first..last (broken: the days read from the CSV,
// without up-time) and the organization cells at the plan level: cost in dollars (the cents
// of the up-time at the instance's rate, rounded down, per day) and up hours (24 places per
// document, summed, rounded once to 12); a cost cell's charge is its cost.
func ebTruth(fleet []ebInstance, first, last time.Time, broken map[string]bool) (docs int, cells map[novaCell]decimal.Decimal) {
	cells = map[novaCell]decimal.Decimal{}
	for _, in := range fleet {
		for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
			up := ebUp(in, d, d.AddDate(0, 0, 1))
			cents := up * in.CentsPerHour / int64(time.Hour/time.Microsecond)
			csv := broken[d.Format("2006-01-02")]
			if cents == 0 && (csv || up == 0) {
				continue
			}
			docs++
			month := time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
			vals := map[string]decimal.Decimal{"cost": decimal.New(cents, -2)}
			if !csv {
				vals["up_hours"] = decimal.New(up, -6).DivRound(decimal.NewFromInt(3600), 24)
			}
			for metric, q := range vals {
				for level, at := range map[string]time.Time{"day": d, "month": month} {
					k := novaCell{in.Organization, "standard", metric, level, at.UnixMilli()}
					cells[k] = cells[k].Add(q)
				}
			}
		}
	}
	for k, q := range cells {
		cells[k] = q.RoundBank(12)
	}
	return docs, cells
}

// TestElasticBoxPollerCrashes runs the ElasticBox simulator (a scripted fleet over a month's
// end, with 429s, 5xx, slow answers and a day whose JSON report is broken, so that the CSV is
// read), the ElasticBox poller as its own process, SIGKILLed at random moments and started
// again, and Meterline (dev on the real broker and ClickHouse); then every document is in
// usage_events once, with its instance's metadata record of the day in provider_metadata
// (each record written once), and the organizations' cells and usage reports equal the ground truth
// computed from the script, to the last decimal.
func TestElasticBoxPollerCrashes(t *testing.T) {
	rng := crashRand(t, 0x6562)
	// Two days after a month's end: the days read are June 28 to July 1.
	s := newStackAt(t, time.Date(2026, 7, 2, 12, 0, 0, 0, time.UTC))
	now := s.now()
	first, last := time.Date(2026, 6, 28, 0, 0, 0, 0, time.UTC), time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	fleet := ebFleet(rng, first, now)
	broken := map[string]bool{"2026-06-30": true}
	scriptFile := writeScript(t, map[string]any{
		"token": "e2e-token", "organizations": append(ebOrgs, "e2e-eb-empty"), "instances": fleet,
		"faults": map[string]any{"rate_limit_every": 7, "retry_after": 1, "server_error_every": 5, "slow_every": 4, "slow": "300ms",
			"broken_json_days": []string{"2026-06-30"}},
	})
	wantDocs, cells := ebTruth(fleet, first, last, broken)

	const slack = "METERLINE_SLACK=120h" // four days back, so that the first day read is not too late
	dev := s.start([]string{"dev"}, "METERLINE_REPORT_SLOTS=1,1,1,3,2", slack)
	sim := s.start([]string{"sim", "elasticbox"}, "METERLINE_EBSIM_SCRIPT="+scriptFile)
	pollerEnv := []string{
		"METERLINE_ELASTICBOX_URL=http://" + sim.addr, "METERLINE_ELASTICBOX_TOKEN=e2e-token",
		"METERLINE_ELASTICBOX_ORGANIZATIONS=e2e-eb-a,e2e-eb-b,e2e-eb-empty", slack,
		"METERLINE_POLL_START=" + first.Format(time.RFC3339), "METERLINE_POLL_LAG=10m", "METERLINE_POLL_INTERVAL=1s",
		"METERLINE_POLL_TIMEOUT=5s", "METERLINE_POLL_BACKOFF_MAX=5s", "METERLINE_LOG_LEVEL=info",
	}
	source := "poller:elasticbox/" + sim.addr
	poller := killPoller(t, s, rng, []string{"poller", "elasticbox"}, pollerEnv, 5, 3*time.Second)
	t.Logf("want %d documents of %d days", wantDocs, int(last.Sub(first)/(24*time.Hour))+1)
	waitPolled(t, s, poller, source, wantDocs, 24*3600, 2*time.Minute)
	checkStoredOnce(t, s, wantDocs)
	logPollerErrors(t, poller, source, "rate_limited", "server", "timeout")
	// The metadata records came in the documents' transactions: each written once (no merge
	// needed), and every document's instance has its record of the document's day.
	var records, distinct, orphans uint64
	db := s.database
	waitFor(t, "the metadata records of the documents", func() (bool, string) {
		if err := s.ch.QueryRow(context.Background(), `SELECT count() FROM `+db+`.usage_events WHERE resource_id = 'elasticbox'
  AND (resource_instance_id, start_ms) NOT IN (SELECT id, valid_from_ms FROM `+db+`.provider_metadata WHERE provider = 'elasticbox')`).
			Scan(&orphans); err != nil {
			t.Fatal(err)
		}
		return orphans == 0, fmt.Sprintf("%d documents without their record", orphans)
	})
	if err := s.ch.QueryRow(context.Background(), `SELECT count(), uniqExact(provider, kind, id, valid_from_ms, source) FROM `+db+
		`.provider_metadata`).Scan(&records, &distinct); err != nil {
		t.Fatal(err)
	}
	if records == 0 || records != distinct {
		t.Errorf("provider_metadata holds %d records (%d distinct), want each once", records, distinct)
	}
	t.Logf("%d metadata records once each, one for every document's instance and day", records)

	asOf := s.nowMs()
	costs := map[orgCell]decimal.Decimal{} // a cost cell's charge is its cost
	for k, q := range cells {
		if k.metric == "cost" {
			costs[k] = q
		}
	}
	waitOrgCells(t, s, asOf, cells, costs)
	// The usage summary report of each organization, month level: slot 0 July, slot 1 June.
	for k, want := range cells {
		if k.level != "month" {
			continue
		}
		slot := monthsBack(k.from, s.now())
		w, found := reportWindow(t, reportMetrics(t, orgReport(t, dev, k.org, asOf), "", ""), k.metric, 4, slot)
		if !found {
			t.Errorf("report of %s has no %s", k.org, k.metric)
			continue
		}
		if q := windowDecimal(t, w, "quantity"); !q.Equal(want) {
			t.Errorf("report of %s: %s month %d quantity %s, want %s", k.org, k.metric, slot, q, want)
		}
	}
	if !t.Failed() {
		t.Logf("%d documents once each; %d organization cells and the month reports equal the ground truth", wantDocs, len(cells))
	}
}
