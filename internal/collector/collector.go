// Package collector serves the Abacus usage collection API of seed 001:
//
//	POST /v1/metering/collected/usage                      submit a resource usage document
//	GET  /v1/metering/collected/usage/{usage_document_id}  read a submitted document back
//	POST /v1/metering/collected/usage/batch                submit many, each answered on its own
//
// A POST is answered 201 only once the document is durably in Kafka (acknowledged by all
// in-sync replicas through the idempotent producer); when Kafka cannot take it the answer is
// 503 and the client retries. A document that was accepted before is answered 409 with the
// original's Location, so a client can tell; whether or not the collector recognises a
// duplicate (after a restart it may not), it counts once downstream, because its id is a hash
// of its content and every consumer deduplicates by id.
//
// Both routes need a principal in the request's context (internal/auth): a POST is refused
// 403 unless it may write usage of the document's organization and resource (checked once
// the document is parsed, before anything reaches Kafka); a GET finds only documents it may
// read, another tenant's being 404 like a missing one.
package collector

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/platform/web"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// Source is the source of documents collected over HTTP.
const Source = "abacus-http"

// Publisher publishes an event durably; it returns when Kafka has it. at is the time to stamp
// the record with, the event's stored time; the publisher returns the stored time Kafka has.
type Publisher interface {
	PublishAt(ctx context.Context, ev *meterlinev1.UsageEvent, at time.Time) (stored time.Time, err error)
}

// Archive finds events the raw event sink has stored (usage.ErrNoEvent for one it has not),
// and why the metering processor rejected a document (usage.ErrNotRejected when it did not,
// or not yet).
type Archive interface {
	Get(ctx context.Context, id string) (usage.StoredEvent, error)
	Existing(ctx context.Context, refs []usage.EventRef) (map[string]bool, error)
	Rejection(ctx context.Context, org, id string) (usage.Rejection, error)
}

// Accounts tells which account owns an organization ("" for none known).
type Accounts interface {
	AccountID(organization string) string
}

// Config configures the collector.
type Config struct {
	MaxBodyBytes   int64
	ProduceTimeout time.Duration
	// RecentDocuments is how many accepted documents the collector keeps in memory, so that a
	// GET right after a POST finds the document before the sink has written it, and a
	// resubmission is answered 409 without a query.
	RecentDocuments int
	// LookupTimeout bounds the ClickHouse look-up of a possible duplicate; past it the
	// document is accepted and deduplicated downstream.
	LookupTimeout time.Duration
	// Clock gives the received and stored times of documents; nil is the wall clock.
	Clock clock.Clock
	// MaxBatchDocuments and MaxBatchBytes bound a batch (BatchPath): its documents and its
	// body; each document is also bounded by MaxBodyBytes. Zero is DefaultMaxBatchDocuments,
	// DefaultMaxBatchBytes.
	MaxBatchDocuments int
	MaxBatchBytes     int64
}

// Collector is the collection API.
type Collector struct {
	cfg      Config
	pub      Publisher
	archive  Archive
	accounts Accounts
	log      *zap.Logger
	clock    clock.Clock
	recent   *recent
	lookups  *lookups // nil without an archive
	metrics  metrics
	health   producerHealth

	mu       sync.Mutex
	inflight map[string]*call
}

// call is a POST of a document under way; a concurrent POST of the same document waits for it.
type call struct {
	done chan struct{}
	ok   bool
}

type metrics struct {
	documents    *prometheus.CounterVec
	fastFailures prometheus.Counter
	latency      prometheus.Histogram
	batchLatency prometheus.Histogram
}

// New returns a collector.
// accounts may be nil: events then carry no account.
func New(cfg Config, pub Publisher, archive Archive, accounts Accounts, log *zap.Logger, reg prometheus.Registerer) *Collector {
	if cfg.RecentDocuments <= 0 {
		cfg.RecentDocuments = 50000
	}
	if cfg.LookupTimeout <= 0 {
		cfg.LookupTimeout = 2 * time.Second
	}
	if cfg.MaxBatchDocuments <= 0 {
		cfg.MaxBatchDocuments = DefaultMaxBatchDocuments
	}
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = DefaultMaxBatchBytes
	}
	f := promauto.With(reg)
	c := &Collector{
		cfg:      cfg,
		pub:      pub,
		archive:  archive,
		accounts: accounts,
		log:      log,
		clock:    clock.Or(cfg.Clock),
		recent:   newRecent(cfg.RecentDocuments),
		inflight: make(map[string]*call),
		metrics: metrics{
			documents: f.NewCounterVec(prometheus.CounterOpts{
				Name: "meterline_collector_documents_total",
				Help: "Resource usage documents submitted, by result: accepted, duplicate, invalid, unavailable or error.",
			}, []string{"result"}),
			fastFailures: f.NewCounter(prometheus.CounterOpts{
				Name: "meterline_collector_fast_failures_total",
				Help: "POSTs answered 503 at once, without trying Kafka, because Kafka is known to be down.",
			}),
			latency: f.NewHistogram(prometheus.HistogramOpts{
				Name:    "meterline_collector_post_seconds",
				Help:    "Time to answer a POST of a resource usage document.",
				Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
			}),
			batchLatency: f.NewHistogram(prometheus.HistogramOpts{
				Name:    "meterline_collector_batch_seconds",
				Help:    "Time to answer a POST of a batch of resource usage documents.",
				Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
			}),
		},
	}
	if archive != nil {
		// The query's own deadline: a request's LookupTimeout bounds only its wait.
		c.lookups = &lookups{existing: archive.Existing, timeout: cfg.LookupTimeout, log: log}
	}
	return c
}

// Register adds the collector's routes to mux.
func (c *Collector) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/metering/collected/usage", c.post)
	mux.HandleFunc("POST "+BatchPath, c.postBatch)
	mux.HandleFunc("GET /v1/metering/collected/usage/{usage_document_id}", c.get)
}

const documentPath = "/v1/metering/collected/usage/"

func (c *Collector) post(w http.ResponseWriter, r *http.Request) {
	start := time.Now() // a latency, not a business time: the wall clock's
	defer func() { c.metrics.latency.Observe(time.Since(start).Seconds()) }()
	id, err := c.collect(r)
	if err != nil {
		c.metrics.documents.WithLabelValues(resultOf(err)).Inc()
		var fe *fault.Error
		if errors.As(err, &fe) && fe.Kind == fault.KindConflict {
			fe.Location = location(r, fe.Location)
		}
		web.WriteError(w, c.log, err)
		return
	}
	c.metrics.documents.WithLabelValues("accepted").Inc()
	loc := location(r, documentPath+id)
	w.Header().Set("Location", loc)
	web.WriteJSON(w, http.StatusCreated, map[string]string{"id": id, "location": loc})
}

func resultOf(err error) string {
	switch fault.KindOf(err) {
	case fault.KindConflict:
		return "duplicate"
	case fault.KindInvalid, fault.KindTooLarge, fault.KindUnsupportedMediaType:
		return "invalid"
	case fault.KindUnavailable:
		return "unavailable"
	case fault.KindForbidden, fault.KindUnauthenticated:
		return "forbidden"
	default:
		return "error"
	}
}

// collect validates, deduplicates and publishes the document of r, returning its id.
func (c *Collector) collect(r *http.Request) (string, error) {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return "", err
	}
	body, err := web.ReadBody(r, c.cfg.MaxBodyBytes)
	if err != nil {
		return "", err
	}
	doc, err := c.admitDocument(r.Context(), body)
	if err != nil {
		return "", err
	}
	return c.store(r.Context(), doc)
}

// admitDocument parses a resource usage document and checks that the request's principal
// may write it.
func (c *Collector) admitDocument(ctx context.Context, body []byte) (usage.Document, error) {
	doc, err := usage.Parse(body)
	if err != nil {
		return usage.Document{}, err
	}
	if err := auth.RequireWrite(ctx, doc.OrganizationID, doc.ResourceID); err != nil {
		return usage.Document{}, err
	}
	return doc, nil
}

// store deduplicates and publishes a parsed, admitted document, returning its id once Kafka
// has it.
func (c *Collector) store(reqCtx context.Context, doc usage.Document) (string, error) {
	return c.storeID(reqCtx, doc, doc.ID())
}

// storeID is store of a document whose id, doc.ID(), the caller has.
func (c *Collector) storeID(reqCtx context.Context, doc usage.Document, id string) (string, error) {
	// One POST per id at a time: a concurrent POST of the same document waits for the first
	// and is then a duplicate, or, if the first failed, tries itself.
	cl, err := c.acquire(reqCtx, id)
	if err != nil {
		return "", err
	}
	ok := false
	defer func() { c.release(id, cl, ok) }()

	if c.storedBefore(reqCtx, doc.OrganizationID, id) {
		ok = true
		return "", duplicate(id)
	}
	ev, err := c.event(doc)
	if err != nil {
		return "", err
	}
	// While Kafka is known to be down, only one request at a time (one a second) tries it;
	// the others are answered 503 at once, with Retry-After, never having produced.
	try, probe := c.health.admit(c.clock.Now())
	if !try {
		c.metrics.fastFailures.Inc()
		return "", fault.Unavailable(errKafkaDown, "Kafka is unavailable; retry later")
	}
	ctx, cancel := context.WithTimeout(reqCtx, c.cfg.ProduceTimeout)
	defer cancel()
	// The record is stamped with the collector's clock, so that the stored time the
	// processor judges lateness by is this clock's, as the received time is.
	stored, err := c.pub.PublishAt(ctx, ev, c.clock.Now())
	c.health.result(c.clock.Now(), probe, err != nil && ctx.Err() != nil && reqCtx.Err() == nil, err)
	if err != nil {
		return "", fault.Unavailable(err, "usage could not be stored in Kafka; retry later")
	}
	ev.StoredMs = stored.UnixMilli()
	c.recent.put(id, ev)
	ok = true
	return id, nil
}

// acquire makes this request the one storing id, waiting for another request storing it.
func (c *Collector) acquire(ctx context.Context, id string) (*call, error) {
	for {
		cl, other, err := c.tryAcquire(id)
		if cl != nil || err != nil {
			return cl, err
		}
		select {
		case <-other.done:
			if other.ok {
				return nil, duplicate(id)
			}
		case <-ctx.Done():
			return nil, fault.Unavailable(ctx.Err(), "request ended while an identical document was being stored")
		}
	}
}

// tryAcquire makes this request the one storing id (cl), unless id is stored (a duplicate
// error) or another request is storing it (other, to wait for).
func (c *Collector) tryAcquire(id string) (cl, other *call, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recent.get(id) != nil {
		return nil, nil, duplicate(id)
	}
	if other, busy := c.inflight[id]; busy {
		return nil, other, nil
	}
	cl = &call{done: make(chan struct{})}
	c.inflight[id] = cl
	return cl, nil, nil
}

// event builds the usage event of a parsed, admitted document.
func (c *Collector) event(doc usage.Document) (*meterlinev1.UsageEvent, error) {
	account := ""
	if c.accounts != nil {
		account = c.accounts.AccountID(doc.OrganizationID)
	}
	ev, err := usage.NewEvent(doc, Source, c.clock.Now(), account)
	if err != nil {
		// The document passed Parse, so only the collector can be at fault (a clock reading
		// no time a document may name): an internal error, never the client's 400.
		return nil, &fault.Error{Kind: fault.KindInternal, Message: "usage event could not be built", Err: err}
	}
	return ev, nil
}

// release ends the storing of id; ok tells waiting requests whether it is now stored.
func (c *Collector) release(id string, cl *call, ok bool) {
	c.mu.Lock()
	delete(c.inflight, id)
	c.mu.Unlock()
	cl.ok = ok
	close(cl.done)
}

// storedBefore asks the archive whether id was stored before, in a query shared with the
// look-ups of concurrent POSTs. A failed look-up counts as "no": the document is then
// published again and deduplicated downstream by id.
func (c *Collector) storedBefore(ctx context.Context, org, id string) bool {
	if c.lookups == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LookupTimeout)
	defer cancel()
	return c.lookups.storedBefore(ctx, usage.EventRef{Org: org, ID: id})
}

func duplicate(id string) error {
	return fault.Conflict(documentPath+id, "usage document %s was already submitted", id)
}

func (c *Collector) get(w http.ResponseWriter, r *http.Request) {
	if err := auth.RequireReadsAny(r.Context()); err != nil {
		web.WriteError(w, c.log, err)
		return
	}
	id := r.PathValue("usage_document_id")
	if !usage.ValidID(id) {
		web.WriteError(w, c.log, fault.Invalid("invalid usage document id", fault.Problem{
			Field: "usage_document_id", Value: id, Reason: "is not a usage document id (<end in epoch ms>-<32 lowercase hex digits>)"}))
		return
	}
	var (
		doc              usage.Document
		received, stored int64
		err              error
	)
	if ev := c.recent.get(id); ev != nil {
		doc, err = usage.FromProto(ev.GetDocument())
		received, stored = ev.GetReceivedMs(), ev.GetStoredMs()
	} else if c.archive == nil {
		err = fault.NotFound("usage document %s not found", id)
	} else {
		var se usage.StoredEvent
		se, err = c.archive.Get(r.Context(), id)
		switch {
		case errors.Is(err, usage.ErrNoEvent):
			err = fault.NotFound("usage document %s not found", id)
		case err != nil:
			err = fault.Unavailable(err, "usage documents cannot be read now; retry later")
		}
		doc, received, stored = se.Document, se.ReceivedMs, se.StoredMs
	}
	if err == nil && !auth.Readable(r.Context(), doc.OrganizationID, doc.ResourceID) {
		// Another tenant's document is answered as a missing one, so ids cannot be probed.
		err = fault.NotFound("usage document %s not found", id)
	}
	if err != nil {
		web.WriteError(w, c.log, err)
		return
	}
	h := w.Header()
	h.Set("Meterline-Usage-Id", id)
	h.Set("Meterline-Received", strconv.FormatInt(received, 10))
	h.Set("Meterline-Stored", strconv.FormatInt(stored, 10))
	if rj, ok := c.rejection(r.Context(), doc.OrganizationID, id); ok {
		// A rejected document reads back with why it was not counted.
		h.Set("Meterline-Rejected", rj.Code)
		web.WriteJSON(w, http.StatusOK, rejectedDocument{Document: doc, Rejected: rj})
		return
	}
	web.WriteJSON(w, http.StatusOK, doc)
}

// rejectedDocument is a document as submitted with a "rejected" member after its fields.
type rejectedDocument struct {
	Document usage.Document
	Rejected usage.Rejection
}

func (d rejectedDocument) MarshalJSON() ([]byte, error) {
	doc, err := d.Document.MarshalJSON()
	if err != nil {
		return nil, err
	}
	rj, err := json.Marshal(d.Rejected)
	if err != nil {
		return nil, err
	}
	return append(append(append(doc[:len(doc)-1], `,"rejected":`...), rj...), '}'), nil
}

// rejection looks up whether the processor rejected a document; a failed look-up is logged
// and answered as "not rejected", since the document itself was found.
func (c *Collector) rejection(ctx context.Context, org, id string) (usage.Rejection, bool) {
	if c.archive == nil {
		return usage.Rejection{}, false
	}
	rj, err := c.archive.Rejection(ctx, org, id)
	if err != nil {
		if !errors.Is(err, usage.ErrNotRejected) {
			c.log.Warn("rejection look-up failed", zap.String("id", id), zap.Error(err))
		}
		return usage.Rejection{}, false
	}
	return rj, true
}

// checkContentType accepts application/json (and application/<x>+json) in UTF-8.
func checkContentType(ct string) error {
	unsupported := func(reason string) error {
		return &fault.Error{Kind: fault.KindUnsupportedMediaType, Message: "unsupported content type",
			Problems: []fault.Problem{{Field: "Content-Type", Value: ct, Reason: reason}}}
	}
	if ct == "" {
		return unsupported("is missing; send application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return unsupported("is not a media type; send application/json")
	}
	if mt != "application/json" && !(len(mt) > len("application/+json") && mt[:12] == "application/" && mt[len(mt)-5:] == "+json") {
		return unsupported("must be application/json")
	}
	if cs, ok := params["charset"]; ok && cs != "utf-8" && cs != "UTF-8" {
		return unsupported("charset must be utf-8")
	}
	return nil
}

// location makes path absolute for r's host, as Abacus' Location headers were.
func location(r *http.Request, path string) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}
