package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestAcceptance runs the figures of ../shared/abacus-plans/README.md and the time rules of
// the metering pipeline through meterline dev on the real broker and ClickHouse, reading
// them back from the usage summary report:
//   - object storage across instances: 4 instances x 4 documents give storage 4 (max per
//     instance, summed), 16 thousand light calls and 1600 heavy calls;
//   - duplicates: the same document again is refused (409) and counted once; the same
//     content with a dedup_id is another document and counts;
//   - linux container memory: 2 GB for a whole day is 48 GB-hours; an app started at noon on
//     the last day of a month has 24 GB-hours in that day and month, and none of it leaks into
//     the next month, whose usage starts from the document submitted at its start;
//   - late usage within the slack lands in its own (past) day; beyond the slack it is
//     rejected as too late and a GET of it says so.
//
// The slack is 100 days here (METERLINE_SLACK) so that last month's boundary can be crossed
// with usage processed today, and the reports show 100 days and 4 months. The stack's clock
// starts 30 seconds into the first of a month, so the object storage documents (a second
// old) and their reports sit just after a month boundary.
func TestAcceptance(t *testing.T) {
	s := newStackAt(t, time.Date(2026, 3, 1, 0, 0, 30, 0, time.UTC))
	dev := s.start([]string{"dev"}, "METERLINE_SLACK=2400h", "METERLINE_REPORT_SLOTS=1,1,1,100,4")
	now := s.now()
	nowMs := now.UnixMilli()
	mustPost := func(doc string) string {
		t.Helper()
		r := post(t, dev, doc)
		if r.status != http.StatusCreated {
			t.Fatalf("POST: %d %s\n%s", r.status, r.body, doc)
		}
		return r.header.Get("Location")
	}

	// Object storage across instances, with duplicates.
	for i := range 4 {
		for j := range 4 {
			mustPost(objectDoc("multi", fmt.Sprintf("instance-%d", i), nowMs-int64(1000+i*10+j)))
		}
	}
	dup := objectDoc("dups", "instance-1", nowMs-1000)
	mustPost(dup)
	if r := post(t, dev, dup); r.status != http.StatusConflict {
		t.Errorf("the same document again: %d %s, want 409", r.status, r.body)
	}
	mustPost(strings.Replace(dup, `"resource_id"`, `"dedup_id":"second","resource_id"`, 1))

	// Linux container memory. month is the start of last month (so that every document is in
	// the past, whatever today is); the app of "boundary" starts at noon on the last day of the
	// month before it, runs into it, where a document at the month's start restarts its count,
	// and stops at noon on the month's first day.
	month := time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, time.UTC)
	wholeDay := month.AddDate(0, 0, -5)
	mustPost(memoryDoc("linux-day", wholeDay, 2, 1, 0, 0))
	mustPost(memoryDoc("linux-day", wholeDay.AddDate(0, 0, 1), 0, 0, 2, 1)) // stopped after a day: carried no further
	lastNoon := month.Add(-12 * time.Hour)
	mustPost(memoryDoc("linux-boundary", lastNoon, 2, 1, 0, 0))
	// No document at the month's start: the processor carries the running app into the new
	// day and month (a renewer's re-post there would now count it twice).
	mustPost(memoryDoc("linux-boundary", month.Add(12*time.Hour), 0, 0, 2, 1))

	// Late usage beyond the slack.
	tooLate := mustPost(objectDoc("late", "instance-1", nowMs-101*24*3600*1000))

	report := func(org string) map[string]any {
		var rep map[string]any
		waitFor(t, "the report of "+org, func() (bool, string) {
			r := do(t, http.MethodGet, "http://"+dev.addr+"/v1/metering/organizations/"+url.PathEscape(org)+"/aggregated/usage", "", nil)
			if r.status != http.StatusOK {
				return false, fmt.Sprintf("%d %s", r.status, r.body)
			}
			rep = r.json(t)
			return true, ""
		})
		return rep
	}
	// quantities waits until the organization's month slot 0 quantities read want.
	quantities := func(org, want string) {
		t.Helper()
		waitFor(t, org+" quantities "+want, func() (bool, string) {
			rep := report(org)
			var got []string
			for _, m := range path(t, rep, "resources", 0, "aggregated_usage").([]any) {
				got = append(got, fmt.Sprint(path(t, m, "metric"), "=", path(t, m, "windows", 4, 0, "quantity")))
			}
			return strings.Join(got, " ") == want, strings.Join(got, " ")
		})
	}
	quantities("multi", "storage=4 thousand_light_api_calls=16 heavy_api_calls=1600")
	quantities("dups", "storage=1 thousand_light_api_calls=2 heavy_api_calls=200")

	// summary returns the memory summary (GB-hours) of org at a level and slot.
	summary := func(org string, level, slot int) string {
		rep := report(org)
		w := path(t, rep, "resources", 0, "aggregated_usage", 0, "windows", level, slot)
		if w == nil {
			return "none"
		}
		b, _ := json.Marshal(path(t, w, "summary"))
		return string(b)
	}
	today := now.Truncate(24 * time.Hour)
	daySlot := func(d time.Time) int { return int(today.Sub(d.Truncate(24*time.Hour)) / (24 * time.Hour)) }
	waitFor(t, "linux-boundary's usage", func() (bool, string) {
		got := summary("linux-boundary", 3, daySlot(month))
		return got == "24", got
	})
	for _, c := range []struct {
		org         string
		level, slot int
		want        string
	}{
		{"linux-day", 3, daySlot(wholeDay), "48"},
		{"linux-day", 3, daySlot(wholeDay) - 1, "0"}, // carried, then stopped at its start
		{"linux-boundary", 3, daySlot(lastNoon), "24"},
		{"linux-boundary", 3, daySlot(month), "24"},
		{"linux-boundary", 4, 2, "24"}, // the month before: noon to midnight of its last day
		{"linux-boundary", 4, 1, "24"}, // last month: midnight to noon of its first day
	} {
		if got := summary(c.org, c.level, c.slot); got != c.want {
			t.Errorf("%s memory GB-hours at level %d slot %d = %s, want %s", c.org, c.level, c.slot, got, c.want)
		}
	}

	// Beyond the slack: rejected, and the GET says why.
	waitFor(t, "the too-late document's rejection", func() (bool, string) {
		g := do(t, http.MethodGet, tooLate, "", nil)
		return g.header.Get("Meterline-Rejected") == "too_late", fmt.Sprintf("%d %v %s", g.status, g.header, g.body)
	})
	if r := do(t, http.MethodGet, "http://"+dev.addr+"/v1/metering/organizations/late/aggregated/usage", "", nil); r.status != http.StatusNotFound {
		t.Errorf("report of an organization whose only usage was too late: %d %s, want 404", r.status, r.body)
	}
}

// memoryDoc is a linux container document of org's app at t: memory GB x instances now
// (current) and before (previous).
func memoryDoc(org string, at time.Time, gb, instances, prevGB, prevInstances int64) string {
	ms := at.UnixMilli()
	const gib = 1073741824
	return fmt.Sprintf(`{"start":%d,"end":%d,"organization_id":%q,"space_id":"space-1","consumer_id":"app:linux",
"resource_id":"linux-container","plan_id":"basic","resource_instance_id":"app:linux","measured_usage":[
{"measure":"current_instance_memory","quantity":%d},{"measure":"current_running_instances","quantity":%d},
{"measure":"previous_instance_memory","quantity":%d},{"measure":"previous_running_instances","quantity":%d}]}`,
		ms, ms, org, gb*gib, instances, prevGB*gib, prevInstances)
}
