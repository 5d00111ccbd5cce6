package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxResponse bounds what the command line reads of one answer: a report of a large
// organization is megabytes, never this.
const maxResponse = 256 << 20

// BaseURL is the URL the commands speak to unless --url names one: Meterline's own HTTP
// address, METERLINE_HTTP_ADDR, which defaults to 127.0.0.1:8080.
func BaseURL(getenv func(string) string) string {
	addr := getenv("METERLINE_HTTP_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	return "http://" + addr
}

// Client sends requests to one Meterline with one bearer credential (none when token is
// empty: a loopback Meterline without authentication admits that).
type Client struct {
	Base  string
	Token string
	HTTP  *http.Client
}

// NewClient returns a client of the Meterline at base.
func NewClient(base, token string) *Client {
	return &Client{Base: strings.TrimSuffix(base, "/"), Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// Do sends method path with body (nil for none) and returns the status and the answer, read
// up to maxResponse (a longer answer is an error, not a truncated document).
func (c *Client) Do(method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err == nil && len(b) > maxResponse {
		err = fmt.Errorf("the answer is larger than %d bytes", maxResponse)
	}
	return resp.StatusCode, b, err
}

// APIError is an answer of status 4xx or 5xx, with the problems Meterline's error body names
// (web.ErrorBody: error, kind, problems).
type APIError struct {
	Status   int
	Message  string
	Kind     string
	Problems []Problem
}

// Problem is one problem of an APIError: the field, the value sent and why it was refused.
type Problem struct {
	Field  string `json:"field"`
	Value  any    `json:"value,omitempty"`
	Reason string `json:"reason"`
}

// ErrorOf reads the error body of an answer of status. A body that is not Meterline's error
// JSON (a proxy's page, say) is shown as text, its first 500 bytes.
func ErrorOf(status int, body []byte) *APIError {
	var b struct {
		Error    string    `json:"error"`
		Kind     string    `json:"kind"`
		Problems []Problem `json:"problems"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Error == "" {
		text := strings.TrimSpace(string(body))
		if len(text) > 500 {
			text = text[:500] + "…"
		}
		return &APIError{Status: status, Message: text}
	}
	return &APIError{Status: status, Message: b.Error, Kind: b.Kind, Problems: b.Problems}
}

func (e *APIError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d %s", e.Status, http.StatusText(e.Status))
	if e.Kind != "" {
		fmt.Fprintf(&sb, " (%s)", e.Kind)
	}
	if e.Message != "" {
		fmt.Fprintf(&sb, ": %s", e.Message)
	}
	for _, p := range e.Problems {
		sb.WriteString("\n  ")
		if p.Field != "" {
			sb.WriteString(p.Field + ": ")
		}
		sb.WriteString(p.Reason)
		if p.Value != nil {
			v, _ := json.Marshal(p.Value)
			fmt.Fprintf(&sb, " (value %s)", v)
		}
	}
	return sb.String()
}

var _ error = (*APIError)(nil)
