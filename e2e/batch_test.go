package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/meterline/meterline/pkg/client"
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

	// The plain batch through pkg/client: each result names the id the client computes for
	// the document, as the collector does.
	c, err := client.New("http://" + dev.addr)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]json.RawMessage, 0, 32)
	for i := range 30 {
		items = append(items, json.RawMessage(docN(i)))
	}
	items = append(items, json.RawMessage(docN(3)), json.RawMessage(`{"start": "yesterday"}`))
	br, err := c.CollectBatchJSON(context.Background(), items)
	if err != nil {
		t.Fatalf("plain batch: %v", err)
	}
	got := map[string]float64{"accepted": float64(br.Accepted), "duplicate": float64(br.Duplicate), "invalid": float64(br.Invalid),
		"unavailable": float64(br.Unavailable), "results": float64(len(br.Results))}
	if want := map[string]float64{"accepted": 30, "duplicate": 1, "invalid": 1, "unavailable": 0, "results": 32}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("plain batch: %v, want %v", got, want)
	}
	for i, r := range br.Results[:31] {
		if id, err := client.DocumentID(items[i]); err != nil || r.ID != id || r.Index != i || !r.Stored() {
			t.Errorf("result %d: %+v, want document id %s (%v) stored", i, r, id, err)
		}
	}
	if r := br.Results[31]; r.Status != http.StatusBadRequest || r.Error == nil || r.Error.Kind != client.KindInvalid || len(r.Error.Problems) == 0 {
		t.Errorf("the invalid document's result: %+v, want 400 invalid naming its problems", r)
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
