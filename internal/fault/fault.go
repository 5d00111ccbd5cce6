// Package fault defines Meterline's typed errors. Domain packages return them with a kind
// (invalid input, not found, conflict, unavailable dependency, ...) and, for invalid input,
// every problem found, so a client sees all of its mistakes at once. The HTTP layer maps a
// kind to a status in one place (package web); nothing else decides statuses.
package fault

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an error for its callers.
type Kind uint8

const (
	// KindInternal is a bug or an unexpected failure; the default for unclassified errors.
	KindInternal Kind = iota
	// KindInvalid is input that breaks the contract; Problems names each breach.
	KindInvalid
	// KindNotFound is a reference to something that does not exist.
	KindNotFound
	// KindConflict is a request that clashes with what exists (a duplicate document).
	KindConflict
	// KindTooLarge is input over a size limit.
	KindTooLarge
	// KindUnsupportedMediaType is input in a format the endpoint does not take.
	KindUnsupportedMediaType
	// KindUnavailable is a dependency (Kafka, ClickHouse) that cannot serve now; retrying later
	// may succeed.
	KindUnavailable
	// KindUnauthenticated is a request without valid credentials: no token, or one that is
	// expired, wrongly signed, revoked or from another issuer.
	KindUnauthenticated
	// KindForbidden is a request whose credentials do not allow it: another organization, a
	// resource or an operation its scopes do not grant.
	KindForbidden
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not_found"
	case KindConflict:
		return "conflict"
	case KindTooLarge:
		return "too_large"
	case KindUnsupportedMediaType:
		return "unsupported_media_type"
	case KindUnavailable:
		return "unavailable"
	case KindUnauthenticated:
		return "unauthenticated"
	case KindForbidden:
		return "forbidden"
	default:
		return "internal"
	}
}

// Problem is one thing wrong with a piece of input: which field (a path such as
// "measured_usage[1].quantity", or "" for the input as a whole), the offending value when
// there is one, and why it is wrong.
type Problem struct {
	Field  string `json:"field"`
	Value  any    `json:"value,omitempty"`
	Reason string `json:"reason"`
}

func (p Problem) String() string {
	if p.Field == "" {
		return p.Reason
	}
	return p.Field + ": " + p.Reason
}

// Error is a classified error. Location, when set, names the resource the error is about (the
// original document of a duplicate).
type Error struct {
	Kind     Kind
	Message  string
	Problems []Problem
	Location string
	Err      error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	for i, p := range e.Problems {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Invalid reports input that breaks the contract, with every problem found.
func Invalid(message string, problems ...Problem) *Error {
	return &Error{Kind: KindInvalid, Message: message, Problems: problems}
}

// NotFound reports a reference to something that does not exist.
func NotFound(format string, args ...any) *Error {
	return &Error{Kind: KindNotFound, Message: fmt.Sprintf(format, args...)}
}

// Conflict reports a clash with an existing resource at location.
func Conflict(location, format string, args ...any) *Error {
	return &Error{Kind: KindConflict, Message: fmt.Sprintf(format, args...), Location: location}
}

// Unavailable reports a dependency that cannot serve now, wrapping its error.
func Unavailable(err error, format string, args ...any) *Error {
	return &Error{Kind: KindUnavailable, Message: fmt.Sprintf(format, args...), Err: err}
}

// Unauthenticated reports a request without valid credentials.
func Unauthenticated(format string, args ...any) *Error {
	return &Error{Kind: KindUnauthenticated, Message: fmt.Sprintf(format, args...)}
}

// Forbidden reports a request its credentials do not allow.
func Forbidden(format string, args ...any) *Error {
	return &Error{Kind: KindForbidden, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of the first *Error in err's chain, or KindInternal.
func KindOf(err error) Kind {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Kind
	}
	return KindInternal
}
