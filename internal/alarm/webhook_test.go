package alarm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a real HTTP server that records webhook bodies; it answers
// failFirst requests with 503 before accepting.
type receiver struct {
	mu        sync.Mutex
	failFirst int
	status    int // answer for failures; 0 = 503
	requests  int
	bodies    []WebhookPayload
	srv       *httptest.Server
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	t.Helper()
	r := &receiver{failFirst: failFirst}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.requests++
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		if r.requests <= r.failFirst {
			status := r.status
			if status == 0 {
				status = http.StatusServiceUnavailable
			}
			http.Error(w, "not now", status)
			return
		}
		var p WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.bodies = append(r.bodies, p)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) snapshot() (int, []WebhookPayload) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, append([]WebhookPayload(nil), r.bodies...)
}

type ledger struct{}

func (ledger) InFlight(_ context.Context, at time.Time) ([]json.RawMessage, error) {
	return []json.RawMessage{json.RawMessage(`{"kind":"flag_deployment","flag":"new-checkout","started":"` + at.Add(-time.Minute).Format(time.RFC3339) + `"}`)}, nil
}

// TestWebhookOncePerTransition: an alarm driven OK → ALARM → OK through the
// Manager notifies a real HTTP receiver exactly once per transition, with the
// reason and the changes in flight.
func TestWebhookOncePerTransition(t *testing.T) {
	rcv := newReceiver(t, 0)
	src := newMapSource()
	m := newTestManager(t, src)
	if err := m.Update(t0, []Definition{metricDef("error-rate")}, nil); err != nil {
		t.Fatal(err)
	}
	wh := &Webhook{URL: rcv.srv.URL, Changes: ledger{}}
	if err := m.Subscribe("webhook", wh, "error-rate"); err != nil {
		t.Fatal(err)
	}
	values := []float64{0, 0, 5, 6, 7, 1, 0}
	transitions := 0
	for i, v := range values {
		src.put("error-rate", t0.Add(time.Duration(i)*time.Minute), v, 1)
		ts, err := m.Eval(context.Background(), t0.Add(time.Duration(i+1)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		transitions += len(ts)
		// Evaluating again in the same period changes nothing.
		ts, err = m.Eval(context.Background(), t0.Add(time.Duration(i+1)*time.Minute+time.Second))
		if err != nil {
			t.Fatal(err)
		}
		transitions += len(ts)
	}
	if transitions != 3 {
		t.Fatalf("%d transitions, want 3", transitions)
	}
	waitFor(t, "three notifications", func() bool { n, _ := rcv.snapshot(); return n >= 3 })
	// Make sure nothing more is on its way: the action's counters settle at 3.
	waitFor(t, "delivery counted", func() bool { st, _ := m.ActionStats("webhook"); return st.Delivered == 3 })
	n, bodies := rcv.snapshot()
	if n != 3 {
		t.Fatalf("receiver got %d requests, want 3", n)
	}
	var got []string
	for _, b := range bodies {
		got = append(got, string(b.PreviousState)+"->"+string(b.State))
	}
	if want := "INSUFFICIENT_DATA->OK OK->ALARM ALARM->OK"; strings.Join(got, " ") != want {
		t.Errorf("transitions %v, want %s", got, want)
	}
	alarmed := bodies[1]
	if alarmed.Alarm != "error-rate" || !alarmed.Time.Equal(t0.Add(3*time.Minute)) ||
		!strings.HasPrefix(alarmed.Reason, "Threshold Crossed: 1 out of the last 1 datapoints [5.0 (28/11/26 10:02:00)] was greater than the threshold (2.0)") {
		t.Errorf("payload = %+v", alarmed)
	}
	if len(alarmed.ChangesInFlight) != 1 || !strings.Contains(string(alarmed.ChangesInFlight[0]), "new-checkout") {
		t.Errorf("changes_in_flight = %s", alarmed.ChangesInFlight)
	}
	if !json.Valid(alarmed.ReasonData) || !strings.Contains(string(alarmed.ReasonData), `"threshold":2`) {
		t.Errorf("reason_data = %s", alarmed.ReasonData)
	}
}

// TestWebhookRetryBackoff: a receiver that fails twice then succeeds gets
// the notification on the third attempt, after backoffs of 1 s and 2 s
// (recorded by the injected sleep, not waited for).
func TestWebhookRetryBackoff(t *testing.T) {
	rcv := newReceiver(t, 2)
	var slept []time.Duration
	wh := &Webhook{
		URL:            rcv.srv.URL,
		InitialBackoff: time.Second,
		Sleep: func(_ context.Context, d time.Duration) error {
			slept = append(slept, d)
			return nil
		},
	}
	tr := Transition{Alarm: "a", From: StateOK, To: StateAlarm, Reason: "r", Time: t0}
	if err := wh.Fire(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
	n, bodies := rcv.snapshot()
	if n != 3 || len(bodies) != 1 {
		t.Errorf("requests = %d, accepted = %d; want 3 and 1", n, len(bodies))
	}
	if len(slept) != 2 || slept[0] != time.Second || slept[1] != 2*time.Second {
		t.Errorf("backoffs = %v, want [1s 2s]", slept)
	}
	if bodies[0].ChangesInFlight == nil {
		t.Error("changes_in_flight must be a list, not null")
	}
}

func TestWebhookGivesUp(t *testing.T) {
	tests := []struct {
		name         string
		failFirst    int
		status       int
		wantRequests int
		wantSleeps   []time.Duration
	}{
		{"bounded attempts, capped backoff", 100, 503, 4, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}},
		{"client error is not retried", 100, 400, 1, nil},
		{"429 is retried", 1, 429, 2, []time.Duration{time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t, tt.failFirst)
			rcv.status = tt.status
			var slept []time.Duration
			wh := &Webhook{
				URL: rcv.srv.URL, MaxAttempts: 4, InitialBackoff: time.Second, MaxBackoff: 3 * time.Second,
				Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil },
			}
			err := wh.Fire(context.Background(), Transition{Alarm: "a", To: StateAlarm, Time: t0})
			n, _ := rcv.snapshot()
			if n != tt.wantRequests {
				t.Errorf("requests = %d, want %d", n, tt.wantRequests)
			}
			if len(slept) != len(tt.wantSleeps) || (len(slept) > 0 && slept[len(slept)-1] != tt.wantSleeps[len(tt.wantSleeps)-1]) {
				t.Errorf("sleeps = %v, want %v", slept, tt.wantSleeps)
			}
			var he *HTTPStatusError
			if tt.wantRequests == 2 {
				if err != nil {
					t.Errorf("err = %v", err)
				}
			} else if !errors.As(err, &he) || he.StatusCode != tt.status {
				t.Errorf("err = %v, want status %d", err, tt.status)
			}
		})
	}
}

func TestWebhookBadURL(t *testing.T) {
	calls := 0
	wh := &Webhook{URL: "://nope", Sleep: func(context.Context, time.Duration) error { calls++; return nil }}
	if err := wh.Fire(context.Background(), Transition{Alarm: "a", Time: t0}); err == nil || calls != 0 {
		t.Errorf("err = %v after %d sleeps; want an error and no retry", err, calls)
	}
}
