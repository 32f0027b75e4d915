package gateway_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"holdfast/internal/gateway"
	"holdfast/internal/telemetry"
)

func TestAccessLog(t *testing.T) {
	up := echoUpstream(t, "real")
	cfg := parseConfig(t, fmt.Sprintf(`
upstreams: [{name: real, url: %q}, {name: gone, url: %q}]
routes:
  - {name: orders, match: {path_prefix: /orders}, targets: [{upstream: real, weight: 1}]}
  - {name: broken, match: {path_prefix: /broken}, retries: 0, targets: [{upstream: gone, weight: 1}]}
`, up.URL, deadURL(t)))
	var sink lockedBuffer
	aw := telemetry.NewAsyncWriter(&sink)
	t.Cleanup(func() { aw.Close() })
	srv := front(t, newGateway(t, cfg, gateway.Options{AccessLog: aw}))

	get(t, srv.URL+"/orders/1", "X-Request-Id: abc", "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	get(t, srv.URL+"/nowhere/\"quoted\"")
	get(t, srv.URL+"/broken")
	if err := aw.Flush(); err != nil {
		t.Fatal(err)
	}
	type line struct {
		Time       time.Time `json:"time"`
		Route      string    `json:"route"`
		Target     string    `json:"target"`
		Status     int       `json:"status"`
		DurationMS float64   `json:"duration_ms"`
		RequestID  string    `json:"request_id"`
		TraceID    string    `json:"trace_id"`
		Method     string    `json:"method"`
		Path       string    `json:"path"`
		Bytes      int64     `json:"bytes"`
		Kind       string    `json:"kind"`
		Attempts   int       `json:"attempts"`
	}
	var got []line
	for _, s := range strings.Split(strings.TrimSpace(sink.String()), "\n") {
		var l line
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %q: %v", s, err)
		}
		if l.Time.IsZero() || l.DurationMS < 0 || len(l.TraceID) != 32 || l.RequestID == "" {
			t.Errorf("line %q: missing time, duration, trace id or request id", s)
		}
		got = append(got, l)
	}
	if len(got) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(got), sink.String())
	}
	type key struct {
		Route, Target string
		Status        int
		Method, Path  string
		Kind          string
		Attempts      int
	}
	want := []key{
		{"orders", "real", 200, "GET", "/orders/1", "none", 1},
		{"", "", 404, "GET", `/nowhere/"quoted"`, "none", 0},
		{"broken", "gone", 502, "GET", "/broken", "connect", 1},
	}
	for i, l := range got {
		if k := (key{l.Route, l.Target, l.Status, l.Method, l.Path, l.Kind, l.Attempts}); k != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, k, want[i])
		}
	}
	if got[0].RequestID != "abc" || got[0].TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || got[0].Bytes == 0 {
		t.Errorf("line 0 = %+v, want request id abc, the client's trace id and the body size", got[0])
	}
}

func TestStreamingResponseIsFlushed(t *testing.T) {
	release := make(chan struct{})
	sse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "data: second\n\n")
	}))
	t.Cleanup(sse.Close)
	t.Cleanup(func() { close(release) })
	srv := oneRoute(t, sse.URL, "", gateway.Options{})
	res, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	// The first event arrives while the upstream still holds the response.
	got, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if want := "data: first\n"; got != want {
		t.Fatalf("first line = %q, want %q", got, want)
	}
}

func TestWebSocketStyleUpgrade(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" || !strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
			http.Error(w, "want upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo: " + line)
		brw.Flush()
	}))
	t.Cleanup(up.Close)
	srv := oneRoute(t, up.URL, "", gateway.Options{})

	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhello\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.StatusCode, http.StatusSwitchingProtocols; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if res.Header.Get("X-Request-Id") == "" {
		t.Errorf("101 response has no X-Request-Id")
	}
	got, err := br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if want := "echo: hello\n"; got != want {
		t.Fatalf("through the upgraded connection: %q, want %q", got, want)
	}
}

func TestHTTPSUpstreamUsesHTTP2(t *testing.T) {
	up := httptest.NewUnstartedServer(echoHandler("tls"))
	up.EnableHTTP2 = true
	up.StartTLS()
	t.Cleanup(up.Close)
	roots := x509.NewCertPool()
	roots.AddCert(up.Certificate())
	srv := oneRoute(t, up.URL, "", gateway.Options{TLSClientConfig: &tls.Config{RootCAs: roots}})
	e := get(t, srv.URL+"/secure").echo(t)
	if got, want := e.Proto, 2; got != want {
		t.Errorf("upstream saw HTTP/%d, want HTTP/%d", got, want)
	}
	// Without the test CA the handshake fails: a connect error, 502.
	bad := oneRoute(t, up.URL, "    retries: 0\n", gateway.Options{})
	if got, want := get(t, bad.URL+"/").status, http.StatusBadGateway; got != want {
		t.Errorf("untrusted certificate: status = %d, want %d", got, want)
	}
}

func TestReloadSwapKeepsInFlightAndInheritsState(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		echoHandler("slow")(w, r)
	}))
	t.Cleanup(slow.Close)
	dead := deadURL(t)
	yaml := fmt.Sprintf(`
upstreams:
  - {name: slow, url: %q}
  - {name: dead, url: %q, passive: {max_fails: 1, eject_for: 1h}}
routes:
  - {name: r, match: {path_prefix: /slow}, targets: [{upstream: slow, weight: 1}]}
  - {name: d, match: {path_prefix: /dead}, retries: 0, targets: [{upstream: dead, weight: 1}]}
`, slow.URL, dead)
	g1 := newGateway(t, parseConfig(t, yaml), gateway.Options{})
	h := gateway.NewHandler(g1)
	srv := front(t, h)
	get(t, srv.URL+"/dead") // ejects dead in g1

	done := make(chan response, 1)
	go func() {
		res, err := http.Get(srv.URL + "/slow")
		if err != nil {
			done <- response{status: -1, body: []byte(err.Error())}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		done <- response{status: res.StatusCode, body: b}
	}()
	<-arrived

	g2, err := gateway.New(parseConfig(t, yaml), gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	old := h.Swap(g2)
	g2.InheritState(old)
	g2.Start(context.Background())
	t.Cleanup(func() { g2.Close() })
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	old.Close() // idempotent

	if old != g1 || h.Current() != g2 {
		t.Fatalf("Swap returned %p (want g1 %p); current %p (want g2 %p)", old, g1, h.Current(), g2)
	}
	close(release)
	if res := <-done; res.status != http.StatusOK {
		t.Fatalf("in-flight request across the swap: status %d (%s), want 200", res.status, res.body)
	}
	if got := g2.Status()[1].Targets[0].EjectedUntil; got == nil {
		t.Errorf("g2 did not inherit dead's ejection")
	}
	if got, want := get(t, srv.URL+"/slow/x").status, http.StatusOK; got != want {
		t.Errorf("after swap: status %d, want %d", got, want)
	}
}
