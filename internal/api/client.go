package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"holdfast/internal/state"
)

// Client talks to the admin API; the CLI and the demo use it.
type Client struct {
	BaseURL string
	Token   string
	Actor   string
	HTTP    *http.Client
}

// Error is a non-2xx answer from the API.
type Error struct {
	Status   int
	Message  string
	Problems []string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("admin API: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
	for _, p := range e.Problems {
		msg += "\n  " + p
	}
	return msg
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if c.Actor != "" {
		req.Header.Set(ActorHeader, c.Actor)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin API at %s: %w (is `holdfast serve` running? pass --admin URL)", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error    string   `json:"error"`
			Problems []string `json:"problems"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &Error{Status: resp.StatusCode, Message: e.Error, Problems: e.Problems}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// CompactJSON renders a JSON document (a ledger entry's detail, an alarm's
// reason data) on one line; what is not valid JSON is returned as it is.
func CompactJSON(raw []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// Flags lists flags.
func (c *Client) Flags(ctx context.Context) ([]state.Flag, error) {
	var out struct {
		Flags []state.Flag `json:"flags"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/flags", nil, &out)
	return out.Flags, err
}

// Flag gets one flag.
func (c *Client) Flag(ctx context.Context, name string) (state.Flag, error) {
	var out state.Flag
	err := c.do(ctx, http.MethodGet, "/api/v1/flags/"+url.PathEscape(name), nil, &out)
	return out, err
}

// SetFlag flips a flag.
func (c *Client) SetFlag(ctx context.Context, name string, enabled bool, reason string) (SetFlagResponse, error) {
	var out SetFlagResponse
	err := c.do(ctx, http.MethodPut, "/api/v1/flags/"+url.PathEscape(name), SetFlagRequest{Enabled: &enabled, Reason: reason}, &out)
	return out, err
}

// Changes lists the change ledger, newest first.
func (c *Client) Changes(ctx context.Context, kind, subject string, limit int) ([]state.Change, error) {
	q := url.Values{}
	if kind != "" {
		q.Set("kind", kind)
	}
	if subject != "" {
		q.Set("subject", subject)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Changes []state.Change `json:"changes"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/changes?"+q.Encode(), nil, &out)
	return out.Changes, err
}

// Reload asks the daemon to reload its config file.
func (c *Client) Reload(ctx context.Context, reason string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/reload", ReloadRequest{Reason: reason}, nil)
}

// Status returns the daemon's status document.
func (c *Client) Status(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.do(ctx, http.MethodGet, "/api/v1/status", nil, &out)
	return out, err
}
