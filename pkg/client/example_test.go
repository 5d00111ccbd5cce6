package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/pkg/client"
)

// exampleCollector is a stand-in for Meterline's collector: it answers the first POST 503
// with Retry-After, as a collector does while Kafka is away, and then 201 with the document's
// id, computed as the collector does.
func exampleCollector() *httptest.Server {
	posts := 0
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		posts++
		if posts == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":"Kafka is unavailable; retry later","kind":"unavailable"}`)
			return
		}
		id, err := client.DocumentID(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"invalid usage document","kind":"invalid","problems":[{"field":"space_id","reason":"is required"}]}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%q,"location":"/v1/metering/collected/usage/%s"}`, id, id)
	}))
}

// Collect submits a document; the 503 of the first attempt is retried after its Retry-After.
func ExampleClient_Collect() {
	srv := exampleCollector()
	defer srv.Close()
	c, err := client.New(srv.URL, client.WithToken("my-token"), client.WithRetry(3, 10*time.Second))
	if err != nil {
		panic(err)
	}
	r, err := c.Collect(context.Background(), client.Document{
		Start: 1420243200000, End: 1420245000000,
		OrganizationID: "us-south:org", SpaceID: "space-1", ConsumerID: "app:1",
		ResourceID: "object-storage", PlanID: "basic", ResourceInstanceID: "instance-1",
		MeasuredUsage: []client.Measure{{Measure: "storage", Quantity: decimal.RequireFromString("1073741824")}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(r.ID)
	// Output: 1420245000000-6dbb5da07c8924e1ac28dd922074bfcc
}

// A client mistake is an *Error naming each problem.
func ExampleError() {
	srv := exampleCollector()
	defer srv.Close()
	c, _ := client.New(srv.URL, client.WithRetry(2, time.Second))
	_, err := c.CollectJSON(context.Background(), []byte(`{"start":1,"end":1}`))
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Kind, e.Problems[0].Field, e.Problems[0].Reason)
	}
	// Output: 400 invalid space_id is required
}

// CollectBatch submits many documents, each answered on its own.
func ExampleClient_CollectBatch() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"accepted":1,"duplicate":1,"invalid":0,"unavailable":0,"results":[
{"index":0,"status":201,"id":"1420245000000-a","location":"/v1/metering/collected/usage/1420245000000-a"},
{"index":1,"status":409,"id":"1420245000000-b","location":"/v1/metering/collected/usage/1420245000000-b",
 "error":{"error":"usage document 1420245000000-b was already submitted","kind":"conflict"}}]}`)
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL)
	resp, err := c.CollectBatch(context.Background(), make([]client.Document, 2))
	if err != nil {
		panic(err)
	}
	for _, r := range resp.Results {
		fmt.Println(r.Index, r.Status, r.Stored())
	}
	fmt.Println("accepted", resp.Accepted, "duplicate", resp.Duplicate)
	// Output:
	// 0 201 true
	// 1 409 true
	// accepted 1 duplicate 1
}

// OrganizationReport reads an organization's usage summary report as of a time; its numbers
// are exact decimals.
func ExampleClient_OrganizationReport() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Meterline-Settled", "true")
		_, _ = io.WriteString(w, `{"id":"k-us-south:org-t-0001420245000000","organization_id":"us-south:org","start":1420070400000,
"end":1420245000000,"processed":1420245000000,"windows":[[null],[null],[null],[null],[{"charge":46.09}]],"resources":[],"spaces":[]}`)
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL)
	rep, err := c.OrganizationReport(context.Background(), "us-south:org", time.UnixMilli(1420245000000))
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.OrganizationID, rep.Windows.Slot(client.LevelMonth, 0).Charge, rep.Settled)
	// Output: us-south:org 46.09 true
}

// GraphQL runs a query and decodes its data into a struct shaped like the selection.
func ExampleClient_GraphQL() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"data":{"organization":{"organization_id":"us-south:org","windows":[[null],[null],[null],[null],[{"charge":46.09}]]}}}`)
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL)
	var data struct {
		Organization struct {
			OrganizationID string                        `json:"organization_id"`
			Windows        client.Windows[client.Charge] `json:"windows"`
		}
	}
	err := c.GraphQL(context.Background(), `query($org: String!) { organization(organization_id: $org) { organization_id, windows { charge } } }`,
		map[string]any{"org": "us-south:org"}, &data)
	if err != nil {
		panic(err)
	}
	fmt.Println(data.Organization.OrganizationID, data.Organization.Windows.Slot(client.LevelMonth, 0).Charge)
	// Output: us-south:org 46.09
}
