package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// sample is the resource usage document of seed 001.
const sample = `{
  "start": 1396421450000,
  "end": 1396421451000,
  "organization_id": "us-south:54257f98-83f0-4eca-ae04-9ea35277a538",
  "space_id": "d98b5916-3c77-44b9-ac12-04456df23eae",
  "consumer_id": "app:d98b5916-3c77-44b9-ac12-045678edabae",
  "resource_id": "object-storage",
  "plan_id": "basic",
  "resource_instance_id": "d98b5916-3c77-44b9-ac12-04d61c7a4eae",
  "measured_usage": [
    {"measure": "storage", "quantity": 10},
    {"measure": "api_calls", "quantity": 10}
  ]
}`

// TestDevCollectsIntoClickHouse runs `meterline dev` against the real broker: a document
// posted over HTTP answers 201, reads back through its Location, lands in ClickHouse once,
// is answered 409 when posted again, and bad documents are refused with their problems named.
func TestDevCollectsIntoClickHouse(t *testing.T) {
	s := newStack(t)
	dev := s.start([]string{"dev"})

	created := post(t, dev, sample)
	if created.status != http.StatusCreated {
		t.Fatalf("POST sample: %d %s", created.status, created.body)
	}
	loc := created.header.Get("Location")
	if !strings.HasPrefix(loc, "http://"+dev.addr+"/v1/metering/collected/usage/") {
		t.Fatalf("Location %q is not the document's URL", loc)
	}
	id := loc[strings.LastIndex(loc, "/")+1:]

	// Read your writes: the GET right after the 201 finds the same document.
	got := do(t, http.MethodGet, loc, "", nil)
	if got.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", loc, got.status, got.body)
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(sample), &want); err != nil {
		t.Fatal(err)
	}
	if doc := got.json(t); !reflect.DeepEqual(doc, want) {
		t.Errorf("GET returned %v, want the posted document %v", doc, want)
	}

	s.waitCount(1, "id = ?", id)
	var org string
	var quantities []string
	row := s.ch.QueryRow(t.Context(), "SELECT organization_id, arrayMap(q -> toString(q), measured_usage.quantity) FROM "+
		s.database+".usage_events WHERE id = ?", id)
	if err := row.Scan(&org, &quantities); err != nil {
		t.Fatal(err)
	}
	if org != "us-south:54257f98-83f0-4eca-ae04-9ea35277a538" || len(quantities) != 2 {
		t.Errorf("row in ClickHouse: org %q quantities %v", org, quantities)
	}

	dup := post(t, dev, sample)
	if dup.status != http.StatusConflict || dup.header.Get("Location") != loc {
		t.Errorf("second POST of the same document: %d Location %q, want 409 with %q", dup.status, dup.header.Get("Location"), loc)
	}

	type problem struct{ field, reason string }
	bad := func(name string, status int, contentType, body string, want ...problem) {
		t.Run(name, func(t *testing.T) {
			r := do(t, http.MethodPost, "http://"+dev.addr+"/v1/metering/collected/usage", contentType, []byte(body))
			if r.status != status {
				t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
			}
			b := r.json(t)
			if b["error"] == nil || b["kind"] == nil {
				t.Errorf("error body lacks error or kind: %s", r.body)
			}
			problems, _ := b["problems"].([]any)
			for _, w := range want {
				found := false
				for _, p := range problems {
					pm := p.(map[string]any)
					if pm["field"] == w.field && strings.Contains(fmt.Sprint(pm["reason"]), w.reason) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem for %q containing %q in %s", w.field, w.reason, r.body)
				}
			}
		})
	}
	edit := func(from, to string) string { return strings.Replace(sample, from, to, 1) }
	bad("malformed JSON", 400, "application/json", `{"start": 1,`, problem{"", "malformed JSON"})
	bad("wrong type", 400, "application/json", edit(`"start": 1396421450000`, `"start": "yesterday"`), problem{"start", "must be integer"})
	bad("missing field", 400, "application/json", edit(`"plan_id": "basic",`, ``), problem{"plan_id", "is required"})
	bad("unknown field", 400, "application/json", edit(`"plan_id"`, `"colour": "red", "plan_id"`), problem{"colour", "not a field"})
	bad("negative quantity", 400, "application/json", edit(`"quantity": 10}`, `"quantity": -10}`), problem{"measured_usage[0].quantity", "negative"})
	bad("quantity beyond range", 400, "application/json", edit(`"quantity": 10}`, `"quantity": 1e400}`), problem{"measured_usage[0].quantity", "too large"})
	bad("end before start", 400, "application/json", edit(`"end": 1396421451000`, `"end": 1396421449000`), problem{"end", "before start"})
	bad("several problems at once", 400, "application/json", edit(`"plan_id": "basic",`, `"plan_id": 7, "x": 1,`),
		problem{"plan_id", "must be string"}, problem{"x", "not a field"})
	bad("wrong content type", 400, "text/plain", sample, problem{"Content-Type", "application/json"})
	bad("oversized body", 400, "application/json", `{"pad": "`+strings.Repeat("x", 2<<20)+`"}`, problem{"", "larger than"})

	if r := do(t, http.MethodGet, "http://"+dev.addr+"/v1/metering/collected/usage/1-00000000000000000000000000000000", "", nil); r.status != 404 {
		t.Errorf("GET of an unknown document: %d %s, want 404", r.status, r.body)
	}
	if r := do(t, http.MethodGet, "http://"+dev.addr+"/v1/metering/collected/usage/not-an-id", "", nil); r.status != 400 {
		t.Errorf("GET of a malformed id: %d %s, want 400", r.status, r.body)
	}
	metrics := do(t, http.MethodGet, "http://"+dev.addr+"/metrics", "", nil)
	for _, m := range []string{`meterline_collector_documents_total{result="accepted"} 1`, `meterline_collector_documents_total{result="duplicate"} 1`, "meterline_rawsink_rows_written_total 1",
		`meterline_sink_write_lag_seconds_count{sink="rawsink"} 1`, `meterline_kafka_consumer_lag_up{consumer="processor"`,
		`meterline_kafka_consumer_lag_records{consumer="rawsink"`} {
		if !strings.Contains(string(metrics.body), m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}

	if err := dev.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("meterline dev after SIGTERM: %v, want a clean exit", err)
	}
	if n := s.count(""); n != 1 {
		t.Errorf("usage_events has %d rows, want exactly the one document", n)
	}
}

// TestDevWithEmbeddedBroker is `make run`'s stack: meterline dev with its embedded Kafka
// (no METERLINE_KAFKA_BROKERS) and the test ClickHouse. A posted document reads back and
// lands in ClickHouse; after a restart on the same data folder it is still found, and posting
// it again is a duplicate.
func TestDevWithEmbeddedBroker(t *testing.T) {
	s := newStack(t)
	embedded := []string{"METERLINE_KAFKA_BROKERS=", "METERLINE_DEV_DATA_DIR=" + t.TempDir()}
	dev := s.start([]string{"dev"}, embedded...)
	created := post(t, dev, sample)
	if created.status != http.StatusCreated {
		t.Fatalf("POST sample: %d %s", created.status, created.body)
	}
	id := created.header.Get("Location")[strings.LastIndex(created.header.Get("Location"), "/")+1:]
	if r := do(t, http.MethodGet, "http://"+dev.addr+"/v1/metering/collected/usage/"+id, "", nil); r.status != http.StatusOK {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	s.waitCount(1, "id = ?", id)
	if r := do(t, http.MethodGet, "http://"+dev.addr+"/v1/metering/plans/basic-object-storage", "", nil); r.status != http.StatusOK {
		t.Errorf("the sample plans are not served: %d", r.status)
	}
	if err := dev.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v", err)
	}

	dev = s.start([]string{"dev"}, embedded...)
	if r := do(t, http.MethodGet, "http://"+dev.addr+"/v1/metering/collected/usage/"+id, "", nil); r.status != http.StatusOK {
		t.Errorf("GET after a restart: %d %s", r.status, r.body)
	}
	if r := post(t, dev, sample); r.status != http.StatusConflict {
		t.Errorf("POST of the same document after a restart: %d %s, want 409", r.status, r.body)
	}
	if n := s.count(""); n != 1 {
		t.Errorf("usage_events has %d rows, want 1", n)
	}
}
