package collector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"time"

	"github.com/meterline/meterline/pkg/client"

	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/web"
	"github.com/meterline/meterline/internal/usage"
)

// BatchPath is the batch form of the collection API: a JSON array of resource usage documents
// (Content-Type application/json), or a CloudEvents JSON batch of them
// (application/cloudevents-batch+json), each document answered on its own.
const BatchPath = "/v1/metering/collected/usage/batch"

// CloudEventType is the CloudEvents type of a resource usage document: the event's data is the
// document, in JSON.
const CloudEventType = "io.meterline.usage.v1"

// Batch limits when Config leaves them zero.
const (
	DefaultMaxBatchDocuments = 1000
	DefaultMaxBatchBytes     = 8 << 20
)

// BatchResult is one document's answer in a batch response: the status a single POST of it
// would have had, with its id and location, or its error body.
type BatchResult struct {
	Index        int            `json:"index"`
	Status       int            `json:"status"`
	ID           string         `json:"id,omitempty"`
	Location     string         `json:"location,omitempty"`
	CloudEventID string         `json:"cloudevent_id,omitempty"`
	Error        *web.ErrorBody `json:"error,omitempty"`
}

// BatchResponse answers a batch: one result per document, in the batch's order, and counts.
// The counts are the client's own type, so the two count alike.
type BatchResponse struct {
	client.BatchCounts
	Results []BatchResult `json:"results"`
}

// postBatch collects a batch. The response is 200 with each document's result, or 503 (with
// the same body and Retry-After) when any document could not be stored for want of Kafka: the
// client then sends the whole batch again, and what was stored is answered 409 the second time,
// so every document counts once. A batch none of whose documents the principal may write is
// answered 403, as a single POST of one is. A body that is not a batch (not an array, too large, too many
// documents) is refused as a whole, before anything is stored.
func (c *Collector) postBatch(w http.ResponseWriter, r *http.Request) {
	start := time.Now() // a latency, not a business time: the wall clock's
	defer func() { c.metrics.batchLatency.Observe(time.Since(start).Seconds()) }()
	items, cloudEvents, err := c.readBatch(r)
	if err != nil {
		web.WriteError(w, c.log, err)
		return
	}
	resp := BatchResponse{Results: make([]BatchResult, len(items))}
	docs := make([]usage.Document, len(items))
	first := make(map[string]int, len(items)) // a document's id to the index of its first occurrence
	var unique []int                          // the first occurrences, to store
	for i, raw := range items {
		res := &resp.Results[i]
		res.Index = i
		body, err := raw, error(nil)
		if cloudEvents {
			body, res.CloudEventID, err = cloudEventData(raw)
		}
		if err == nil && int64(len(body)) > c.cfg.MaxBodyBytes {
			err = documentTooLarge(len(body), c.cfg.MaxBodyBytes)
		}
		if err == nil {
			docs[i], err = c.admitDocument(r.Context(), body)
		}
		if err != nil {
			c.answer(r, res, "", err)
			continue
		}
		id := docs[i].ID()
		res.ID = id
		if _, seen := first[id]; seen {
			continue // answered once the first occurrence is
		}
		first[id] = i
		unique = append(unique, i)
	}
	c.storeUnique(r, &resp, docs, unique)
	for i := range resp.Results {
		res := &resp.Results[i]
		if j, ok := first[res.ID]; ok && j != i && res.Status == 0 {
			// A repeat within the batch has its first occurrence's fate: a duplicate of it once
			// stored, the same failure otherwise.
			var err error
			if resp.Results[j].Status != http.StatusCreated && resp.Results[j].Status != http.StatusConflict {
				err = fault.Unavailable(errKafkaDown, "usage could not be stored in Kafka; retry later")
				if resp.Results[j].Status != http.StatusServiceUnavailable {
					err = &fault.Error{Kind: fault.KindInternal, Message: "usage could not be stored"}
				}
			} else {
				err = duplicate(res.ID)
			}
			c.answer(r, res, res.ID, err)
		}
	}
	for _, res := range resp.Results {
		resp.Count(res.Status)
	}
	if refused := refusedWhole(resp.Results); refused != nil {
		web.WriteError(w, c.log, refused)
		return
	}
	status := http.StatusOK
	if resp.Unavailable > 0 {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	}
	web.WriteJSON(w, status, resp)
}

// storeUnique stores the documents of indexes unique, each of a distinct id, in one
// storeBatch, and answers each.
func (c *Collector) storeUnique(r *http.Request, resp *BatchResponse, docs []usage.Document, unique []int) {
	batch, ids := make([]usage.Document, len(unique)), make([]string, len(unique))
	for k, i := range unique {
		batch[k], ids[k] = docs[i], resp.Results[i].ID
	}
	for k, err := range c.storeBatch(r.Context(), batch, ids) {
		c.answer(r, &resp.Results[unique[k]], ids[k], err)
	}
}

// refusedWhole is the 403 of a batch none of whose documents the principal may write, so that
// a principal without write access is refused as it is by a single POST; nil otherwise.
func refusedWhole(results []BatchResult) error {
	problems := make([]fault.Problem, len(results))
	for i, res := range results {
		if res.Status != http.StatusForbidden {
			return nil
		}
		problems[i] = fault.Problem{Field: fmt.Sprintf("[%d]", i), Reason: res.Error.Error}
	}
	return &fault.Error{Kind: fault.KindForbidden, Message: "this principal may write none of the batch's documents", Problems: problems}
}

// answer fills res with the outcome of storing document id (err nil: accepted) and counts it.
func (c *Collector) answer(r *http.Request, res *BatchResult, id string, err error) {
	if err == nil {
		c.metrics.documents.WithLabelValues("accepted").Inc()
		res.Status = http.StatusCreated
		res.Location = location(r, documentPath+id)
		return
	}
	c.metrics.documents.WithLabelValues(resultOf(err)).Inc()
	status, body := web.ErrorOf(c.log, err)
	if body.Location != "" {
		body.Location = location(r, body.Location)
		res.Location = body.Location
	}
	res.Status, res.Error = status, &body
}

// readBatch reads a batch request's body into its items, telling whether they are CloudEvents.
func (c *Collector) readBatch(r *http.Request) ([]json.RawMessage, bool, error) {
	ct := r.Header.Get("Content-Type")
	cloudEvents := false
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/cloudevents-batch+json" {
		cloudEvents = true
	} else if err == nil && mt != "application/json" {
		return nil, false, &fault.Error{Kind: fault.KindUnsupportedMediaType, Message: "unsupported content type",
			Problems: []fault.Problem{{Field: "Content-Type", Value: ct, Reason: "must be application/json or application/cloudevents-batch+json"}}}
	}
	if err := checkContentType(ct); err != nil {
		return nil, false, err
	}
	body, err := web.ReadBody(r, c.cfg.MaxBatchBytes)
	if err != nil {
		return nil, false, err
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '[' {
		return nil, false, fault.Invalid("invalid batch", fault.Problem{Reason: "the body must be a JSON array of documents"})
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, false, fault.Invalid("invalid batch", fault.Problem{Reason: "the body is not a JSON array: " + err.Error()})
	}
	switch {
	case len(items) == 0:
		return nil, false, fault.Invalid("invalid batch", fault.Problem{Reason: "the batch has no document"})
	case len(items) > c.cfg.MaxBatchDocuments:
		return nil, false, &fault.Error{Kind: fault.KindTooLarge, Message: "batch too large", Problems: []fault.Problem{{
			Value: fmt.Sprint(len(items)), Reason: fmt.Sprintf("a batch holds at most %d documents", c.cfg.MaxBatchDocuments)}}}
	}
	return items, cloudEvents, nil
}

func documentTooLarge(n int, limit int64) error {
	return &fault.Error{Kind: fault.KindTooLarge, Message: "document too large",
		Problems: []fault.Problem{{Value: fmt.Sprint(n), Reason: fmt.Sprintf("a document is at most %d bytes", limit)}}}
}

// cloudEvent is a CloudEvents 1.0 event in the JSON format, with the attributes Meterline reads;
// other (extension) attributes are allowed and ignored.
type cloudEvent struct {
	SpecVersion     *string         `json:"specversion"`
	ID              *string         `json:"id"`
	Source          *string         `json:"source"`
	Type            *string         `json:"type"`
	DataContentType *string         `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
	DataBase64      *string         `json:"data_base64"`
}

// cloudEventData checks a CloudEvent of a resource usage document and returns the document
// and the event's id.
func cloudEventData(raw json.RawMessage) ([]byte, string, error) {
	var ev cloudEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, "", fault.Invalid("invalid CloudEvent", fault.Problem{Reason: "is not a JSON object: " + err.Error()})
	}
	var problems []fault.Problem
	need := func(field string, v *string, want string) {
		switch {
		case v == nil || *v == "":
			problems = append(problems, fault.Problem{Field: field, Reason: "is required"})
		case want != "" && *v != want:
			problems = append(problems, fault.Problem{Field: field, Value: *v, Reason: "must be " + want})
		}
	}
	need("specversion", ev.SpecVersion, "1.0")
	need("id", ev.ID, "")
	need("source", ev.Source, "")
	need("type", ev.Type, CloudEventType)
	if ct := ev.DataContentType; ct != nil {
		if mt, _, err := mime.ParseMediaType(*ct); err != nil || mt != "application/json" {
			problems = append(problems, fault.Problem{Field: "datacontenttype", Value: *ct, Reason: "must be application/json"})
		}
	}
	switch {
	case ev.DataBase64 != nil:
		problems = append(problems, fault.Problem{Field: "data_base64", Reason: "is not supported; send the document as data"})
	case len(ev.Data) == 0 || bytes.Equal(ev.Data, []byte("null")):
		problems = append(problems, fault.Problem{Field: "data", Reason: "is required: the resource usage document"})
	}
	id := ""
	if ev.ID != nil {
		id = *ev.ID
	}
	if len(problems) > 0 {
		return nil, id, fault.Invalid("invalid CloudEvent", problems...)
	}
	return ev.Data, id, nil
}
