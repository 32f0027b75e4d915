package flagstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// WebhookValidator POSTs a candidate document to URL. A 2xx answer accepts
// it; any other answer vetoes it with the response body as the message. A
// request that fails (refused, timed out) also vetoes: the validator fails
// closed.
type WebhookValidator struct {
	URL     string
	Client  *http.Client  // nil: a client with Timeout
	Timeout time.Duration // default 10s
	Header  http.Header   // extra headers, e.g. Authorization
}

var _ Validator = (*WebhookValidator)(nil)

// Headers sent with the document.
const (
	HeaderVersion = "X-Holdfast-Flag-Version"
)

// maxVetoMessage bounds the message read from a vetoing response.
const maxVetoMessage = 1024

// Validate implements Validator.
func (w *WebhookValidator) Validate(ctx context.Context, content []byte, version int) error {
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(content))
	if err != nil {
		return fmt.Errorf("%w: webhook %s: %v", ErrVetoed, w.URL, err)
	}
	for k, vs := range w.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderVersion, strconv.Itoa(version))
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: webhook %s did not answer: %v", ErrVetoed, w.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxVetoMessage))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return fmt.Errorf("%w: webhook %s answered %d: %s", ErrVetoed, w.URL, resp.StatusCode, msg)
}
