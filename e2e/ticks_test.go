package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// TestTicksCarryIntoTheNextMonth runs meterline dev (the built binary, the real broker and
// ClickHouse) with its clock two minutes before a month ends, posts one linux container
// document (an application running 2 GB) and no other: the document's stored time plus the
// future tolerance (a minute) is still in January, so only stream time moved on by the
// processor's tick records carries the application into the new month, so usage_cells gets its hour, day
// and month cells of February with no document in them, at the instance and the
// organization, each worth what 2 GB running to the period's end is (2, 48 and 1,344 GB-hours).
func TestTicksCarryIntoTheNextMonth(t *testing.T) {
	s := newStackAt(t, time.Date(2026, 1, 31, 23, 58, 0, 0, time.UTC))
	dev := s.start([]string{"dev"})
	end := s.nowMs() - 1000
	const gib = 1073741824
	doc := fmt.Sprintf(`{"start":%d,"end":%d,"organization_id":"org-ticks","space_id":"space","consumer_id":"app:1",
"resource_id":"linux-container","plan_id":"basic","resource_instance_id":"app-1","measured_usage":[
{"measure":"current_instance_memory","quantity":%d},{"measure":"current_running_instances","quantity":1},
{"measure":"previous_instance_memory","quantity":0},{"measure":"previous_running_instances","quantity":0}]}`, end, end, 2*gib)
	if r := post(t, dev, doc); r.status != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	feb := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	if !time.UnixMilli(end).Add(time.Minute).Before(feb) {
		// Its stored time plus the future tolerance must be in January, or the document itself
		// would carry the application into February, not the ticks.
		t.Fatalf("the document ends at %s, less than the future tolerance before the month's end: the stack started too slowly for the test", time.UnixMilli(end).UTC())
	}
	want := map[string]string{"hour": "2", "day": "48", "month": "1344"}
	query := `SELECT scope, level, period_end_ms, argMax(quantity_json, (processed_ms, kafka_offset))
FROM ` + s.database + `.usage_cells
WHERE organization_id = 'org-ticks' AND metric = 'memory' AND plan != '' AND scope IN ('instance', 'organization')
  AND period_start_ms = ? AND level IN ('hour', 'day', 'month')
GROUP BY scope, level, period_end_ms ORDER BY scope, level`
	deadline := time.Now().Add(3 * time.Minute)
	for {
		got := map[string]string{}
		rows, err := s.ch.Query(t.Context(), query, feb.UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var scope, level, raw string
			var to int64
			if err := rows.Scan(&scope, &level, &to, &raw); err != nil {
				t.Fatal(err)
			}
			got[scope+"/"+level] = gbHoursAtEnd(t, raw, feb.UnixMilli(), to)
		}
		rows.Close()
		ok := len(got) == 2*len(want)
		for _, scope := range []string{"instance", "organization"} {
			for level, w := range want {
				ok = ok && got[scope+"/"+level] == w
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("February's carried cells at %s: %v, want %v at the instance and the organization", s.now(), got, want)
		}
		time.Sleep(time.Second)
	}
}

// gbHoursAtEnd summarizes a time-based cell value (quantity_json: consumed and consuming) at
// its period's end as the linux container plan's summarize formula does:
// (consumed - consuming × (from + to - 2·to)) / 2 / 3600000.
func gbHoursAtEnd(t *testing.T, raw string, from, to int64) string {
	t.Helper()
	// A time-based value as the cell sink writes it: {"fields":{"consumed":{"decimal":"…"},…}}.
	var v struct {
		Fields map[string]struct {
			Decimal string `json:"decimal"`
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatalf("quantity_json %q: %v", raw, err)
	}
	num := func(k string) decimal.Decimal {
		d, err := decimal.NewFromString(v.Fields[k].Decimal)
		if err != nil {
			t.Fatalf("quantity_json %q: %s: %v", raw, k, err)
		}
		return d
	}
	span := decimal.NewFromInt(from - to)
	return num("consumed").Sub(num("consuming").Mul(span)).Div(decimal.NewFromInt(2 * 3600000)).Round(12).String()
}
