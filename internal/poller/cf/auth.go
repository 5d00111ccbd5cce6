package cf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/meterline/meterline/internal/poller"
)

// StaticToken is a bearer token given in the settings (METERLINE_CF_TOKEN): it cannot be
// renewed, so a 401 is an error of kind unauthorized until the setting changes.
type StaticToken string

var _ poller.Auth = StaticToken("")

// Authorize sets the token.
func (t StaticToken) Authorize(_ context.Context, req *http.Request) error {
	req.Header.Set("Authorization", "bearer "+strings.TrimPrefix(strings.TrimPrefix(string(t), "bearer "), "Bearer "))
	return nil
}

// Reauthenticate fails: a static token cannot be renewed.
func (StaticToken) Reauthenticate(context.Context, *http.Request) error {
	return errors.New("the token of METERLINE_CF_TOKEN was refused and cannot be renewed")
}

// UAA gets tokens from UAA by the client credentials grant, and a new one when Cloud
// Controller answers 401 (an expired token).
type UAA struct {
	URL, ClientID, ClientSecret string
	HTTP                        *http.Client

	mu    sync.Mutex
	token string
}

var _ poller.Auth = (*UAA)(nil)

// Authorize sets the current token, getting one first when there is none.
func (u *UAA) Authorize(ctx context.Context, req *http.Request) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.token == "" {
		if err := u.fetch(ctx); err != nil {
			return err
		}
	}
	req.Header.Set("Authorization", "bearer "+u.token)
	return nil
}

// Reauthenticate gets a new token unless another request did since req was refused.
func (u *UAA) Reauthenticate(ctx context.Context, req *http.Request) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if "bearer "+u.token != req.Header.Get("Authorization") {
		return nil
	}
	return u.fetch(ctx)
}

func (u *UAA) fetch(ctx context.Context) error {
	endpoint := strings.TrimSuffix(u.URL, "/") + "/oauth/token"
	form := url.Values{"grant_type": {"client_credentials"}, "response_type": {"token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.SetBasicAuth(url.QueryEscape(u.ClientID), url.QueryEscape(u.ClientSecret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	hc := u.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("POST %s: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &poller.StatusError{Request: "POST " + endpoint, Status: resp.StatusCode, Body: body[:min(len(body), 4096)]}
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return &poller.StatusError{Request: "POST " + endpoint, Status: http.StatusUnauthorized, Body: []byte("UAA answered no access_token")}
	}
	u.token = tok.AccessToken
	return nil
}
