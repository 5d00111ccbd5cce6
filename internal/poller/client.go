package poller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/meterline/meterline/internal/platform/clock"
)

// Auth gives the credentials of a provider's requests.
type Auth interface {
	// Authorize sets the request's credentials (a token header).
	Authorize(ctx context.Context, req *http.Request) error
	// Reauthenticate gets new credentials after req was answered 401 with the ones
	// Authorize set; an error says none can be had (a static token that expired).
	Reauthenticate(ctx context.Context, req *http.Request) error
}

// Client makes a provider's GET requests: with the credentials of Auth, re-authenticating
// once and trying again when an answer is 401; with Timeout per request; and with every
// answer other than 2xx returned as a *StatusError (Retry-After read against Clock).
type Client struct {
	HTTP    *http.Client
	Auth    Auth
	Timeout time.Duration
	Clock   clock.Clock
	// MaxBody bounds the bytes of an answer read (64 MiB when 0); a longer one is an error.
	MaxBody int64
}

// Answer is a 2xx answer.
type Answer struct {
	Header http.Header
	Body   []byte
}

// Get requests url with header and returns the answer.
func (c *Client) Get(ctx context.Context, url string, header http.Header) (Answer, error) {
	ans, status, err := c.get(ctx, url, header, false)
	if err == nil && status == http.StatusUnauthorized {
		ans, _, err = c.get(ctx, url, header, true)
	}
	return ans, err
}

func (c *Client) get(ctx context.Context, url string, header http.Header, reauth bool) (Answer, int, error) {
	what := "GET " + url
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Answer{}, 0, fmt.Errorf("%s: %w", what, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if c.Auth != nil {
		// On the retry after a 401, the request first carries the refused credentials, which
		// Reauthenticate is given (so that of two requests refused together, one renews).
		if err := c.Auth.Authorize(ctx, req); err != nil {
			return Answer{}, 0, authFailed(what, "authentication failed", err)
		}
		if reauth {
			if err := c.Auth.Reauthenticate(ctx, req); err != nil {
				return Answer{}, 0, authFailed(what, "re-authentication failed", err)
			}
			if err := c.Auth.Authorize(ctx, req); err != nil {
				return Answer{}, 0, authFailed(what, "authentication failed", err)
			}
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Answer{}, 0, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	limit := c.MaxBody
	if limit <= 0 {
		limit = 64 << 20
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return Answer{}, 0, fmt.Errorf("%s: read the answer: %w", what, err)
	}
	if int64(len(body)) > limit {
		return Answer{}, 0, fmt.Errorf("%s: the answer is over %d bytes", what, limit)
	}
	if resp.StatusCode == http.StatusUnauthorized && !reauth && c.Auth != nil {
		return Answer{}, resp.StatusCode, nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Answer{}, resp.StatusCode, &StatusError{Request: what, Status: resp.StatusCode, Body: body[:min(len(body), 4096)],
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), clock.Or(c.Clock).Now())}
	}
	return Answer{Header: resp.Header, Body: body}, resp.StatusCode, nil
}

// authFailed is the error of credentials that could not be had: the StatusError of the
// authentication's own answer when it was one, else a 401.
func authFailed(what, how string, err error) error {
	var se *StatusError
	if errors.As(err, &se) {
		return fmt.Errorf("%s: %s: %w", what, how, err)
	}
	return &StatusError{Request: what, Status: http.StatusUnauthorized, Body: []byte(how + ": " + err.Error())}
}
