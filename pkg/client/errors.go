package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Kinds of error the server names in an error body's "kind" (and GraphQL errors' "code").
const (
	KindInvalid              = "invalid"
	KindTooLarge             = "too_large"
	KindUnsupportedMediaType = "unsupported_media_type"
	KindNotFound             = "not_found"
	KindConflict             = "conflict"
	KindUnauthenticated      = "unauthenticated"
	KindForbidden            = "forbidden"
	KindUnavailable          = "unavailable"
	KindInternal             = "internal"
)

// Problem is one thing wrong with a request: the field, the value it had, and why.
type Problem struct {
	Field  string `json:"field"`
	Value  any    `json:"value,omitempty"`
	Reason string `json:"reason"`
}

// ErrorBody is the JSON body of an error answer (and of a batch item's error).
type ErrorBody struct {
	Error    string    `json:"error"`
	Kind     string    `json:"kind"`
	Problems []Problem `json:"problems,omitempty"`
	Location string    `json:"location,omitempty"`
}

// GraphQLError is one error of a GraphQL answer.
type GraphQLError struct {
	Message    string           `json:"message"`
	Path       []any            `json:"path,omitempty"`
	Locations  []map[string]int `json:"locations,omitempty"`
	Extensions map[string]any   `json:"extensions,omitempty"`
}

// Error is an answer that is not a success: its HTTP status, and what its body says. Status
// 503 or 429 means the server asked to be retried later and the retry budget ran out.
type Error struct {
	Status   int
	Kind     string
	Message  string
	Problems []Problem
	// Location is the original's location of a duplicate document (409).
	Location string
	// GraphQL holds a GraphQL answer's errors.
	GraphQL []GraphQLError
	// Body is the answer's body as received, when it was not an error body.
	Body []byte
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "meterline: %d", e.Status)
	if e.Kind != "" {
		b.WriteString(" " + e.Kind)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "; %s", p.Field)
		if p.Value != nil {
			fmt.Fprintf(&b, " %v", p.Value)
		}
		b.WriteString(": " + p.Reason)
	}
	return b.String()
}

// IsDuplicate reports whether err is the 409 of a document submitted before this call.
func IsDuplicate(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusConflict
}

// IsNotFound reports whether err is a 404: no such organization, instance or document.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// errorOf reads an error answer. A body that is not an error body is kept as it is; one of a
// GraphQL answer gives its errors, the first one's code and message standing for the whole.
func errorOf(r reply) *Error {
	e := &Error{Status: r.status}
	var body struct {
		ErrorBody
		Errors []GraphQLError `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error == "" && len(body.Errors) == 0 {
		e.Message, e.Body = http.StatusText(r.status), r.body
		return e
	}
	e.Kind, e.Message, e.Problems, e.Location = body.Kind, body.Error, body.Problems, body.Location
	if len(body.Errors) > 0 {
		e.GraphQL = body.Errors
		first := body.Errors[0]
		e.Message = first.Message
		if code, ok := first.Extensions["code"].(string); ok {
			e.Kind = code
		} else {
			e.Kind = kindOfStatus(r.status) // a query the GraphQL validation refused names none
		}
		if raw, ok := first.Extensions["problems"]; ok {
			b, _ := json.Marshal(raw) // decoded from JSON, so it encodes
			_ = json.Unmarshal(b, &e.Problems)
		}
	}
	return e
}

// kindOfStatus is the kind the server maps to status, for errors that name none.
func kindOfStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return KindInvalid
	case http.StatusUnauthorized:
		return KindUnauthenticated
	case http.StatusForbidden:
		return KindForbidden
	case http.StatusNotFound:
		return KindNotFound
	case http.StatusConflict:
		return KindConflict
	case http.StatusServiceUnavailable:
		return KindUnavailable
	default:
		return KindInternal
	}
}
