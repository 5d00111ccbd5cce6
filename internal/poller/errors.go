package poller

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"
)

// The kinds of failure, the label of meterline_poller_errors_total.
const (
	KindRateLimited   = "rate_limited"  // 429 (or 503 with Retry-After)
	KindServer        = "server"        // 5xx
	KindClient        = "client"        // another 4xx: a request the provider refuses
	KindUnauthorized  = "unauthorized"  // 401 or 403 even after re-authenticating
	KindUndecodable   = "undecodable"   // an answer that does not decode
	KindTimeout       = "timeout"       // no answer within the timeout
	KindTransport     = "transport"     // the connection failed
	KindProvider      = "provider"      // the provider's data or version cannot be used
	KindPublish       = "publish"       // Kafka did not commit the batch
	KindFenced        = "fenced"        // another instance of the source took over
	KindState         = "state"         // the state could not be read
	KindMisconfigured = "misconfigured" // settings that cannot work (a token that sees no usage)
)

// StatusError is an answer with a status other than 2xx.
type StatusError struct {
	Request    string
	Status     int
	RetryAfter time.Duration // from the Retry-After header; 0 when absent
	Body       []byte        // at most 4 KiB of it
}

func (e *StatusError) Error() string {
	msg := strings.TrimSpace(string(e.Body))
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return e.Request + ": status " + strconv.Itoa(e.Status) + ": " + msg
}

// ProviderError is data or a version of the provider a poller cannot use (a microversion too
// old, a clock behind ours); it is retried after a pause like any failure.
type ProviderError struct{ Msg string }

func (e *ProviderError) Error() string { return e.Msg }

// MisconfiguredError is a provider answer that shows the poller's settings cannot work (a
// token without the read it needs): retried after a pause, reported as kind misconfigured.
type MisconfiguredError struct{ Msg string }

func (e *MisconfiguredError) Error() string { return e.Msg }

// KindOf tells the kind of a Poll error.
func KindOf(err error) string {
	var se *StatusError
	var de *DecodeError
	var pe *ProviderError
	var ne net.Error
	var me *MisconfiguredError
	switch {
	case errors.As(err, &me):
		return KindMisconfigured
	case errors.As(err, &de):
		return KindUndecodable
	case errors.As(err, &se) && se.Status == 429:
		return KindRateLimited
	case errors.As(err, &se) && (se.Status == 401 || se.Status == 403):
		return KindUnauthorized
	case errors.As(err, &se) && se.Status >= 500:
		return KindServer
	case errors.As(err, &se):
		return KindClient
	case errors.As(err, &pe):
		return KindProvider
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	default:
		return KindTransport
	}
}

// maxRetryAfter bounds the wait a provider may ask for, so that a bogus header cannot stop a
// poller for days.
const maxRetryAfter = 15 * time.Minute

// RetryAfterOf returns the wait a 429 or 503 answer asked for, 0 when none.
func RetryAfterOf(err error) time.Duration {
	var se *StatusError
	if errors.As(err, &se) && (se.Status == 429 || se.Status == 503) {
		return min(se.RetryAfter, maxRetryAfter)
	}
	return 0
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date (taken relative
// to now). An unreadable or past value is 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return min(time.Duration(n)*time.Second, maxRetryAfter)
	}
	if t, err := time.Parse(time.RFC1123, v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

// Backoff paces retries: the n-th failure in a row waits between half and all of
// min(Max, Base·2ⁿ), the half above the floor drawn at random ("equal jitter"), so that many
// pollers failing together do not retry together, yet every wait grows.
type Backoff struct {
	Base, Max time.Duration
	// Rand returns a number in [0, n); nil is math/rand/v2. Tests pin it.
	Rand func(n int64) int64
}

// DefaultBackoff waits from about a second up to five minutes.
var DefaultBackoff = Backoff{Base: time.Second, Max: 5 * time.Minute}

// Pause returns the wait after the n-th failure in a row (n from 0).
func (b Backoff) Pause(n int) time.Duration {
	base, ceil := b.Base, b.Max
	if base <= 0 {
		base = DefaultBackoff.Base
	}
	if ceil < base {
		ceil = max(base, DefaultBackoff.Max)
	}
	d := ceil
	if n < 40 && base<<n > 0 && base<<n < ceil {
		d = base << n
	}
	r := b.Rand
	if r == nil {
		r = rand.Int64N
	}
	half := d / 2
	return half + time.Duration(r(int64(d-half)+1))
}
