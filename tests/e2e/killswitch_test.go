package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"holdfast/internal/pgtest"
	"holdfast/internal/state"
)

const killSwitchConfig = `data_dir: %s
admin:
  listen: 127.0.0.1:0
listeners:
  - name: public
    listen: 127.0.0.1:0
upstreams:
  - name: real
    url: %s
    timeout: 5s
    health_check:
      path: /healthz
      interval: 500ms
  - name: mock
    url: %s
    timeout: 5s
flags:
  - name: orders-real
    description: real database behind the orders API
routes:
%s  - name: orders
    targets:
      - upstream: real
        weight: 100
    kill_switch: orders-real
    fallback:
      upstream: mock
`

// result is one request of the traffic generator.
type result struct {
	start, end time.Time
	status     int
	backend    string
	err        error
}

// traffic sends GET requests from several workers until stop is closed, or
// a bound is hit, and records every one.
type traffic struct {
	mu      sync.Mutex
	results []result
	stop    chan struct{}
	wg      sync.WaitGroup
	n       atomic.Int64
}

func startTraffic(base string, workers int) *traffic {
	tr := &traffic{stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	deadline := time.Now().Add(90 * time.Second) // bounded even if stop is never called
	for w := 0; w < workers; w++ {
		tr.wg.Add(1)
		go func(w int) {
			defer tr.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-tr.stop:
					return
				default:
				}
				if time.Now().After(deadline) || tr.n.Add(1) > 200000 {
					return
				}
				path := "/orders?limit=5"
				if i%3 == 1 {
					path = "/orders/1"
				} else if i%3 == 2 {
					path = "/customers/1/orders"
				}
				r := result{start: time.Now()}
				resp, err := client.Get(base + path)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					r.status, r.backend = resp.StatusCode, resp.Header.Get("X-Backend")
				}
				r.err, r.end = err, time.Now()
				tr.mu.Lock()
				tr.results = append(tr.results, r)
				tr.mu.Unlock()
			}
		}(w)
	}
	return tr
}

func (tr *traffic) finish() []result {
	close(tr.stop)
	tr.wg.Wait()
	return tr.results
}

func (tr *traffic) count() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.results)
}

// waitRequests waits until n more requests have completed.
func (tr *traffic) waitRequests(t *testing.T, n int) {
	t.Helper()
	target := tr.count() + n
	deadline := time.Now().Add(30 * time.Second)
	for tr.count() < target {
		if time.Now().After(deadline) {
			t.Fatalf("traffic stalled at %d requests", tr.count())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestKillSwitchEndToEnd(t *testing.T) {
	pg := pgtest.Start(t)
	realURL := startOrders(t, "postgres", "--database-url", pg.DSN(pg.Database()))
	mockURL := startOrders(t, "mock")

	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "holdfast.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(killSwitchConfig, dataDir, realURL, mockURL, ""))
	d := startDaemon(t, cfgPath, dataDir)

	tr := startTraffic(d.gateway, 4)
	tr.waitRequests(t, 200)

	// Flip the kill switch off through the CLI.
	offAt := time.Now()
	out, code := d.cli(t, "flags", "set", "orders-real", "off", "--reason", "e2e: database failover drill")
	offDone := time.Now()
	if code != 0 || !strings.Contains(out, "orders-real is off") {
		t.Fatalf("flags set off: exit %d: %s", code, out)
	}
	tr.waitRequests(t, 300)
	time.Sleep(1200 * time.Millisecond) // let a full second of traffic pass after the flip

	onAt := time.Now()
	out, code = d.cli(t, "flags", "set", "orders-real", "on", "--reason", "e2e: failover done")
	onDone := time.Now()
	if code != 0 || !strings.Contains(out, "orders-real is on") {
		t.Fatalf("flags set on: exit %d: %s", code, out)
	}
	tr.waitRequests(t, 300)
	time.Sleep(1200 * time.Millisecond)

	// A broken config is rejected, by the CLI and by SIGHUP, while traffic flows.
	writeFile(t, cfgPath, fmt.Sprintf(killSwitchConfig, dataDir, realURL, mockURL, `  - name: broken
    targets:
      - upstream: nowhere
        weight: 0
`))
	out, code = d.cli(t, "reload", "--reason", "e2e broken")
	if code == 0 || !strings.Contains(out, "holdfast.yaml:") || !strings.Contains(out, `no upstream named "nowhere"`) || !strings.Contains(out, "weights sum to 0") {
		t.Fatalf("reload of a broken config: exit %d, output:\n%s", code, out)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLine(reloadRejectedRE, 10*time.Second)
	tr.waitRequests(t, 300)

	// A good config reloads and is recorded.
	writeFile(t, cfgPath, fmt.Sprintf(killSwitchConfig, dataDir, realURL, mockURL, `  - name: mock-preview
    match:
      path_prefix: /preview
    strip_prefix: true
    targets:
      - upstream: mock
        weight: 1
`))
	if out, code := d.cli(t, "reload", "--reason", "e2e add preview route"); code != 0 {
		t.Fatalf("reload of a good config: exit %d: %s", code, out)
	}
	resp, err := http.Get(d.gateway + "/preview/orders/1")
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "mock" {
		t.Fatalf("new route after reload: %v %v", resp, err)
	}
	resp.Body.Close()
	tr.waitRequests(t, 200)
	results := tr.finish()

	// Every request answered, with 200.
	var failed []string
	for _, r := range results {
		if r.err != nil || r.status != http.StatusOK {
			failed = append(failed, fmt.Sprintf("%s: status %d err %v", r.start.Format("15:04:05.000"), r.status, r.err))
		}
	}
	if len(failed) > 0 {
		t.Fatalf("%d of %d requests failed, e.g. %v", len(failed), len(results), failed[:min(5, len(failed))])
	}
	t.Logf("%d requests, all answered 200", len(results))

	// Before the flip: real. Within 1 s of the flip: mock, until flipped back.
	check := func(name string, from, to time.Time, want string) {
		t.Helper()
		n := 0
		for _, r := range results {
			if r.start.After(from) && r.end.Before(to) {
				n++
				if r.backend != want {
					t.Errorf("%s: request started %s served by %q, want %q", name, r.start.Format("15:04:05.000"), r.backend, want)
					return
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no request in the window", name)
		}
	}
	check("before the flip", time.Time{}, offAt, "postgres")
	check("flipped off", offDone.Add(time.Second), onAt, "mock")
	check("flipped back on", onDone.Add(time.Second), time.Now(), "postgres")
	// And faster than a second in practice: the first request started after
	// the CLI returned already went to the mock.
	check("right after the off flip", offDone, offDone.Add(time.Second), "mock")

	// The flips are in the change ledger, with who and why.
	out, code = d.cli(t, "changes", "--kind", "flag", "--json")
	if code != 0 {
		t.Fatalf("changes: exit %d: %s", code, out)
	}
	var changes []state.Change
	if err := json.Unmarshal([]byte(out), &changes); err != nil {
		t.Fatalf("changes --json: %v\n%s", err, out)
	}
	var reasons []string
	for _, c := range changes {
		if c.Subject == "orders-real" && c.Action == "set" {
			reasons = append(reasons, c.Reason)
			if !strings.Contains(c.Actor, "@") {
				t.Errorf("change %d actor %q does not name who", c.ID, c.Actor)
			}
		}
	}
	if got, want := strings.Join(reasons, " | "), "e2e: failover done | e2e: database failover drill"; got != want {
		t.Errorf("ledger flag reasons = %q, want %q", got, want)
	}
	out, _ = d.cli(t, "changes", "--kind", "config")
	if !strings.Contains(out, "e2e add preview route") || strings.Contains(out, "e2e broken") {
		t.Errorf("config ledger should hold the good reload only:\n%s", out)
	}

	// Graceful stop.
	d.cmd.Process.Signal(syscall.SIGTERM)
	if code := d.wait(20 * time.Second); code != 0 {
		t.Fatalf("holdfast exited %d after SIGTERM", code)
	}
}
