package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMeteringIntoClickHouse posts the three object storage documents of Abacus' test to
// meterline dev (real broker) and reads the window cells the processor rated back from
// usage_cells: storage 1, 3 thousand light calls, 300 heavy calls, charges adding up to 46.09,
// each counted once although one document is posted twice.
func TestMeteringIntoClickHouse(t *testing.T) {
	s := newStack(t)
	dev := s.start([]string{"dev"})
	now := s.nowMs()
	for i := range 3 {
		end := now - int64(i+1)*1000
		doc := fmt.Sprintf(`{"start":%d,"end":%d,"organization_id":"org-os","space_id":"space","consumer_id":"app:1",
"resource_id":"object-storage","plan_id":"basic","resource_instance_id":"instance-1","measured_usage":[
{"measure":"storage","quantity":1073741824},{"measure":"light_api_calls","quantity":1000},{"measure":"heavy_api_calls","quantity":100}]}`, end, end)
		if r := post(t, dev, doc); r.status != http.StatusCreated {
			t.Fatalf("POST %d: %d %s", i, r.status, r.body)
		}
		if i == 0 {
			if r := post(t, dev, doc); r.status != http.StatusConflict {
				t.Fatalf("second POST: %d", r.status)
			}
		}
	}
	query := `SELECT metric, toString(argMax(quantity, processed_ms)), toString(argMax(cost, processed_ms))
FROM ` + s.database + `.usage_cells
WHERE organization_id = 'org-os' AND scope = 'organization' AND level = 'month' AND plan != ''
GROUP BY metric ORDER BY metric`
	want := "heavy_api_calls=300/45 storage=1/1 thousand_light_api_calls=3/0.09"
	deadline := time.Now().Add(60 * time.Second)
	for {
		rows, err := s.ch.Query(t.Context(), query)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for rows.Next() {
			var metric string
			var q, c *string
			if err := rows.Scan(&metric, &q, &c); err != nil {
				t.Fatal(err)
			}
			if got != "" {
				got += " "
			}
			got += metric + "=" + trim(q) + "/" + trim(c)
		}
		rows.Close()
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("monthly organization cells: %q, want %q", got, want)
		}
		time.Sleep(300 * time.Millisecond)
	}

	// A document older than the slack is accepted by the collector, rejected by the
	// processor, and its GET then says so and why.
	end := now - 3*24*3600*1000
	late := fmt.Sprintf(`{"start":%d,"end":%d,"organization_id":"org-os","space_id":"space","resource_id":"object-storage",
"plan_id":"basic","resource_instance_id":"instance-1","measured_usage":[{"measure":"storage","quantity":1}]}`, end, end)
	r := post(t, dev, late)
	if r.status != http.StatusCreated {
		t.Fatalf("POST of a late document: %d %s", r.status, r.body)
	}
	loc := r.header.Get("Location")
	deadline = time.Now().Add(60 * time.Second)
	for {
		g := do(t, http.MethodGet, loc, "", nil)
		if g.status == http.StatusOK && g.header.Get("Meterline-Rejected") == "too_late" {
			body := g.json(t)
			rej, _ := body["rejected"].(map[string]any)
			if rej == nil || !strings.Contains(fmt.Sprint(rej["reason"]), "slack") || body["organization_id"] != "org-os" {
				t.Errorf("GET of a rejected document: %s, want the document and why", g.body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET of a late document never said it was rejected: %d %v %s", g.status, g.header, g.body)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// trim renders a Decimal(38, 12) string without trailing zeros.
func trim(s *string) string {
	if s == nil {
		return "null"
	}
	v := *s
	for len(v) > 0 && v[len(v)-1] == '0' && strings.Contains(v, ".") {
		v = v[:len(v)-1]
	}
	if len(v) > 0 && v[len(v)-1] == '.' {
		v = v[:len(v)-1]
	}
	return v
}
