package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"holdfast/internal/gateway"
	"holdfast/internal/telemetry"
)

func wantErrorBody(t *testing.T, res response, route, target, kind string) {
	t.Helper()
	var got map[string]string
	if err := json.Unmarshal(res.body, &got); err != nil {
		t.Fatalf("error body %q: %v", res.body, err)
	}
	want := map[string]string{"error": "upstream unavailable", "route": route, "target": target, "kind": kind}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("error body = %v, want %v", got, want)
	}
	if got, want := res.header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
}

func TestUpstreamDownIs502AndCountedAsConnect(t *testing.T) {
	for _, tt := range []struct {
		retries      int
		wantAttempts uint64
	}{{0, 1}, {2, 3}} {
		t.Run(fmt.Sprintf("retries=%d", tt.retries), func(t *testing.T) {
			cfg := parseConfig(t, fmt.Sprintf(`
upstreams: [{name: real, url: %q}]
routes: [{name: orders, retries: %d, targets: [{upstream: real, weight: 1}]}]
`, deadURL(t), tt.retries))
			tel := telemetry.New()
			srv := front(t, newGateway(t, cfg, gateway.Options{Recorder: tel}))
			res := get(t, srv.URL+"/orders")
			if got, want := res.status, http.StatusBadGateway; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			wantErrorBody(t, res, "orders", "real", "connect")
			s := stats(t, tel, "orders", "real")
			if got, want := s.ErrorsConnect, tt.wantAttempts; got != want {
				t.Errorf("connect errors = %d, want %d (every attempt counts)", got, want)
			}
			if got, want := s.Errors, tt.wantAttempts; got != want {
				t.Errorf("errors = %d, want %d", got, want)
			}
			if got, want := s.Codes[5], tt.wantAttempts; got != want {
				t.Errorf("5xx attempts = %d, want %d", got, want)
			}
		})
	}
}

func TestUpstreamTimeoutIs504(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	cfg := parseConfig(t, fmt.Sprintf(`
upstreams: [{name: real, url: %q, timeout: 100ms}]
routes: [{name: orders, targets: [{upstream: real, weight: 1}]}]
`, slow.URL))
	tel := telemetry.New()
	srv := front(t, newGateway(t, cfg, gateway.Options{Recorder: tel}))
	res := get(t, srv.URL+"/orders")
	if got, want := res.status, http.StatusGatewayTimeout; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	wantErrorBody(t, res, "orders", "real", "timeout")
	s := stats(t, tel, "orders", "real")
	if got, want := s.ErrorsTimeout, uint64(1); got != want {
		t.Errorf("timeout errors = %d, want %d (a timeout is not retried)", got, want)
	}
}

func TestUpstream5xxPassedThroughAndCounted(t *testing.T) {
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("busy"))
	}))
	t.Cleanup(busy.Close)
	cfg := parseConfig(t, fmt.Sprintf(`
upstreams: [{name: real, url: %q}]
routes: [{name: orders, targets: [{upstream: real, weight: 1}]}]
`, busy.URL))
	tel := telemetry.New()
	srv := front(t, newGateway(t, cfg, gateway.Options{Recorder: tel}))
	res := get(t, srv.URL+"/")
	if got, want := res.status, http.StatusServiceUnavailable; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if got, want := string(res.body), "busy"; got != want {
		t.Errorf("body = %q, want the upstream's %q", got, want)
	}
	if got, want := res.header.Get("Retry-After"), "5"; got != want {
		t.Errorf("Retry-After = %q, want %q", got, want)
	}
	s := stats(t, tel, "orders", "real")
	if got, want := [3]uint64{s.Invocations, s.Errors5xx, s.ErrorsConnect}, [3]uint64{1, 1, 0}; got != want {
		t.Errorf("invocations, 5xx, connect = %v, want %v", got, want)
	}
}

func TestRetryOnlyIdempotentOnAnotherTarget(t *testing.T) {
	live := echoUpstream(t, "live")
	dead := deadURL(t)
	build := func(t *testing.T) (*httptest.Server, *telemetry.Telemetry) {
		// Weights tie, so smooth WRR picks dead first.
		cfg := parseConfig(t, fmt.Sprintf(`
upstreams: [{name: dead, url: %q}, {name: live, url: %q}]
routes: [{name: r, retries: 1, targets: [{upstream: dead, weight: 1}, {upstream: live, weight: 1}]}]
`, dead, live.URL))
		tel := telemetry.New()
		return front(t, newGateway(t, cfg, gateway.Options{Recorder: tel})), tel
	}
	tests := []struct {
		name       string
		method     string
		body       string
		header     []string
		wantStatus int
	}{
		{"GET retried", "GET", "", nil, http.StatusOK},
		{"DELETE retried", "DELETE", "", nil, http.StatusOK},
		{"PUT with body retried", "PUT", `{"qty":2}`, nil, http.StatusOK},
		{"POST not retried", "POST", `{"qty":2}`, nil, http.StatusBadGateway},
		{"POST with Idempotency-Key retried", "POST", `{"qty":2}`, []string{"Idempotency-Key: k1"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, tel := build(t)
			var body *strings.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			var res response
			if body != nil {
				res = do(t, tt.method, srv.URL+"/x", body, tt.header...)
			} else {
				res = do(t, tt.method, srv.URL+"/x", nil, tt.header...)
			}
			if got, want := res.status, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d (%s)", got, want, res.body)
			}
			if got, want := stats(t, tel, "r", "dead").ErrorsConnect, uint64(1); got != want {
				t.Errorf("dead target connect errors = %d, want %d", got, want)
			}
			if tt.wantStatus != http.StatusOK {
				wantErrorBody(t, res, "r", "dead", "connect")
				return
			}
			e := res.echo(t)
			if got, want := e.Upstream, "live"; got != want {
				t.Errorf("answered by %q, want %q", got, want)
			}
			if got, want := e.Body, tt.body; got != want {
				t.Errorf("live upstream got body %q, want %q", got, want)
			}
		})
	}
}

func TestPassiveEjectionAndRecovery(t *testing.T) {
	live := echoUpstream(t, "live")
	cfg := parseConfig(t, fmt.Sprintf(`
upstreams:
  - {name: dead, url: %q, passive: {max_fails: 2, eject_for: 30s}}
  - {name: live, url: %q}
routes: [{name: r, retries: 0, targets: [{upstream: dead, weight: 1}, {upstream: live, weight: 1}]}]
`, deadURL(t), live.URL))
	clk := newClock()
	g := newGateway(t, cfg, gateway.Options{Now: clk.Now})
	srv := front(t, g)
	statuses := func(n int) string {
		var s []string
		for range n {
			s = append(s, fmt.Sprint(get(t, srv.URL+"/").status))
		}
		return strings.Join(s, " ")
	}
	// dead, live, dead (second failure: ejected), then live only.
	if got, want := statuses(7), "502 200 502 200 200 200 200"; got != want {
		t.Fatalf("statuses = %q, want %q", got, want)
	}
	ts := g.Status()[0].Targets[0]
	if ts.EjectedUntil == nil || !ts.EjectedUntil.Equal(clk.Now().Add(30*time.Second)) {
		t.Fatalf("dead ejected until %v, want %v", ts.EjectedUntil, clk.Now().Add(30*time.Second))
	}
	clk.Add(29 * time.Second)
	if got, want := statuses(3), "200 200 200"; got != want {
		t.Fatalf("still ejected: statuses = %q, want %q", got, want)
	}
	clk.Add(2 * time.Second)
	if got := statuses(2); !strings.Contains(got, "502") {
		t.Fatalf("after eject_for: statuses = %q, want dead back in rotation", got)
	}
	if g.Status()[0].Targets[0].EjectedUntil != nil {
		t.Errorf("status still shows dead ejected after one new failure")
	}
}

func TestActiveHealthCheck(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if !healthy.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		echoHandler("flaky")(w, r)
	}))
	t.Cleanup(flaky.Close)
	steady := echoUpstream(t, "steady")
	cfg := parseConfig(t, fmt.Sprintf(`
upstreams:
  - name: flaky
    url: %q
    health_check: {path: /healthz, interval: 10ms, timeout: 10ms, healthy_threshold: 2, unhealthy_threshold: 2}
  - {name: steady, url: %q}
routes: [{name: r, targets: [{upstream: flaky, weight: 1}, {upstream: steady, weight: 1}]}]
`, flaky.URL, steady.URL))
	g := newGateway(t, cfg, gateway.Options{})
	srv := front(t, g)
	isHealthy := func() bool { return g.Status()[0].Targets[0].Healthy }

	healthy.Store(false)
	eventually(t, 5*time.Second, "flaky marked unhealthy", func() bool { return !isHealthy() })
	for range 4 {
		if got, want := get(t, srv.URL+"/").header.Get("X-Upstream"), "steady"; got != want {
			t.Fatalf("unhealthy flaky still gets traffic: upstream = %q, want %q", got, want)
		}
	}
	healthy.Store(true)
	eventually(t, 5*time.Second, "flaky healthy again", isHealthy)
	seen := map[string]bool{}
	for range 4 {
		seen[get(t, srv.URL+"/").header.Get("X-Upstream")] = true
	}
	if !seen["flaky"] {
		t.Errorf("healthy flaky gets no traffic: saw %v", seen)
	}
}

func TestAllTargetsDownStillTried(t *testing.T) {
	cfg := parseConfig(t, fmt.Sprintf(`
upstreams:
  - {name: a, url: %q, passive: {max_fails: 1, eject_for: 1h}}
routes: [{name: r, retries: 0, targets: [{upstream: a, weight: 1}]}]
`, deadURL(t)))
	tel := telemetry.New()
	srv := front(t, newGateway(t, cfg, gateway.Options{Recorder: tel}))
	for range 3 {
		if got, want := get(t, srv.URL+"/").status, http.StatusBadGateway; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
	}
	if got, want := stats(t, tel, "r", "a").ErrorsConnect, uint64(3); got != want {
		t.Errorf("attempts on the ejected only target = %d, want %d", got, want)
	}
}
