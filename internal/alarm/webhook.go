package alarm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ChangeLister lists the changes in flight at a time (flag deployments,
// rollouts...). The daemon implements it with the change ledger; each change
// is passed through to the webhook body as is.
type ChangeLister interface {
	InFlight(ctx context.Context, at time.Time) ([]json.RawMessage, error)
}

// Webhook defaults.
const (
	DefaultWebhookAttempts       = 5
	DefaultWebhookInitialBackoff = time.Second
	DefaultWebhookMaxBackoff     = 30 * time.Second
	DefaultWebhookTimeout        = 10 * time.Second
)

// Webhook is an [Action] that POSTs a JSON notification to URL, retrying
// with exponential backoff. It runs on the Manager's action goroutine, so
// retries never block evaluation.
type Webhook struct {
	URL     string
	Client  *http.Client // nil: a client with DefaultWebhookTimeout
	Changes ChangeLister // nil: changes_in_flight is an empty list
	Header  http.Header  // extra request headers (e.g. authorization)

	MaxAttempts    int           // ≤ 0: DefaultWebhookAttempts
	InitialBackoff time.Duration // ≤ 0: DefaultWebhookInitialBackoff; doubles per retry
	MaxBackoff     time.Duration // ≤ 0: DefaultWebhookMaxBackoff

	// Sleep waits between attempts; nil waits on a timer. Tests inject it.
	Sleep func(ctx context.Context, d time.Duration) error
}

var _ Action = (*Webhook)(nil)

// WebhookPayload is the JSON body the webhook sends.
type WebhookPayload struct {
	Alarm           string            `json:"alarm"`
	State           State             `json:"state"`
	PreviousState   State             `json:"previous_state"`
	Reason          string            `json:"reason"`
	ReasonData      json.RawMessage   `json:"reason_data,omitempty"`
	Time            time.Time         `json:"time"`
	ChangesInFlight []json.RawMessage `json:"changes_in_flight"`
}

// HTTPStatusError is a non-2xx answer from a webhook receiver.
type HTTPStatusError struct {
	StatusCode int
	Body       string // at most 512 bytes
}

func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("webhook answered %d: %s", e.StatusCode, e.Body)
}

// permanentError marks a failure that retrying cannot fix (a bad URL).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// retryable reports whether a failed attempt is worth retrying: network
// errors, 408, 429 and 5xx are; other 4xx answers are not.
func retryable(err error) bool {
	var pe permanentError
	if errors.As(err, &pe) {
		return false
	}
	var he *HTTPStatusError
	if errors.As(err, &he) {
		return he.StatusCode == http.StatusRequestTimeout || he.StatusCode == http.StatusTooManyRequests || he.StatusCode >= 500
	}
	return true
}

func sleepTimer(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Fire sends the notification for t.
func (w *Webhook) Fire(ctx context.Context, t Transition) error {
	p := WebhookPayload{
		Alarm:           t.Alarm,
		State:           t.To,
		PreviousState:   t.From,
		Reason:          t.Reason,
		ReasonData:      t.ReasonData,
		Time:            t.Time.UTC(),
		ChangesInFlight: []json.RawMessage{},
	}
	if w.Changes != nil {
		changes, err := w.Changes.InFlight(ctx, t.Time)
		if err != nil {
			// Notify anyway: a missing ledger must not silence an alarm.
			p.ChangesInFlight = []json.RawMessage{mustJSON(map[string]string{"error": "list changes in flight: " + err.Error()})}
		} else if changes != nil {
			p.ChangesInFlight = changes
		}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("webhook %s: encode: %w", t.Alarm, err)
	}
	attempts := w.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultWebhookAttempts
	}
	backoff := w.InitialBackoff
	if backoff <= 0 {
		backoff = DefaultWebhookInitialBackoff
	}
	maxBackoff := w.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = DefaultWebhookMaxBackoff
	}
	sleep := w.Sleep
	if sleep == nil {
		sleep = sleepTimer
	}
	for attempt := 1; ; attempt++ {
		err = w.post(ctx, body)
		if err == nil {
			return nil
		}
		if attempt >= attempts || !retryable(err) || ctx.Err() != nil {
			return fmt.Errorf("webhook for alarm %s to %s: attempt %d of %d: %w", t.Alarm, w.URL, attempt, attempts, err)
		}
		if serr := sleep(ctx, backoff); serr != nil {
			return fmt.Errorf("webhook for alarm %s: %w (after: %w)", t.Alarm, serr, err)
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func (w *Webhook) post(ctx context.Context, body []byte) error {
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: DefaultWebhookTimeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return permanentError{fmt.Errorf("build request: %w", err)}
	}
	for k, vs := range w.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &HTTPStatusError{StatusCode: resp.StatusCode, Body: string(bytes.TrimSpace(snippet))}
	}
	return nil
}
