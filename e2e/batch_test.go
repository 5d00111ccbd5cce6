package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

// TestDevCollectsBatches posts batches (plain JSON and CloudEvents) to `meterline dev` on the
// real broker and ClickHouse: each document is answered on its own, the new ones land in
// usage_events once, and what a batch repeats (within it or from an earlier one) is not
// stored again.
func TestDevCollectsBatches(t *testing.T) {
	s := newStack(t)
	dev := s.start([]string{"dev"})
	url := "http://" + dev.addr + "/v1/metering/collected/usage/batch"
	docN := func(n int) string {
		return strings.Replace(sample, `"resource_instance_id": "d98b5916-3c77-44b9-ac12-04d61c7a4eae"`,
			fmt.Sprintf(`"resource_instance_id": "batch-%d"`, n), 1)
	}
	counts := func(r response) map[string]float64 {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("batch: %d %s", r.status, r.body)
		}
		b := r.json(t)
		out := map[string]float64{}
		for _, k := range []string{"accepted", "duplicate", "invalid", "unavailable"} {
			out[k], _ = b[k].(float64)
		}
		results, _ := b["results"].([]any)
		out["results"] = float64(len(results))
		return out
	}

	items := make([]string, 0, 32)
	for i := range 30 {
		items = append(items, docN(i))
	}
	items = append(items, docN(3), `{"start": "yesterday"}`)
	got := counts(do(t, http.MethodPost, url, "application/json", []byte("["+strings.Join(items, ",")+"]")))
	if want := map[string]float64{"accepted": 30, "duplicate": 1, "invalid": 1, "unavailable": 0, "results": 32}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("plain batch: %v, want %v", got, want)
	}

	events := make([]string, 0, 15)
	for i := 25; i < 40; i++ {
		events = append(events, fmt.Sprintf(`{"specversion":"1.0","type":"io.meterline.usage.v1","source":"/e2e","id":"ce-%d","data":%s}`, i, docN(i)))
	}
	s.waitCount(30, "") // the first batch has reached ClickHouse
	got = counts(do(t, http.MethodPost, url, "application/cloudevents-batch+json", []byte("["+strings.Join(events, ",")+"]")))
	if want := map[string]float64{"accepted": 10, "duplicate": 5, "invalid": 0, "unavailable": 0, "results": 15}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("CloudEvents batch: %v, want %v", got, want)
	}

	if r := do(t, http.MethodPost, url, "application/json", []byte(sample)); r.status != http.StatusBadRequest {
		t.Errorf("a single document to the batch route: %d %s, want 400", r.status, r.body)
	}
	if err := dev.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("meterline dev after SIGTERM: %v, want a clean exit", err)
	}
	if n, d := s.count(""), s.countDistinct(); n != 40 || d != 40 {
		t.Errorf("usage_events has %d rows, %d distinct, want the 40 distinct documents once each", n, d)
	}
}
