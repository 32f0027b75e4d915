package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"holdfast/internal/evloop"
	"holdfast/internal/gateway"
	"holdfast/internal/h1"
)

// onLoops counts the requests served on an event loop.
var onLoops atomic.Int64

// loopFront serves h as the daemon does on a plain listener: the HTTP/1.1
// fast path on the event loops, net/http for the rest.
func loopFront(t testing.TB, h *gateway.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l, ok := w.(interface{ EventLoop() *evloop.Loop }); ok && l.EventLoop() != nil {
			onLoops.Add(1)
		}
		h.ServeHTTP(w, r)
	})
	s := &h1.Server{Handler: counted, Fallback: &http.Server{Handler: h}, EventLoop: true, Loopable: h.Loopable}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		<-done
	})
	return "http://" + ln.Addr().String()
}

// rawClient sends requests one at a time on one keep-alive connection.
type rawClient struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, base string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawClient) get(path string) (*http.Response, string) {
	rc.t.Helper()
	rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(rc.c, "GET %s HTTP/1.1\r\nHost: shop.example\r\n\r\n", path); err != nil {
		rc.t.Fatalf("GET %s: %v", path, err)
	}
	res, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		rc.t.Fatalf("GET %s: %v", path, err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		rc.t.Fatalf("GET %s: body: %v", path, err)
	}
	return res, string(b)
}

// The gateway on the event loops: concurrent keep-alive clients, each
// request forwarded over the loops' own upstream connections, with the
// request's headers prepared and the response's hop-by-hop headers gone.
func TestGatewayOnEventLoops(t *testing.T) {
	var upConns atomic.Int64
	up := httptest.NewUnstartedServer(echoHandler("real"))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			upConns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	cfg := parseConfig(t, fmt.Sprintf(`
flags: [{name: real-on}]
upstreams: [{name: real, url: %q}]
routes:
  - {name: orders, targets: [{upstream: real, weight: 1}], kill_switch: real-on, fallback: {static: {status: 503, body: "off"}}}
`, up.URL))
	flags := newFlags(map[string]bool{"real-on": true})
	h := gateway.NewHandler(newGateway(t, cfg, gateway.Options{Flags: flags}))
	base := loopFront(t, h)

	const clients, each = 16, 40
	before := onLoops.Load()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			rc := dialRaw(t, base)
			for j := range each {
				path := fmt.Sprintf("/orders/%d/%d", i, j)
				res, body := rc.get(path)
				if res.StatusCode != 200 || !strings.Contains(body, `"path":"`+path+`"`) {
					errs <- fmt.Errorf("%s: %d %q", path, res.StatusCode, body)
					return
				}
				if res.Header.Get("X-Request-Id") == "" || res.Header.Get("X-Upstream") != "real" {
					errs <- fmt.Errorf("%s: response header %v", path, res.Header)
					return
				}
				if !strings.Contains(body, `"X-Forwarded-For":["127.0.0.1"]`) || !strings.Contains(body, `"Traceparent":["00-`) {
					errs <- fmt.Errorf("%s: upstream saw %q", path, body)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := onLoops.Load() - before; n != clients*each {
		t.Errorf("%d of %d requests served on an event loop", n, clients*each)
	}
	if n := upConns.Load(); n > clients {
		t.Errorf("%d upstream connections for %d clients: the loops' pools are not reused", n, clients)
	}

	// The kill switch, read per request on the loop: a static answer.
	flags.set("real-on", false)
	res, body := dialRaw(t, base).get("/orders/1")
	if res.StatusCode != 503 || body != "off" {
		t.Errorf("kill switch off: %d %q", res.StatusCode, body)
	}
}

// A POST (not for the loops) and a GET on the same connection: the
// connection moves to a goroutine and keeps being served.
func TestGatewayLoopHandsOverBodies(t *testing.T) {
	up := echoUpstream(t, "real")
	cfg := parseConfig(t, fmt.Sprintf(`
upstreams: [{name: real, url: %q}]
routes: [{name: all, targets: [{upstream: real, weight: 1}]}]
`, up.URL))
	h := gateway.NewHandler(newGateway(t, cfg, gateway.Options{}))
	rc := dialRaw(t, loopFront(t, h))
	if res, _ := rc.get("/before"); res.StatusCode != 200 {
		t.Fatalf("GET: %d", res.StatusCode)
	}
	fmt.Fprintf(rc.c, "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	res, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), `"body":"hello"`) {
		t.Fatalf("POST: %d %q", res.StatusCode, b)
	}
	if res, body := rc.get("/after"); res.StatusCode != 200 || !strings.Contains(body, `"path":"/after"`) {
		t.Fatalf("GET after POST: %d %q", res.StatusCode, body)
	}
}

// Upstream trouble on the loops: a slow upstream times out (504) without
// holding the loop (another client is served meanwhile), an upstream that
// closes every connection is dialed again each time, a dead one gives 502,
// and a reload closes the old gateway's pooled loop connections.
func TestGatewayLoopUpstreamTrouble(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) }) // before slow.Close, which waits for the handler
	closing := httptest.NewUnstartedServer(echoHandler("closing"))
	closing.Config.SetKeepAlivesEnabled(false)
	closing.Start()
	t.Cleanup(closing.Close)
	fast := echoUpstream(t, "fast")
	cfg := parseConfig(t, fmt.Sprintf(`
upstreams:
  - {name: slow, url: %q, timeout: 300ms}
  - {name: closing, url: %q}
  - {name: fast, url: %q}
  - {name: dead, url: %q, connect_timeout: 1s}
routes:
  - {name: slow, match: {path_prefix: /slow}, targets: [{upstream: slow, weight: 1}]}
  - {name: closing, match: {path_prefix: /closing}, targets: [{upstream: closing, weight: 1}]}
  - {name: dead, match: {path_prefix: /dead}, targets: [{upstream: dead, weight: 1}]}
  - {name: fast, targets: [{upstream: fast, weight: 1}]}
`, slow.URL, closing.URL, fast.URL, deadURL(t)))
	h := gateway.NewHandler(newGateway(t, cfg, gateway.Options{}))
	base := loopFront(t, h)

	slowDone := make(chan string, 1)
	go func() {
		rc := dialRaw(t, base)
		start := time.Now()
		res, _ := rc.get("/slow")
		slowDone <- fmt.Sprintf("%d after %v", res.StatusCode, time.Since(start).Round(time.Millisecond))
	}()
	// While /slow waits on its upstream, the loops serve others.
	rc := dialRaw(t, base)
	for i := range 20 {
		if res, body := rc.get(fmt.Sprintf("/x/%d", i)); res.StatusCode != 200 || !strings.Contains(body, `"upstream":"fast"`) {
			t.Fatalf("fast route during a slow request: %d %q", res.StatusCode, body)
		}
	}
	if got := <-slowDone; !strings.HasPrefix(got, "504 ") {
		t.Errorf("slow upstream: %s, want 504", got)
	}
	for i := range 10 {
		if res, body := rc.get(fmt.Sprintf("/closing/%d", i)); res.StatusCode != 200 || !strings.Contains(body, `"upstream":"closing"`) {
			t.Fatalf("upstream closing its connections, request %d: %d %q", i, res.StatusCode, body)
		}
	}
	if res, body := rc.get("/dead"); res.StatusCode != 502 || !strings.Contains(body, `"target":"dead"`) {
		t.Errorf("dead upstream: %d %q", res.StatusCode, body)
	}

	// A reload: the new gateway serves, the old one's pooled
	// connections (some on the loops) are closed.
	var fastConns atomic.Int64
	fast2 := httptest.NewUnstartedServer(echoHandler("fast2"))
	fast2.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			fastConns.Add(1)
		case http.StateClosed:
			fastConns.Add(-1)
		}
	}
	fast2.Start()
	t.Cleanup(fast2.Close)
	cfg2 := parseConfig(t, fmt.Sprintf(`
upstreams: [{name: fast, url: %q}]
routes: [{name: fast, targets: [{upstream: fast, weight: 1}]}]
`, fast2.URL))
	g2, err := gateway.New(cfg2, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.Swap(g2).Close()
	if res, body := rc.get("/y"); res.StatusCode != 200 || !strings.Contains(body, `"upstream":"fast2"`) {
		t.Fatalf("after reload: %d %q", res.StatusCode, body)
	}
	if fastConns.Load() != 1 {
		t.Fatalf("fast2 has %d connections, want 1", fastConns.Load())
	}
	g2.Close() // closes its idle connections, the one on a loop included
	eventually(t, 5*time.Second, "the loop's pooled connection closed", func() bool { return fastConns.Load() == 0 })
}

// The relayed head (no header maps on the loops' path): the upstream's
// fields in its order, less its hop-by-hop fields and X-Request-Id, which
// is the gateway's; the upstream's Date kept, one Date in all.
func TestGatewayLoopRelaysTheHead(t *testing.T) {
	gotID := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotID <- r.Header.Get("X-Request-Id")
		h := w.Header()
		h["Keep-Alive"] = []string{"timeout=5"}
		h["X-Request-Id"] = []string{"upstream-made"}
		h["X-B"] = []string{"2"}
		h["X-A"] = []string{"1", "one more"}
		h["Date"] = []string{"Sun, 29 Nov 2026 03:00:00 GMT"}
		w.Write([]byte("relayed"))
	}))
	t.Cleanup(up.Close)
	cfg := parseConfig(t, fmt.Sprintf(`
upstreams: [{name: real, url: %q}]
routes: [{name: all, targets: [{upstream: real, weight: 1}]}]
`, up.URL))
	h := gateway.NewHandler(newGateway(t, cfg, gateway.Options{}))
	rc := dialRaw(t, loopFront(t, h))
	rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(rc.c, "GET /x HTTP/1.1\r\nHost: shop.example\r\n\r\n")
	tp := textproto.NewReader(rc.br)
	status, err := tp.ReadLine()
	if err != nil || status != "HTTP/1.1 200 OK" {
		t.Fatalf("status line %q, %v", status, err)
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 7)
	if _, err := io.ReadFull(rc.br, body); err != nil || string(body) != "relayed" {
		t.Fatalf("body %q, %v", body, err)
	}
	id := <-gotID
	switch {
	case hdr.Get("Keep-Alive") != "" || hdr.Get("Connection") != "":
		t.Errorf("hop-by-hop fields passed on: %v", hdr)
	case id == "" || len(hdr["X-Request-Id"]) != 1 || hdr.Get("X-Request-Id") != id:
		t.Errorf("X-Request-Id %q to the client, %q to the upstream: want the gateway's, once", hdr["X-Request-Id"], id)
	case len(hdr["Date"]) != 1 || hdr.Get("Date") != "Sun, 29 Nov 2026 03:00:00 GMT":
		t.Errorf("Date %q, want the upstream's", hdr["Date"])
	case strings.Join(hdr["X-A"], "|") != "1|one more" || hdr.Get("X-B") != "2" || hdr.Get("Content-Length") != "7":
		t.Errorf("fields %v", hdr)
	}
	// The connection goes on.
	if res, body := rc.get("/y"); res.StatusCode != 200 || body != "relayed" {
		t.Fatalf("second request: %d %q", res.StatusCode, body)
	}
	<-gotID
}
