package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Hook is an HTTP lifecycle hook (CodeDeploy's BeforeAllowTraffic and
// AfterAllowTraffic): a POST of a HookPayload; any 2xx answer within
// Timeout passes, anything else (another status, a transport error, the
// timeout) fails and rolls the rollout back.
type Hook struct {
	URL     string        `json:"url"`
	Timeout time.Duration `json:"timeout,omitempty"` // default DefaultHookTimeout
}

// Hook timeouts.
const (
	DefaultHookTimeout = 60 * time.Second
	MaxHookTimeout     = time.Hour // CodeDeploy's limit for a lifecycle hook
)

// HookPhase says which hook is called.
type HookPhase string

// Hook phases.
const (
	PhasePreTraffic  HookPhase = "pre_traffic"
	PhasePostTraffic HookPhase = "post_traffic"
)

// HookPayload is the JSON body POSTed to a hook.
type HookPayload struct {
	RolloutID string    `json:"rollout_id"`
	Route     string    `json:"route"`
	Stable    string    `json:"stable"`
	Candidate string    `json:"candidate"`
	Phase     HookPhase `json:"phase"`
	Strategy  string    `json:"strategy"`
}

func (h *Hook) validate(field string) error {
	u, err := url.Parse(h.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s.url %q: give an absolute http:// or https:// URL", field, h.URL)
	}
	if h.Timeout < 0 || h.Timeout > MaxHookTimeout {
		return fmt.Errorf("%s.timeout %v: give a duration up to %v (0 means %v)", field, h.Timeout, MaxHookTimeout, DefaultHookTimeout)
	}
	return nil
}

// hookRun is one hook call running in the background.
type hookRun struct {
	phase   HookPhase
	url     string
	started time.Time
	cancel  context.CancelFunc
	done    chan struct{}
	err     error // set before done is closed
}

// startHook POSTs p to h from a new goroutine; track is called with +1 now
// and -1 when the goroutine ends, so Close can wait for it.
func startHook(ctx context.Context, client *http.Client, h Hook, p HookPayload, now time.Time, track func(int)) *hookRun {
	timeout := h.Timeout
	if timeout == 0 {
		timeout = DefaultHookTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	run := &hookRun{phase: p.Phase, url: h.URL, started: now, cancel: cancel, done: make(chan struct{})}
	track(1)
	go func() {
		defer track(-1)
		defer cancel()
		run.err = callHook(ctx, client, h.URL, p, timeout)
		close(run.done)
	}()
	return run
}

func callHook(ctx context.Context, client *http.Client, u string, p HookPayload, timeout time.Duration) error {
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("%s hook %s: no answer within %v", p.Phase, u, timeout)
		}
		return fmt.Errorf("%s hook %s: %w", p.Phase, u, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := strings.TrimSpace(string(snippet))
		if msg != "" {
			msg = ": " + msg
		}
		return fmt.Errorf("%s hook %s answered %s%s", p.Phase, u, resp.Status, msg)
	}
	return nil
}

// result reports whether the call has finished and, if so, its error.
func (r *hookRun) result() (bool, error) {
	select {
	case <-r.done:
		return true, r.err
	default:
		return false, nil
	}
}
