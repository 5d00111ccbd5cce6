// Package web holds what every Meterline HTTP API shares: JSON responses, the one mapping of
// error kinds to HTTP statuses, the health endpoints and the server's start and stop.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/fault"
)

// ErrorBody is the JSON body of every error response: a message, the kind of error, and for
// invalid input each problem (field, value, reason).
type ErrorBody struct {
	Error    string          `json:"error"`
	Kind     string          `json:"kind"`
	Problems []fault.Problem `json:"problems,omitempty"`
	Location string          `json:"location,omitempty"`
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // formulas such as (m) => m.x must read as written
	_ = enc.Encode(v)        // the client may be gone; nothing else to do
}

// ReadBody reads a request's body of at most limit bytes. A longer one is fault.KindTooLarge; one
// that cannot be read otherwise (the client went away, a broken chunked encoding) is invalid
// input.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, &fault.Error{Kind: fault.KindTooLarge, Message: "request body too large",
			Problems: []fault.Problem{{Reason: fmt.Sprintf("the body is larger than %d bytes", tooLarge.Limit)}}}
	case err != nil:
		return nil, fault.Invalid("unreadable request body", fault.Problem{Reason: "the body could not be read: " + err.Error()})
	}
	return body, nil
}

// Status returns the HTTP status for err's kind.
func Status(err error) int { return StatusOf(fault.KindOf(err)) }

// StatusOf returns the HTTP status for an error kind.
func StatusOf(k fault.Kind) int {
	switch k {
	case fault.KindInvalid:
		return http.StatusBadRequest
	case fault.KindNotFound:
		return http.StatusNotFound
	case fault.KindConflict:
		return http.StatusConflict
	case fault.KindTooLarge, fault.KindUnsupportedMediaType:
		// Bad input, answered 400 like every other as the collection API asks; the body's
		// kind (too_large, unsupported_media_type) tells them apart.
		return http.StatusBadRequest
	case fault.KindUnavailable:
		return http.StatusServiceUnavailable
	case fault.KindUnauthenticated:
		return http.StatusUnauthorized
	case fault.KindForbidden:
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}

// WriteError answers with err's status and an ErrorBody. Internal errors are logged and their
// text is not shown to the client; an unavailable dependency gets a Retry-After header.
func WriteError(w http.ResponseWriter, log *zap.Logger, err error) {
	status, body := ErrorOf(log, err)
	if body.Location != "" {
		w.Header().Set("Location", body.Location)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	WriteJSON(w, status, body)
}

// ErrorOf returns the status and the body WriteError answers err with (for an API that answers
// several errors in one response). An internal error is logged, and its text is not shown.
func ErrorOf(log *zap.Logger, err error) (int, ErrorBody) {
	status := Status(err)
	body := ErrorBody{Error: err.Error(), Kind: fault.KindOf(err).String()}
	var fe *fault.Error
	if errors.As(err, &fe) {
		body.Error = fe.Message
		body.Problems = fe.Problems
		body.Location = fe.Location
	}
	switch status {
	case http.StatusInternalServerError:
		log.Error("internal error", zap.Error(err))
		body.Error = "internal error"
	case http.StatusServiceUnavailable:
		log.Warn("dependency unavailable", zap.Error(err))
	}
	return status, body
}

// Check is one readiness check: it returns nil when its dependency answers.
type Check func(ctx context.Context) error

// Health serves /healthz (the process runs) and /readyz (every check passes, each within 2s).
type Health struct {
	checks map[string]Check
}

// NewHealth returns a Health with the given readiness checks.
func NewHealth(checks map[string]Check) *Health { return &Health{checks: checks} }

// Register adds routes for /healthz and /readyz to mux.
func (h *Health) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", h.ready)
}

func (h *Health) ready(w http.ResponseWriter, r *http.Request) {
	checks := h.checks
	type result struct{ name, err string }
	results := make(chan result, len(checks))
	for name, check := range checks {
		go func() {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			res := result{name: name}
			if err := check(ctx); err != nil {
				res.err = err.Error()
			}
			results <- res
		}()
	}
	status, body := http.StatusOK, map[string]any{}
	states := map[string]string{}
	for range checks {
		res := <-results
		if res.err != "" {
			status = http.StatusServiceUnavailable
			states[res.name] = res.err
		} else {
			states[res.name] = "ok"
		}
	}
	body["checks"] = states
	body["status"] = map[bool]string{true: "ready", false: "not ready"}[status == http.StatusOK]
	WriteJSON(w, status, body)
}

// Server is an HTTP server that starts listening before Serve returns control, so a caller
// knows the address is bound, and stops gracefully.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen binds addr for handler.
func Listen(addr string, handler http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			IdleTimeout:       120 * time.Second,
		},
	}, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until Shutdown; it returns nil after a shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting connections and waits for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
