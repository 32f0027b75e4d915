package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// webhookReceiver is a real HTTP server that records alarm notifications.
type webhookReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	calls []map[string]any
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	w := &webhookReceiver{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		w.mu.Lock()
		w.calls = append(w.calls, body)
		w.mu.Unlock()
	}))
	t.Cleanup(w.Close)
	return w
}

// byState returns the notifications that moved an alarm to state.
func (w *webhookReceiver) byState(alarm, state string) []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []map[string]any
	for _, c := range w.calls {
		if c["alarm"] == alarm && c["state"] == state {
			out = append(out, c)
		}
	}
	return out
}

func (w *webhookReceiver) waitFor(t *testing.T, alarm, state string, within time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if got := w.byState(alarm, state); len(got) > 0 {
			return got[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Fatalf("no %s notification for %s within %s; got %v", state, alarm, within, w.calls)
	return nil
}

func setFaults(t *testing.T, ordersURL string, failRate float64) {
	t.Helper()
	resp, err := http.Post(ordersURL+"/admin/faults", "application/json", strings.NewReader(fmt.Sprintf(`{"fail_rate":%g}`, failRate)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("set faults: %d", resp.StatusCode)
	}
}

func TestErrorRateAlarmEndToEnd(t *testing.T) {
	ordersURL := startOrders(t, "mock")
	hook := newWebhookReceiver(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "holdfast.yaml")
	// A 1-second error-rate alarm: 2 of the last 3 seconds above 2%.
	writeFile(t, cfg, fmt.Sprintf(`data_dir: %s
admin:
  listen: 127.0.0.1:0
listeners:
  - name: public
    listen: 127.0.0.1:0
upstreams:
  - name: real
    url: %s
flags:
  - name: orders-real
routes:
  - name: orders
    targets:
      - upstream: real
        weight: 1
    kill_switch: orders-real
    fallback:
      static: {status: 503, body: "maintenance"}
webhooks:
  - name: ops
    url: %s
error_rate_alarm:
  period: 1s
  evaluation_periods: 3
  datapoints_to_alarm: 2
  actions: [ops]
`, dataDir, ordersURL, hook.URL))
	d := startDaemon(t, cfg, dataDir)

	tr := startTraffic(d.gateway, 2)
	defer tr.finish()
	tr.waitRequests(t, 100)
	hook.waitFor(t, "orders-error-rate", "OK", 15*time.Second) // INSUFFICIENT_DATA -> OK once data flows

	// A change in flight, then errors.
	if out, code := d.cli(t, "flags", "set", "orders-real", "on", "--reason", "e2e: deploy v2"); code != 0 {
		t.Fatalf("flags set: %s", out)
	}
	setFaults(t, ordersURL, 0.5)
	raised := time.Now()
	n := hook.waitFor(t, "orders-error-rate", "ALARM", 15*time.Second)
	took := time.Since(raised)
	t.Logf("ALARM notification %s after the fail rate went up", took.Round(time.Millisecond))
	reason, _ := n["reason"].(string)
	if !strings.Contains(reason, "greater than the threshold (2") {
		t.Errorf("reason %q does not explain the breach", reason)
	}
	changes, _ := json.Marshal(n["changes_in_flight"])
	if !strings.Contains(string(changes), "e2e: deploy v2") {
		t.Errorf("changes_in_flight %s lacks the flag change", changes)
	}
	// The CLI and /metrics agree.
	out, code := d.cli(t, "alarms", "list")
	if code != 0 || !regexp.MustCompile(`orders-error-rate\s+ALARM`).MatchString(out) {
		t.Errorf("alarms list: exit %d:\n%s", code, out)
	}

	// Errors stop: back to OK.
	setFaults(t, ordersURL, 0)
	hook.waitFor(t, "orders-error-rate", "OK", 15*time.Second)
	time.Sleep(1500 * time.Millisecond) // a retry or duplicate would arrive by now
	if got := hook.byState("orders-error-rate", "ALARM"); len(got) != 1 {
		t.Errorf("got %d ALARM notifications, want exactly 1", len(got))
	}
	out, code = d.cli(t, "alarms", "history", "orders-error-rate")
	if code != 0 || !strings.Contains(out, "ALARM") {
		t.Errorf("alarms history: exit %d:\n%s", code, out)
	}

	// GetMetricData over the admin API sees the errors by route.
	tok := readToken(t, dataDir)
	body := fmt.Sprintf(`{"StartTime":%q,"EndTime":%q,"MetricDataQueries":[
	  {"Id":"inv","MetricStat":{"Metric":{"Namespace":"holdfast/Gateway","MetricName":"Invocations","Dimensions":[{"Name":"Route","Value":"orders"}]},"Period":60,"Stat":"Sum"},"ReturnData":false},
	  {"Id":"err","MetricStat":{"Metric":{"Namespace":"holdfast/Gateway","MetricName":"Errors","Dimensions":[{"Name":"Route","Value":"orders"}]},"Period":60,"Stat":"Sum"},"ReturnData":false},
	  {"Id":"rate","Expression":"100 * err / inv"}]}`,
		time.Now().Add(-10*time.Minute).UTC().Format(time.RFC3339), time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
	req, _ := http.NewRequest("POST", d.admin+"/api/v1/metrics/data", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"Id": "rate"`) {
		t.Fatalf("GetMetricData: %d %s", resp.StatusCode, raw)
	}
}

func readToken(t *testing.T, dataDir string) string {
	t.Helper()
	out, err := readFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}
