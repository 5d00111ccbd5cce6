package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path"

	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/usage"
)

// Paths of the collection API.
const (
	CollectPath = "/v1/metering/collected/usage"
	BatchPath   = "/v1/metering/collected/usage/batch"
)

// Document is a resource usage document (Abacus' seed 001). Times are epoch milliseconds, UTC.
// ConsumerID and DedupID are optional: a document without a consumer is metered under
// "UNKNOWN", and a dedup id makes two otherwise identical documents distinct.
type Document struct {
	Start              int64     `json:"start"`
	End                int64     `json:"end"`
	OrganizationID     string    `json:"organization_id"`
	SpaceID            string    `json:"space_id"`
	ConsumerID         string    `json:"consumer_id,omitempty"`
	ResourceID         string    `json:"resource_id"`
	PlanID             string    `json:"plan_id"`
	ResourceInstanceID string    `json:"resource_instance_id"`
	MeasuredUsage      []Measure `json:"measured_usage"`
	DedupID            string    `json:"dedup_id,omitempty"`
}

// Measure is one measured quantity of a document; the quantity is sent as an exact JSON number.
type Measure struct {
	Measure  string
	Quantity decimal.Decimal
}

// MarshalJSON writes the measure with its quantity as a JSON number, written exactly.
func (m Measure) MarshalJSON() ([]byte, error) {
	name, err := json.Marshal(m.Measure)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, `{"measure":%s,"quantity":%s}`, name, m.Quantity.String()), nil
}

// UnmarshalJSON reads a measure.
func (m *Measure) UnmarshalJSON(b []byte) error {
	var v struct {
		Measure  string          `json:"measure"`
		Quantity decimal.Decimal `json:"quantity"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	m.Measure, m.Quantity = v.Measure, v.Quantity
	return nil
}

// DocumentID is the id the collector gives the document in JSON doc: the same for the same
// content (whatever the order of its measures or the spelling of its numbers). An invalid
// document has none: the error says why, as the collector's 400 would.
func DocumentID(doc []byte) (string, error) {
	d, err := usage.Parse(doc)
	if err != nil {
		return "", err
	}
	return d.ID(), nil
}

// ID is the id the collector gives d (see DocumentID).
func (d Document) ID() (string, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return "", err
	}
	return DocumentID(b)
}

// Receipt is the answer to a collected document.
type Receipt struct {
	ID       string `json:"id"`
	Location string `json:"location"`
	// Retried is true when an earlier attempt of this call stored the document (its answer
	// was lost or was a 503) and the retry was answered 409.
	Retried bool `json:"-"`
}

// Collect submits a document. It returns once the server has it durably, retrying a 503 or
// 429 within the budget; a 409 to a retry is the document stored by an earlier attempt and
// is success. A 409 to the first attempt (the document was submitted before this call) is an
// *Error for which IsDuplicate is true, its Location the original's.
func (c *Client) Collect(ctx context.Context, d Document) (Receipt, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return Receipt{}, fmt.Errorf("client: document: %w", err)
	}
	return c.CollectJSON(ctx, b)
}

// CollectJSON is Collect of a document already in JSON; it is sent as it is.
func (c *Client) CollectJSON(ctx context.Context, doc []byte) (Receipt, error) {
	req := request{method: http.MethodPost, path: CollectPath, contentType: "application/json", body: doc}
	var attempts int
	r, err := c.retry(ctx, func(int) request { attempts++; return req },
		func(reply, int) bool { return false })
	if err != nil {
		return Receipt{}, err
	}
	switch {
	case r.status == http.StatusCreated:
		var rc Receipt
		if err := json.Unmarshal(r.body, &rc); err != nil || rc.ID == "" {
			return Receipt{}, fmt.Errorf("client: the 201 answer names no document: %s", r.body)
		}
		return rc, nil
	case r.status == http.StatusConflict && attempts > 1:
		e := errorOf(r)
		id := path.Base(e.Location) // the original's location names it; else computed as the collector does
		if e.Location == "" {
			id, _ = DocumentID(doc)
		}
		return Receipt{ID: id, Location: e.Location, Retried: true}, nil
	default:
		return Receipt{}, errorOf(r)
	}
}

// BatchResult is one document's answer in a batch: the status a single POST of it would have
// had, with its id and location, or its error body.
type BatchResult struct {
	Index        int        `json:"index"`
	Status       int        `json:"status"`
	ID           string     `json:"id,omitempty"`
	Location     string     `json:"location,omitempty"`
	CloudEventID string     `json:"cloudevent_id,omitempty"`
	Error        *ErrorBody `json:"error,omitempty"`
	// Retried is true when an earlier attempt stored the document and its retry was answered
	// 409: the document counts as accepted by this call (Status is then 201).
	Retried bool `json:"-"`
}

// Stored reports whether the document is stored, by this call or before it (201 or 409).
func (r BatchResult) Stored() bool {
	return r.Status == http.StatusCreated || r.Status == http.StatusConflict
}

// BatchCounts are how many of a batch's documents were accepted (by this call), duplicates
// (stored before it, or repeated within the batch), invalid (refused for what they are, 4xx)
// and unavailable (503). The collector counts its answers with it too, so the server's counts
// and the client's are one definition.
type BatchCounts struct {
	Accepted    int `json:"accepted"`
	Duplicate   int `json:"duplicate"`
	Invalid     int `json:"invalid"`
	Unavailable int `json:"unavailable"`
}

// Count adds one document's status to the counts: 201 is accepted, 409 a duplicate, 503
// unavailable, any other status below 500 invalid; other 5xx statuses count in none.
func (c *BatchCounts) Count(status int) {
	switch {
	case status == http.StatusCreated:
		c.Accepted++
	case status == http.StatusConflict:
		c.Duplicate++
	case status == http.StatusServiceUnavailable:
		c.Unavailable++
	case status < 500:
		c.Invalid++
	}
}

// BatchResponse is the answer to a batch: one result per document, in the batch's order, and
// its counts (unavailable being those still 503 when the budget ran out).
type BatchResponse struct {
	BatchCounts
	Results []BatchResult `json:"results"`
}

// CollectBatch submits documents in batches of at most WithMaxBatch (1,000) documents.
func (c *Client) CollectBatch(ctx context.Context, docs []Document) (*BatchResponse, error) {
	items := make([]json.RawMessage, len(docs))
	for i, d := range docs {
		b, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("client: document %d: %w", i, err)
		}
		items[i] = b
	}
	return c.CollectBatchJSON(ctx, items)
}

// CollectBatchJSON submits documents already in JSON, each sent as it is, in batches of at
// most WithMaxBatch documents, one after the other. Each batch is retried while the server
// answers 503 (some of its documents could not be stored) or 429, within the budget: a retry
// sends only the documents not yet answered, and a 409 to one of them is its storing by the
// earlier attempt, so the answer is the one a single, successful batch would have had. When
// the budget runs out with documents still unavailable, the answer so far is returned with
// the last answer's *Error (a 503, or a 429). A batch refused whole (not a batch, too large, none of it writable)
// is an *Error, with the answers of the batches before it.
func (c *Client) CollectBatchJSON(ctx context.Context, items []json.RawMessage) (*BatchResponse, error) {
	out := &BatchResponse{Results: make([]BatchResult, 0, len(items))}
	for start := 0; start < len(items); start += c.maxBatch {
		chunk := items[start:min(start+c.maxBatch, len(items))]
		res, err := c.collectChunk(ctx, chunk)
		for _, r := range res {
			r.Index += start
			out.Results = append(out.Results, r)
		}
		if err != nil {
			out.count()
			return out, err
		}
	}
	out.count()
	return out, nil
}

// collectChunk posts one batch until each of its documents has a final answer or the budget
// runs out.
func (c *Client) collectChunk(ctx context.Context, items []json.RawMessage) ([]BatchResult, error) {
	results := make([]BatchResult, len(items))
	var pending []int // indexes, in items, of the documents the next attempt sends
	for i := range items {
		pending = append(pending, i)
	}
	var sent []int             // what the attempt under way sent
	var merged, anyMerged bool // whether the last answer, and any answer, had a result per document sent
	next := func(int) request {
		var b bytes.Buffer
		b.WriteByte('[')
		for k, i := range pending {
			if k > 0 {
				b.WriteByte(',')
			}
			b.Write(items[i])
		}
		b.WriteByte(']')
		sent = pending
		return request{method: http.MethodPost, path: BatchPath, contentType: "application/json", body: b.Bytes()}
	}
	// merge takes an answer with per-document results into results, leaving in pending what
	// is still unavailable; it tells whether the answer was one.
	merge := func(r reply, attempt int) bool {
		var br BatchResponse
		merged = false
		if (r.status != http.StatusOK && r.status != http.StatusServiceUnavailable) ||
			json.Unmarshal(r.body, &br) != nil || len(br.Results) != len(sent) {
			return false
		}
		merged, anyMerged = true, true
		seen := map[string]bool{} // ids sent earlier in this attempt
		pending = pending[:0:0]
		for k, res := range br.Results {
			i := sent[k]
			res.Index = i
			if res.Status == http.StatusConflict && attempt > 1 && !seen[res.ID] {
				res.Status, res.Error, res.Retried = http.StatusCreated, nil, true
			}
			if res.ID != "" {
				seen[res.ID] = true
			}
			if res.Status == http.StatusServiceUnavailable {
				pending = append(pending, i)
			}
			results[i] = res
		}
		return true
	}
	r, err := c.retry(ctx, next, func(r reply, attempt int) bool {
		return merge(r, attempt) && len(pending) == 0
	})
	if err != nil {
		return results, err
	}
	switch {
	case r.status == http.StatusOK && merged:
		return results, nil
	case !anyMerged && r.status != http.StatusOK:
		return nil, errorOf(r) // refused whole, or never answered per document
	case r.status == http.StatusOK:
		return results, fmt.Errorf("client: the batch's answer has no result per document: %.200s", r.body)
	default:
		// The budget ran out with documents unanswered: the results so far, and the last error.
		e := errorOf(r)
		if e.Kind == "" {
			e.Kind = kindOfStatus(r.status)
		}
		e.Message = fmt.Sprintf("%d of the batch's documents could not be stored before the retry budget ran out: %s", len(pending), e.Message)
		return results, e
	}
}

func (b *BatchResponse) count() {
	b.BatchCounts = BatchCounts{}
	for _, r := range b.Results {
		b.Count(r.Status)
	}
}
