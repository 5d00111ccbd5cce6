// Test support: the merged document for tests and the validator of answers against it.
// `make lint`'s dead-code check passes over this file, since only tests reach it.

package openapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Validator checks answers against the merged document with kin-openapi's openapi3filter:
// the route and status must be described, and the body must match the schema of its status
// and content type. Tests of the APIs use it on what their handlers write.
type Validator struct {
	router routers.Router
}

// NewValidator returns a Validator over Document. Its servers are dropped, so that an answer
// of any host (a test server's) is matched by path alone.
func NewValidator() (*Validator, error) {
	raw, err := JSON()
	if err != nil {
		return nil, err
	}
	return NewValidatorOf(raw)
}

// NewValidatorOf returns a Validator over the document raw (as /openapi.json serves it).
func NewValidatorOf(raw []byte) (*Validator, error) {
	doc, err := Load(raw) // a copy of its own: the servers are changed
	if err != nil {
		return nil, err
	}
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &Validator{router: router}, nil
}

// ErrNoOperation is the error of Response for a request the document has no operation for.
var ErrNoOperation = errors.New("no operation of the OpenAPI document")

// Response checks the answer (status, header, body) to req. The error names the route and
// the status, and what does not match; for a route not in the document it wraps
// ErrNoOperation.
func (v *Validator) Response(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w: %w", req.Method, req.URL.Path, ErrNoOperation, err)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true,
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s (operation %s) answered %d: %w\nbody: %.2000s", req.Method, req.URL.Path, route.Operation.OperationID, status, err, body)
	}
	return nil
}

// Handler wraps h so that every answer it writes is checked with Response; each failure is
// passed to fail (a test's t.Error).
func (v *Validator) Handler(h http.Handler, fail func(args ...any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		if err := v.Response(r, rec.status, w.Header(), rec.body.Bytes()); err != nil {
			fail(err)
		}
	})
}

// recorder passes an answer on while keeping its status and body.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// Document returns the merged document, loaded and validated by kin-openapi.
func Document() (*openapi3.T, error) {
	raw, err := JSON()
	if err != nil {
		return nil, err
	}
	return Load(raw)
}
