package vcloudair

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/meterline/meterline/internal/poller"
)

// Accept is the media type asked for: JSON at API version 5.7, as vcautils asks.
const Accept = "application/json;version=5.7"

// StaticToken is a token given in the settings (METERLINE_VCLOUDAIR_TOKEN): it cannot be
// renewed, so a 401 is an error of kind unauthorized until the setting changes.
type StaticToken string

var _ poller.Auth = StaticToken("")

// Authorize sets the token.
func (t StaticToken) Authorize(_ context.Context, req *http.Request) error {
	req.Header.Set("Authorization", "Bearer "+string(t))
	return nil
}

// Reauthenticate fails: a static token cannot be renewed.
func (StaticToken) Reauthenticate(context.Context, *http.Request) error {
	return errors.New("the token of METERLINE_VCLOUDAIR_TOKEN was refused and cannot be renewed")
}

// Login logs in as the vCloud Air API does: POST /api/iam/login with Basic credentials, the
// token in the answer's vchs-authorization header; again when a request is answered 401.
type Login struct {
	URL, Username, Password string
	HTTP                    *http.Client

	mu    sync.Mutex
	token string
}

var _ poller.Auth = (*Login)(nil)

// Authorize sets the current token, logging in first when there is none.
func (l *Login) Authorize(ctx context.Context, req *http.Request) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.token == "" {
		if err := l.login(ctx); err != nil {
			return err
		}
	}
	req.Header.Set("Authorization", "Bearer "+l.token)
	return nil
}

// Reauthenticate logs in again unless another request did since req's token was refused.
func (l *Login) Reauthenticate(ctx context.Context, req *http.Request) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if refused := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer "); refused != l.token && l.token != "" {
		return nil
	}
	return l.login(ctx)
}

// login gets a token; l.mu is held.
func (l *Login) login(ctx context.Context) error {
	u := strings.TrimSuffix(l.URL, "/") + "/api/iam/login"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(l.Username, l.Password)
	req.Header.Set("Accept", Accept)
	hc := l.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &poller.StatusError{Request: "POST " + u, Status: resp.StatusCode, Body: body}
	}
	tok := resp.Header.Get("vchs-authorization")
	if tok == "" {
		return &poller.ProviderError{Msg: "POST " + u + ": no vchs-authorization header in the answer"}
	}
	l.token = tok
	return nil
}
