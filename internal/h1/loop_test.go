//go:build linux

package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"holdfast/internal/evloop"
)

// The same server as start's, its plain TCP listener served on the
// process's event loops (evloop.Default, shared by these tests and never
// stopped).
func startLoop(t *testing.T, h http.Handler, loopable func(*http.Request) bool, tune func(*http.Server)) *srv {
	t.Helper()
	if _, err := evloop.Default(); err != nil {
		t.Fatalf("no event loops on Linux: %v", err)
	}
	return serveOn(t, &Server{Handler: h, EventLoop: true, Loopable: loopable}, tune)
}

func always(*http.Request) bool { return true }

// notSlow keeps /slow (and paths under it) off the loops.
func notSlow(r *http.Request) bool { return !strings.HasPrefix(r.URL.Path, "/slow") }

// mode tells where the handler runs: "loop<ID>" on an event loop,
// "goroutine" on the fast path off the loops, "none" for net/http (whose
// ResponseWriter has no EventLoop).
func mode(w http.ResponseWriter) string {
	el, ok := w.(interface{ EventLoop() *evloop.Loop })
	if !ok {
		return "none"
	}
	if lp := el.EventLoop(); lp != nil {
		return "loop" + strconv.Itoa(lp.ID())
	}
	return "goroutine"
}

// loopEcho is echo that also says where it ran, in X-Loop. It never blocks:
// it may run in a loop.
func loopEcho(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Loop", mode(w))
	echo(w, r)
}

func inLoop(res *http.Response) bool {
	m := res.Header.Get("X-Loop")
	if !strings.HasPrefix(m, "loop") {
		return false
	}
	id, err := strconv.Atoi(strings.TrimPrefix(m, "loop"))
	return err == nil && id >= 0 && id < evloop.DefaultSize()
}

func TestLoopKeepAliveRequests(t *testing.T) {
	x := startLoop(t, http.HandlerFunc(loopEcho), always, nil)
	c := dial(t, x.addr)
	var loop string
	for i := 0; i < 200; i++ {
		c.send(fmt.Sprintf("GET /orders/%d?q=%d HTTP/1.1\r\nHost: api.test\r\nX-Test: a\r\n\r\n", i, i))
		res, body := c.read("GET")
		if res.StatusCode != 200 || res.Header.Get("X-Via") != "fast" || !inLoop(res) {
			t.Fatalf("request %d: status %d via %q loop %q", i, res.StatusCode, res.Header.Get("X-Via"), res.Header.Get("X-Loop"))
		}
		if want := fmt.Sprintf(`GET /orders/%d?q=%d host=api.test body="" x=["a"]`, i, i); body != want {
			t.Fatalf("request %d: body %q, want %q", i, body, want)
		}
		if res.Close {
			t.Fatalf("request %d: the server closes the connection", i)
		}
		if i == 0 {
			loop = res.Header.Get("X-Loop")
		} else if got := res.Header.Get("X-Loop"); got != loop {
			t.Fatalf("request %d served by %s, the connection's first by %s", i, got, loop)
		}
		if res.Header.Get("X-Remote") != c.c.LocalAddr().String() {
			t.Fatalf("RemoteAddr %q, want %q", res.Header.Get("X-Remote"), c.c.LocalAddr())
		}
	}
}

func TestLoopConcurrentClients(t *testing.T) {
	x := startLoop(t, http.HandlerFunc(loopEcho), always, nil)
	concurrentGets(t, x.addr, 100, inLoop)
}

// A request Loopable refuses moves its connection to a goroutine for good;
// it is served there, and so are the later ones.
func TestLoopLeavesTheLoop(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", loopEcho)
	mux.HandleFunc("/slow/", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // allowed: not in a loop
		loopEcho(w, r)
	})
	x := startLoop(t, mux, notSlow, nil)
	c := dial(t, x.addr)
	steps := []struct{ path, mode string }{
		{"/a", "loop"},
		{"/b", "loop"},
		{"/slow/1", "goroutine"},
		{"/c", "goroutine"}, // the connection stays off the loop
		{"/slow/2", "goroutine"},
		{"/d", "goroutine"},
	}
	for _, st := range steps {
		c.send("GET " + st.path + " HTTP/1.1\r\nHost: h\r\nX-Test: v\r\n\r\n")
		res, body := c.read("GET")
		if res.StatusCode != 200 || res.Close {
			t.Fatalf("%s: status %d, Close=%v", st.path, res.StatusCode, res.Close)
		}
		if want := fmt.Sprintf(`GET %s host=h body="" x=["v"]`, st.path); body != want {
			t.Fatalf("%s: body %q, want %q", st.path, body, want)
		}
		if got := res.Header.Get("X-Loop"); !strings.HasPrefix(got, st.mode) || res.Header.Get("X-Via") != "fast" {
			t.Fatalf("%s: served by %q via %q, want %s on the fast path", st.path, got, res.Header.Get("X-Via"), st.mode)
		}
	}

	// Another connection is not affected: it starts in a loop.
	c2 := dial(t, x.addr)
	c2.send("GET /e HTTP/1.1\r\nHost: h\r\n\r\n")
	if res, _ := c2.read("GET"); !inLoop(res) {
		t.Fatalf("a new connection served by %q", res.Header.Get("X-Loop"))
	}

	// Many connections leaving at once, each request answered.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", x.addr)
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(nc)
			for j, p := range []string{"/x", "/slow/y", "/z"} {
				path := fmt.Sprintf("%s/%d/%d", p, i, j)
				if _, err := io.WriteString(nc, "GET "+path+" HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
					errs <- err
					return
				}
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					errs <- fmt.Errorf("%s: %v", path, err)
					return
				}
				b, err := io.ReadAll(res.Body)
				if err != nil || !strings.HasPrefix(string(b), "GET "+path+" ") {
					errs <- fmt.Errorf("%s: %q, %v", path, b, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A request with a body goes to net/http, from a loop too; net/http keeps
// the connection.
func TestLoopHandOverToNetHTTP(t *testing.T) {
	x := startLoop(t, http.HandlerFunc(loopEcho), always, func(s *http.Server) { s.MaxHeaderBytes = 8 << 10 })
	cases := []struct {
		name, req, bodyPrefix string
	}{
		{"body with length", "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", `POST /p host=h body="abc"`},
		{"chunked body", "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", `POST /p host=h body="abc"`},
		{"http/1.0", "GET /old HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", "GET /old"},
		{"large header", "GET /big HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("x", 5000) + "\r\n\r\n", "GET /big"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, x.addr)
			// A first request in the loop, then the one to hand over.
			c.send("GET /first HTTP/1.1\r\nHost: h\r\n\r\n")
			if res, _ := c.read("GET"); !inLoop(res) {
				t.Fatalf("first request served by %q", res.Header.Get("X-Loop"))
			}
			c.send(tc.req)
			res, body := c.read(strings.Fields(tc.req)[0])
			if res.StatusCode != 200 || res.Header.Get("X-Via") != "net/http" || res.Header.Get("X-Loop") != "none" {
				t.Fatalf("status %d via %q loop %q (body %q)", res.StatusCode, res.Header.Get("X-Via"), res.Header.Get("X-Loop"), body)
			}
			if !strings.HasPrefix(body, tc.bodyPrefix) {
				t.Fatalf("body %q, want prefix %q", body, tc.bodyPrefix)
			}
			if res.Close {
				return
			}
			c.send("GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
			res, body = c.read("GET")
			if res.Header.Get("X-Via") != "net/http" || !strings.HasPrefix(body, "GET /next") {
				t.Fatalf("next request: via %q body %q", res.Header.Get("X-Via"), body)
			}
		})
	}
	t.Run("first request", func(t *testing.T) {
		c := dial(t, x.addr)
		c.send("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
		res, body := c.read("POST")
		if res.Header.Get("X-Via") != "net/http" || body != `POST /p host=h body="hello" x=[]` {
			t.Fatalf("via %q body %q", res.Header.Get("X-Via"), body)
		}
	})
}

func TestLoopPipelinedRequestsAnswerInOrder(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", loopEcho)
	mux.HandleFunc("/slow/", loopEcho)
	x := startLoop(t, mux, notSlow, nil)

	t.Run("in the loop", func(t *testing.T) {
		c := dial(t, x.addr)
		var b strings.Builder
		const n = 60
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "GET /p%d HTTP/1.1\r\nHost: h\r\n\r\n", i)
		}
		b.WriteString("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n")
		c.send(b.String())
		for i := 0; i < n; i++ {
			res, body := c.read("GET")
			if !strings.HasPrefix(body, fmt.Sprintf("GET /p%d ", i)) || !inLoop(res) {
				t.Fatalf("response %d: %q by %q", i, body, res.Header.Get("X-Loop"))
			}
		}
		if res, body := c.read("HEAD"); res.StatusCode != 200 || body != "" {
			t.Fatalf("HEAD: %d %q", res.StatusCode, body)
		}
	})
	t.Run("leaving the loop midway", func(t *testing.T) {
		c := dial(t, x.addr)
		c.send("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /slow/b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n")
		for _, want := range []struct{ path, mode string }{{"/a", "loop"}, {"/slow/b", "goroutine"}, {"/c", "goroutine"}} {
			res, body := c.read("GET")
			if !strings.HasPrefix(body, "GET "+want.path+" ") || !strings.HasPrefix(res.Header.Get("X-Loop"), want.mode) {
				t.Fatalf("got %q by %q, want %s by %s", body, res.Header.Get("X-Loop"), want.path, want.mode)
			}
		}
	})
	t.Run("handed over midway", func(t *testing.T) {
		c := dial(t, x.addr)
		c.send("GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\nHost: h\r\n\r\n")
		for _, want := range []struct{ prefix, via string }{{"GET /a ", "fast"}, {`POST /b host=h body="hi"`, "net/http"}, {"GET /c ", "net/http"}} {
			res, body := c.read(strings.Fields(want.prefix)[0])
			if !strings.HasPrefix(body, want.prefix) || res.Header.Get("X-Via") != want.via {
				t.Fatalf("got %q via %q, want %q via %s", body, res.Header.Get("X-Via"), want.prefix, want.via)
			}
		}
	})
}

func TestLoopEventLoopAccessor(t *testing.T) {
	t.Run("loopable", func(t *testing.T) {
		mux := http.NewServeMux()
		mux.HandleFunc("/", loopEcho)
		mux.HandleFunc("/slow", loopEcho)
		x := startLoop(t, mux, notSlow, nil)
		c := dial(t, x.addr)
		c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if res, _ := c.read("GET"); !inLoop(res) {
			t.Fatalf("in a loop: EventLoop gave %q", res.Header.Get("X-Loop"))
		}
		c.send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
		if res, _ := c.read("GET"); res.Header.Get("X-Loop") != "goroutine" {
			t.Fatalf("off the loop: EventLoop gave %q, want nil", res.Header.Get("X-Loop"))
		}
		c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if res, _ := c.read("GET"); res.Header.Get("X-Loop") != "goroutine" {
			t.Fatalf("after leaving the loop: EventLoop gave %q, want nil", res.Header.Get("X-Loop"))
		}
	})
	t.Run("Loopable nil", func(t *testing.T) {
		x := startLoop(t, http.HandlerFunc(loopEcho), nil, nil)
		c := dial(t, x.addr)
		for i := 0; i < 3; i++ {
			c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			if res, _ := c.read("GET"); res.Header.Get("X-Loop") != "goroutine" || res.Header.Get("X-Via") != "fast" {
				t.Fatalf("request %d: EventLoop gave %q via %q", i, res.Header.Get("X-Loop"), res.Header.Get("X-Via"))
			}
		}
	})
	t.Run("EventLoop false", func(t *testing.T) {
		x := start(t, http.HandlerFunc(loopEcho), nil)
		c := dial(t, x.addr)
		c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if res, _ := c.read("GET"); res.Header.Get("X-Loop") != "goroutine" {
			t.Fatalf("without loops: EventLoop gave %q", res.Header.Get("X-Loop"))
		}
	})
}

func TestLoopShutdownClosesIdle(t *testing.T) {
	x := startLoop(t, http.HandlerFunc(loopEcho), always, nil)
	idle := dial(t, x.addr)
	idle.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if res, _ := idle.read("GET"); !inLoop(res) {
		t.Fatalf("served by %q", res.Header.Get("X-Loop"))
	}
	fresh := dial(t, x.addr) // connected, no request yet
	time.Sleep(20 * time.Millisecond)

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- x.s.Shutdown(ctx)
	}()
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return with only idle connections")
	}
	if !idle.closed() {
		t.Fatal("idle loop connection left open")
	}
	if !fresh.closed() {
		t.Fatal("new loop connection left open")
	}
	if err := <-x.done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	x.done <- nil // for the cleanup
	if c, err := net.DialTimeout("tcp", x.addr, 2*time.Second); err == nil {
		c.Close()
		t.Fatal("still accepting after Shutdown")
	}
}

func TestLoopCloseClosesConnections(t *testing.T) {
	x := startLoop(t, http.HandlerFunc(loopEcho), always, nil)
	c := dial(t, x.addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if res, _ := c.read("GET"); !inLoop(res) {
		t.Fatalf("served by %q", res.Header.Get("X-Loop"))
	}
	if err := x.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !c.closed() {
		t.Fatal("loop connection left open by Close")
	}
}

// A request in flight off the loop (Loopable false, so its handler may
// block) holds Shutdown until it is answered; idle loop connections close
// meanwhile.
func TestLoopShutdownDrainsInFlightOffTheLoop(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/", loopEcho)
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Loop", mode(w))
		close(entered)
		<-release
		w.Write([]byte("finished"))
	})
	x := startLoop(t, mux, notSlow, nil)

	idle := dial(t, x.addr)
	idle.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if res, _ := idle.read("GET"); !inLoop(res) {
		t.Fatalf("served by %q", res.Header.Get("X-Loop"))
	}
	busy := dial(t, x.addr)
	busy.send("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	if res, _ := busy.read("GET"); !inLoop(res) {
		t.Fatalf("served by %q", res.Header.Get("X-Loop"))
	}
	<-entered

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- x.s.Shutdown(ctx)
	}()
	if !idle.closed() {
		t.Fatal("idle loop connection left open during shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	res, body := busy.read("GET")
	if body != "finished" || !res.Close || res.Header.Get("X-Loop") != "goroutine" {
		t.Fatalf("in-flight request: %q, Close=%v, ran %q", body, res.Close, res.Header.Get("X-Loop"))
	}
	if !busy.closed() {
		t.Fatal("connection left open after the last response")
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the request finished")
	}
}

// A request in flight in a loop: its handler never blocks, but its response
// is larger than the socket buffers and the client reads it late, so the
// handler waits (yielding to the loop) for room. Shutdown waits for it.
func TestLoopShutdownDrainsInFlightInTheLoop(t *testing.T) {
	const size = 32 << 20
	started := make(chan string, 1)
	chunk := bytes.Repeat([]byte("abcdefgh"), 8<<10) // 64 KiB
	mux := http.NewServeMux()
	mux.HandleFunc("/", loopEcho)
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		select { // never blocks
		case started <- mode(w):
		default:
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	x := startLoop(t, mux, always, nil)
	busy := dial(t, x.addr)
	busy.c.(*net.TCPConn).SetReadBuffer(32 << 10)
	busy.c.SetDeadline(time.Now().Add(30 * time.Second))
	busy.send("GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
	if m := <-started; !strings.HasPrefix(m, "loop") {
		t.Fatalf("/big runs %s, want in a loop", m)
	}
	time.Sleep(50 * time.Millisecond) // the handler now waits for room

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shut <- x.s.Shutdown(ctx)
	}()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	res, err := http.ReadResponse(busy.br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	n, err := io.Copy(io.Discard, res.Body)
	if err != nil || n != size || res.StatusCode != 200 {
		t.Fatalf("in-flight response: status %d, %d bytes, %v; want %d bytes", res.StatusCode, n, err, size)
	}
	if !busy.closed() {
		t.Fatal("connection left open after the last response")
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the request finished")
	}
}

func TestLoopPanicClosesTheConnection(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", loopEcho)
	mux.HandleFunc("/bug", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(mode(w), "loop") {
			return // must run in a loop to test the loop
		}
		panic("loop boom")
	})
	x := startLoop(t, mux, always, nil)
	survivor := dial(t, x.addr)
	for i := 0; i < 2*evloop.DefaultSize()+2; i++ {
		c := dial(t, x.addr)
		c.send("GET /bug HTTP/1.1\r\nHost: h\r\n\r\n")
		if !c.closed() {
			t.Fatalf("panic %d: connection left open", i)
		}
		survivor.send(fmt.Sprintf("GET /after/%d HTTP/1.1\r\nHost: h\r\n\r\n", i))
		if res, body := survivor.read("GET"); !inLoop(res) || !strings.HasPrefix(body, fmt.Sprintf("GET /after/%d ", i)) {
			t.Fatalf("after panic %d: %q by %q", i, body, res.Header.Get("X-Loop"))
		}
	}
	logs := x.logText()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs, "loop boom") && time.Now().Before(deadline); logs = x.logText() {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs, "loop boom") {
		t.Fatalf("panic not logged:\n%s", logs)
	}
}

// The header and idle timeouts, kept by the loops' deadlines.
func TestLoopTimeouts(t *testing.T) {
	x := startLoop(t, http.HandlerFunc(loopEcho), always, func(s *http.Server) {
		s.ReadHeaderTimeout = 200 * time.Millisecond
		s.IdleTimeout = 300 * time.Millisecond
	})

	c := dial(t, x.addr)
	c.send("GET /stall HTTP/1.1\r\nHo")
	t0 := time.Now()
	if !c.closed() {
		t.Fatal("stalled request head: connection left open")
	}
	if d := time.Since(t0); d < 150*time.Millisecond || d > 3*time.Second {
		t.Fatalf("stalled head closed after %v, want about 200ms", d)
	}

	c = dial(t, x.addr)
	c.send("GET /one HTTP/1.1\r\nHost: h\r\n\r\n")
	if res, _ := c.read("GET"); !inLoop(res) {
		t.Fatalf("served by %q", res.Header.Get("X-Loop"))
	}
	time.Sleep(100 * time.Millisecond)
	c.send("GET /two HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, body := c.read("GET"); !strings.HasPrefix(body, "GET /two") {
		t.Fatalf("second request: %q", body)
	}
	t0 = time.Now()
	if !c.closed() {
		t.Fatal("idle loop connection left open")
	}
	if d := time.Since(t0); d < 200*time.Millisecond {
		t.Fatalf("idle connection closed after %v, want about 300ms", d)
	}
}
