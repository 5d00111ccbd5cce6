// Package client is a typed Go client of Meterline's HTTP APIs: the Abacus usage collection
// API (a document at a time or in batches) and the Abacus reports (the usage summary report of
// an organization, the resource instance report, and GraphQL over them). It is public and kept
// stable: within v1, fields and options are only added.
//
// Collection is safe to retry: a document's id is a hash of its content, so sending it again
// can never count it twice. The client retries what the server asks it to (503 and 429,
// honouring Retry-After) within a bounded budget and the caller's context, and a 409 answered
// to a retry is the document stored by an earlier attempt: a success. Every other answer that
// is not a success is an *Error carrying the status, the kind and the problems of the server's
// error body.
//
//	c, err := client.New("http://127.0.0.1:8080", client.WithToken(token))
//	if err != nil { ... }
//	r, err := c.Collect(ctx, doc) // r.ID is the document's id
//	rep, err := c.OrganizationReport(ctx, "us-south:org", time.Time{}) // the present
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of the retry budget and of a response's size.
const (
	DefaultMaxAttempts   = 5
	DefaultMaxRetryWait  = 30 * time.Second
	DefaultMaxBatch      = 1000
	DefaultMaxReplyBytes = 64 << 20
	firstBackoff         = 100 * time.Millisecond
	maxBackoff           = 5 * time.Second
)

// Client calls one Meterline deployment. It is safe for concurrent use.
type Client struct {
	base        *url.URL
	http        *http.Client
	token       string
	maxAttempts int
	maxWait     time.Duration
	maxBatch    int
	maxReply    int64
	sleep       func(ctx context.Context, d time.Duration) error
}

// Option configures a Client.
type Option func(*Client)

// WithToken authenticates every request with the bearer token tok.
func WithToken(tok string) Option { return func(c *Client) { c.token = tok } }

// WithHTTPClient sends the requests with h instead of http.DefaultClient.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithRetry bounds the retries of a call: at most attempts tries in all (1: no retry), and at
// most wait spent waiting between them. A Retry-After beyond what is left of wait ends the
// call with the server's error rather than sleeping past the budget.
func WithRetry(attempts int, wait time.Duration) Option {
	return func(c *Client) { c.maxAttempts, c.maxWait = attempts, wait }
}

// WithMaxBatch sets how many documents one batch request holds (the server's
// METERLINE_MAX_BATCH_DOCUMENTS, 1,000 by default); CollectBatch splits longer lists.
func WithMaxBatch(n int) Option { return func(c *Client) { c.maxBatch = n } }

// WithSleep replaces how the client waits between attempts (by default a timer that ends
// early, with ctx's error, when ctx does). Tests use it to retry without waiting.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = sleep }
}

// New returns a client of the Meterline at baseURL (scheme and host, and a path prefix if it
// is served under one).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http(s)://host[:port]", baseURL)
	}
	u.Path, u.RawPath = strings.TrimSuffix(u.Path, "/"), strings.TrimSuffix(u.RawPath, "/")
	u.RawQuery, u.Fragment = "", ""
	c := &Client{base: u, http: http.DefaultClient, maxAttempts: DefaultMaxAttempts, maxWait: DefaultMaxRetryWait,
		maxBatch: DefaultMaxBatch, maxReply: DefaultMaxReplyBytes, sleep: sleepCtx}
	for _, o := range opts {
		o(c)
	}
	switch {
	case c.maxAttempts < 1:
		return nil, fmt.Errorf("client: retry attempts %d: want at least 1", c.maxAttempts)
	case c.maxWait < 0:
		return nil, fmt.Errorf("client: retry wait %s: want at least 0", c.maxWait)
	case c.maxBatch < 1:
		return nil, fmt.Errorf("client: batch size %d: want at least 1", c.maxBatch)
	}
	return c, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reply is a response read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// request is one call: what to send on every attempt.
type request struct {
	method, path, contentType string
	body                      []byte
}

// do sends req once; req.path is escaped already (each segment with url.PathEscape).
func (c *Client) do(ctx context.Context, req request) (reply, error) {
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, c.base.String()+req.path, body)
	if err != nil {
		return reply{}, fmt.Errorf("client: %s %s: %w", req.method, req.path, err)
	}
	if req.contentType != "" {
		hr.Header.Set("Content-Type", req.contentType)
	}
	hr.Header.Set("Accept", "application/json")
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return reply{}, fmt.Errorf("client: %s %s: %w", req.method, req.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.maxReply+1))
	if err != nil {
		return reply{}, fmt.Errorf("client: %s %s: reading the answer: %w", req.method, req.path, err)
	}
	if int64(len(b)) > c.maxReply {
		return reply{}, fmt.Errorf("client: %s %s: the answer is over %d bytes", req.method, req.path, c.maxReply)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// retry sends the request next gives for each attempt (1 for the first) until its answer is
// final: not 503 or 429, or final says so (final sees every answer). It returns the last
// answer; a transport error or a retriable answer is retried while the budget lasts, and a
// transport error that outlasts it is returned.
func (c *Client) retry(ctx context.Context, next func(attempt int) request, final func(r reply, attempt int) bool) (reply, error) {
	waited := time.Duration(0)
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		req := next(attempt)
		r, err := c.do(ctx, req)
		if err == nil {
			if done := final(r, attempt); done || !retriable(r.status) {
				return r, nil
			}
		}
		if ctx.Err() != nil {
			return r, errors.Join(err, ctx.Err())
		}
		wait, told := retryAfter(r)
		if !told {
			wait, backoff = backoff, min(2*backoff, maxBackoff)
		}
		if attempt >= c.maxAttempts || waited+wait > c.maxWait {
			if err != nil {
				return r, err
			}
			return r, nil // the last retriable answer, for the caller to report
		}
		if err := c.sleep(ctx, wait); err != nil {
			return r, fmt.Errorf("client: waiting to retry: %w", err)
		}
		waited += wait
	}
}

func retriable(status int) bool {
	return status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests
}

// retryAfter reads an answer's Retry-After: delay-seconds, or an HTTP date, taken relative to
// the answer's own Date header so that no clock of this machine is read (without a Date, a
// date is not honoured). told is false when the answer gives none.
func retryAfter(r reply) (d time.Duration, told bool) {
	v := strings.TrimSpace(r.header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second) // beyond any budget; kept from overflowing
		}
		return time.Duration(n) * time.Second, true
	}
	at, err1 := http.ParseTime(v)
	now, err2 := http.ParseTime(r.header.Get("Date"))
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return max(at.Sub(now), 0), true
}

// call sends the same request until it is final and decodes a 2xx answer's JSON into out.
func (c *Client) call(ctx context.Context, req request, out any) (reply, error) {
	r, err := c.retry(ctx, func(int) request { return req }, func(reply, int) bool { return false })
	if err != nil {
		return r, err
	}
	if r.status/100 != 2 {
		return r, errorOf(r)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			return r, fmt.Errorf("client: %s %s: the answer is not the JSON expected: %w", req.method, req.path, err)
		}
	}
	return r, nil
}
