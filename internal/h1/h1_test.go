package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// via tells which server ran the handler: net/http puts its Server in the
// request's context, the fast path does not.
func via(r *http.Request) string {
	if r.Context().Value(http.ServerContextKey) != nil {
		return "net/http"
	}
	return "fast"
}

// echo answers with what it saw of the request.
func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Via", via(r))
	w.Header().Set("X-Remote", r.RemoteAddr)
	fmt.Fprintf(w, "%s %s host=%s body=%q x=%q", r.Method, r.RequestURI, r.Host, body, r.Header.Values("X-Test"))
}

type srv struct {
	s     *Server
	addr  string
	logs  *bytes.Buffer
	logMu *sync.Mutex // guards logs
	done  chan error
}

// logText returns what the server has logged so far.
func (x *srv) logText() string {
	x.logMu.Lock()
	defer x.logMu.Unlock()
	return x.logs.String()
}

func start(t *testing.T, h http.Handler, tune func(*http.Server)) *srv {
	t.Helper()
	return serveOn(t, &Server{Handler: h}, tune)
}

// serveOn serves s (its Handler set) on a listener on 127.0.0.1, with a
// net/http fallback for the same handler (tune adjusts it) and the logs
// kept; it is closed at cleanup.
func serveOn(t *testing.T, s *Server, tune func(*http.Server)) *srv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fb := &http.Server{Handler: s.Handler, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
	if tune != nil {
		tune(fb)
	}
	logs := new(bytes.Buffer)
	var mu sync.Mutex
	s.Fallback = fb
	s.Log = slog.New(slog.NewTextHandler(lockedWriter{&mu, logs}, nil))
	x := &srv{s: s, addr: ln.Addr().String(), logs: logs, logMu: &mu, done: make(chan error, 1)}
	go func() { x.done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		<-x.done
	})
	return x
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// raw is a client speaking bytes over one connection.
type raw struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &raw{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) read(method string) (*http.Response, string) {
	r.t.Helper()
	res, err := http.ReadResponse(r.br, &http.Request{Method: method})
	for err == nil && res.StatusCode < 200 { // 100 Continue
		res, err = http.ReadResponse(r.br, &http.Request{Method: method})
	}
	if err != nil {
		r.t.Fatalf("read response: %v", err)
	}
	if res.StatusCode >= 400 && res.Close {
		return res, "" // net/http closes at once after some errors: the body may be cut
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		r.t.Fatalf("read body: %v", err)
	}
	res.Body.Close()
	return res, string(b)
}

// closed reports whether the server closed the connection.
func (r *raw) closed() bool {
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := r.br.ReadByte()
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func TestKeepAliveRequestsOnTheFastPath(t *testing.T) {
	x := start(t, http.HandlerFunc(echo), nil)
	c := dial(t, x.addr)
	for i := 0; i < 3; i++ {
		c.send(fmt.Sprintf("GET /orders/%d?q=%d HTTP/1.1\r\nHost: api.test\r\nX-Test: a\r\nx-test: b\r\n\r\n", i, i))
		res, body := c.read("GET")
		if res.StatusCode != 200 || res.Header.Get("X-Via") != "fast" {
			t.Fatalf("request %d: status %d via %q", i, res.StatusCode, res.Header.Get("X-Via"))
		}
		want := fmt.Sprintf(`GET /orders/%d?q=%d host=api.test body="" x=["a" "b"]`, i, i)
		if body != want {
			t.Fatalf("body %q, want %q", body, want)
		}
		if res.ContentLength != int64(len(want)) || res.Header.Get("Date") == "" {
			t.Fatalf("Content-Length %d, Date %q", res.ContentLength, res.Header.Get("Date"))
		}
		if ct := res.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Fatalf("sniffed Content-Type %q", ct)
		}
		if res.Header.Get("X-Remote") != c.c.LocalAddr().String() {
			t.Fatalf("RemoteAddr %q, want %q", res.Header.Get("X-Remote"), c.c.LocalAddr())
		}
	}
}

func TestPipelinedRequestsAnswerInOrder(t *testing.T) {
	x := start(t, http.HandlerFunc(echo), nil)
	c := dial(t, x.addr)
	c.send("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\nHEAD /c HTTP/1.1\r\nHost: h\r\n\r\n")
	for _, want := range []string{"GET /a", "GET /b"} {
		if _, body := c.read("GET"); !strings.HasPrefix(body, want+" ") {
			t.Fatalf("got %q, want %q first", body, want)
		}
	}
	res, body := c.read("HEAD")
	if body != "" || res.StatusCode != 200 {
		t.Fatalf("HEAD: status %d body %q", res.StatusCode, body)
	}
}

// Everything the fast path does not serve goes to net/http with the bytes
// already read, and net/http keeps the connection afterwards.
func TestHandOverToNetHTTP(t *testing.T) {
	x := start(t, http.HandlerFunc(echo), func(s *http.Server) { s.MaxHeaderBytes = 8 << 10 })
	big := strings.Repeat("x", 5000) // beyond the fast path's buffer, within MaxHeaderBytes
	cases := []struct {
		name, req  string
		status     int
		bodyPrefix string
	}{
		{"body with length", "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", 200, `POST /p host=h body="abc"`},
		{"chunked body", "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, `POST /p host=h body="abc"`},
		{"expect", "PUT /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", 200, `PUT /p host=h body="hi"`},
		{"http/1.0", "GET /old HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", 200, "GET /old"},
		{"absolute form", "GET http://h/abs HTTP/1.1\r\nHost: h\r\n\r\n", 200, "GET http://h/abs"},
		{"options star", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", 200, ""}, // net/http answers it without the handler
		{"large header", "GET /big HTTP/1.1\r\nHost: h\r\nX-Big: " + big + "\r\n\r\n", 200, "GET /big"},
		{"bare LF", "GET /lf HTTP/1.1\nHost: h\n\n", 200, "GET /lf"},
		{"upgrade", "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 200, "GET /ws"},
		{"missing host", "GET /nohost HTTP/1.1\r\nX-Test: a\r\n\r\n", 400, ""},
		{"two hosts", "GET /twohosts HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, ""},
		{"space before colon", "GET /sp HTTP/1.1\r\nHost: h\r\nX-Test : a\r\n\r\n", 400, ""},
		{"obs-fold", "GET /fold HTTP/1.1\r\nHost: h\r\nX-Test: a\r\n b\r\n\r\n", 200, "GET /fold"},
		{"control in value", "GET /ctl HTTP/1.1\r\nHost: h\r\nX-Test: a\x01b\r\n\r\n", 400, ""},
		{"bad host", "GET /bh HTTP/1.1\r\nHost: a b\r\n\r\n", 400, ""},
		{"header too large", "GET /huge HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("y", 20<<10) + "\r\n\r\n", 431, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, x.addr)
			c.send(tc.req)
			res, body := c.read(strings.Fields(tc.req)[0])
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %q)", res.StatusCode, tc.status, body)
			}
			if tc.status != 200 || tc.bodyPrefix == "" {
				if v := res.Header.Get("X-Via"); v == "fast" {
					t.Fatal("served by the fast path")
				}
				return
			}
			if v := res.Header.Get("X-Via"); v != "net/http" {
				t.Fatalf("served by %q, want net/http", v)
			}
			if !strings.HasPrefix(body, tc.bodyPrefix) {
				t.Fatalf("body %q, want prefix %q", body, tc.bodyPrefix)
			}
			if res.Close {
				return
			}
			// The connection stays with net/http, even for a request the
			// fast path could serve.
			c.send("GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
			res, body = c.read("GET")
			if res.Header.Get("X-Via") != "net/http" || !strings.HasPrefix(body, "GET /next") {
				t.Fatalf("next request: via %q body %q", res.Header.Get("X-Via"), body)
			}
		})
	}
}

func TestResponseFraming(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("a"), 3000))
		w.Write(bytes.Repeat([]byte("b"), 3000))
	})
	mux.HandleFunc("/flush", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>first"))
		w.(http.Flusher).Flush()
		w.Write([]byte(" second"))
	})
	mux.HandleFunc("/declared", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"a":"12"}`))
		if _, err := w.Write([]byte("x")); err != http.ErrContentLength {
			panic(fmt.Sprintf("write beyond Content-Length: %v", err))
		}
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		if _, err := w.Write([]byte("x")); err != http.ErrBodyNotAllowed {
			panic(fmt.Sprintf("body on 204: %v", err))
		}
	})
	mux.HandleFunc("/notmodified", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"v1"`)
		w.WriteHeader(http.StatusNotModified)
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/trailers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		w.Write([]byte("data"))
		w.Header().Set("X-Sum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
	})
	mux.HandleFunc("/teapot", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // no sniffing
		w.WriteHeader(799)
		w.Write([]byte("odd"))
	})
	x := start(t, mux, nil)
	c := dial(t, x.addr)

	c.send("GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
	res, body := c.read("GET")
	if len(body) != 6000 || res.ContentLength != -1 || len(res.TransferEncoding) != 1 || res.TransferEncoding[0] != "chunked" {
		t.Fatalf("/big: %d bytes, Content-Length %d, Transfer-Encoding %v", len(body), res.ContentLength, res.TransferEncoding)
	}

	c.send("GET /flush HTTP/1.1\r\nHost: h\r\n\r\n")
	res, body = c.read("GET")
	if body != "<html>first second" || res.ContentLength != -1 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("/flush: %q, Content-Length %d, Content-Type %q", body, res.ContentLength, res.Header.Get("Content-Type"))
	}

	c.send("GET /declared HTTP/1.1\r\nHost: h\r\n\r\n")
	res, body = c.read("GET")
	if body != `{"a":"12"}` || res.ContentLength != 10 {
		t.Fatalf("/declared: %q, Content-Length %d", body, res.ContentLength)
	}

	c.send("HEAD /declared HTTP/1.1\r\nHost: h\r\n\r\n")
	res, body = c.read("HEAD")
	if body != "" || res.ContentLength != 10 {
		t.Fatalf("HEAD /declared: %q, Content-Length %d", body, res.ContentLength)
	}

	c.send("GET /nocontent HTTP/1.1\r\nHost: h\r\n\r\n")
	res, body = c.read("GET")
	if res.StatusCode != 204 || body != "" || res.Header.Get("Content-Length") != "" {
		t.Fatalf("/nocontent: %d %q %v", res.StatusCode, body, res.Header)
	}

	c.send("GET /notmodified HTTP/1.1\r\nHost: h\r\n\r\n")
	res, _ = c.read("GET")
	if res.StatusCode != 304 || res.Header.Get("Etag") != `"v1"` {
		t.Fatalf("/notmodified: %d %v", res.StatusCode, res.Header)
	}

	c.send("GET /empty HTTP/1.1\r\nHost: h\r\n\r\n")
	res, body = c.read("GET")
	if res.StatusCode != 200 || body != "" || res.Header.Get("Content-Length") != "0" {
		t.Fatalf("/empty: %d %q Content-Length %q", res.StatusCode, body, res.Header.Get("Content-Length"))
	}

	c.send("GET /trailers HTTP/1.1\r\nHost: h\r\n\r\n")
	res, body = c.read("GET")
	if body != "data" || res.Trailer.Get("X-Sum") != "42" || res.Trailer.Get("X-Late") != "yes" {
		t.Fatalf("/trailers: %q, trailer %v", body, res.Trailer)
	}

	c.send("GET /teapot HTTP/1.1\r\nHost: h\r\n\r\n")
	res, body = c.read("GET")
	if res.StatusCode != 799 || res.Status != "799 status code 799" || body != "odd" || res.Header.Get("Content-Type") != "" {
		t.Fatalf("/teapot: %q %q %v", res.Status, body, res.Header)
	}

	// Every response above kept the connection open.
	c.send("GET /empty HTTP/1.1\r\nHost: h\r\n\r\n")
	if res, _ := c.read("GET"); res.StatusCode != 200 {
		t.Fatalf("last request: %d", res.StatusCode)
	}
}

func TestConnectionClose(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", echo)
	mux.HandleFunc("/bye", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Write([]byte("bye"))
	})
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Write([]byte("only this"))
	})
	x := start(t, mux, nil)

	c := dial(t, x.addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	res, _ := c.read("GET")
	if !res.Close || res.Header.Get("X-Via") != "fast" || !c.closed() {
		t.Fatalf("client asked to close: response Close=%v via %q", res.Close, res.Header.Get("X-Via"))
	}

	c = dial(t, x.addr)
	c.send("GET /bye HTTP/1.1\r\nHost: h\r\n\r\n")
	if res, _ = c.read("GET"); !res.Close || !c.closed() {
		t.Fatalf("handler asked to close: response Close=%v", res.Close)
	}

	// A body shorter than its Content-Length: the connection must close
	// so the client sees the response is incomplete.
	c = dial(t, x.addr)
	c.send("GET /short HTTP/1.1\r\nHost: h\r\n\r\n")
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(res.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short body read: %v, want unexpected EOF", err)
	}
}

func TestPanicsCloseTheConnection(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", echo)
	mux.HandleFunc("/abort", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	mux.HandleFunc("/bug", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	x := start(t, mux, nil)
	for _, path := range []string{"/abort", "/bug"} {
		c := dial(t, x.addr)
		c.send("GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\n")
		if !c.closed() {
			t.Fatalf("%s: connection left open", path)
		}
	}
	c := dial(t, x.addr)
	c.send("GET /ok HTTP/1.1\r\nHost: h\r\n\r\n")
	if res, _ := c.read("GET"); res.StatusCode != 200 {
		t.Fatalf("after panics: %d", res.StatusCode)
	}
	// The panic is logged after the connection is closed: poll for it.
	logs := x.logText()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs, "boom") && time.Now().Before(deadline); logs = x.logText() {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs, "boom") || strings.Count(logs, "panic serving request") != 1 {
		t.Fatalf("want one logged panic (boom) and none for ErrAbortHandler, got:\n%s", logs)
	}
}

func TestTimeouts(t *testing.T) {
	x := start(t, http.HandlerFunc(echo), func(s *http.Server) {
		s.ReadHeaderTimeout = 200 * time.Millisecond
		s.IdleTimeout = 300 * time.Millisecond
	})

	// A client that starts a request and stalls is cut off.
	c := dial(t, x.addr)
	c.send("GET /slow HTTP/1.1\r\nHo")
	t0 := time.Now()
	if !c.closed() {
		t.Fatal("stalled request head: connection left open")
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("closed after %v", d)
	}

	// An idle keep-alive connection is closed after idle_timeout, and a
	// request sent before then is served.
	c = dial(t, x.addr)
	c.send("GET /one HTTP/1.1\r\nHost: h\r\n\r\n")
	c.read("GET")
	time.Sleep(100 * time.Millisecond)
	c.send("GET /two HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, body := c.read("GET"); !strings.HasPrefix(body, "GET /two") {
		t.Fatalf("second request: %q", body)
	}
	if !c.closed() {
		t.Fatal("idle connection left open")
	}
}

// The idle deadline is moved lazily (by at most an eighth of the idle
// timeout early): a connection busy for longer than the idle timeout
// stays open, and once idle it closes no earlier than that margin allows.
func TestIdleDeadlineIsLazyButBounded(t *testing.T) {
	const idle = 400 * time.Millisecond
	x := start(t, http.HandlerFunc(echo), func(s *http.Server) {
		s.ReadHeaderTimeout = idle
		s.IdleTimeout = idle
	})
	c := dial(t, x.addr)
	busy := time.Now()
	var last time.Time // when the last response had arrived
	for i := 0; ; i++ {
		c.send(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: h\r\n\r\n", i))
		if _, body := c.read("GET"); !strings.HasPrefix(body, fmt.Sprintf("GET /%d ", i)) {
			t.Fatalf("request %d after %v: %q", i, time.Since(busy), body)
		}
		last = time.Now()
		if last.Sub(busy) >= 3*idle {
			break
		}
		time.Sleep(20 * time.Millisecond) // the pace of a busy client, not a wait for an event
	}
	if !c.closed() {
		t.Fatal("idle connection left open")
	}
	// The server set the deadline right after it sent the last response,
	// at most the lazy margin short of idle; slack covers the time this
	// client took to see the response.
	if least := idle - idle/8 - 25*time.Millisecond; time.Since(last) < least {
		t.Fatalf("closed %v after the last response, want at least %v", time.Since(last), least)
	}
}

func TestShutdownDrainsInFlight(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/", echo)
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		w.Write([]byte("finished"))
	})
	x := start(t, mux, nil)

	idle := dial(t, x.addr)
	idle.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	idle.read("GET")
	handed := dial(t, x.addr) // a connection net/http serves
	handed.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx")
	if res, _ := handed.read("POST"); res.Header.Get("X-Via") != "net/http" {
		t.Fatal("not handed over")
	}
	busy := dial(t, x.addr)
	busy.send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	<-entered

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- x.s.Shutdown(ctx)
	}()
	if !idle.closed() || !handed.closed() {
		t.Fatal("idle connections left open during shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	res, body := busy.read("GET")
	if body != "finished" || !res.Close {
		t.Fatalf("in-flight request: %q, Close=%v", body, res.Close)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-x.done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	x.done <- nil // for the cleanup
	if _, err := net.Dial("tcp", x.addr); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

// Through a real client: many concurrent keep-alive connections, every
// answer right.
func TestConcurrentClients(t *testing.T) {
	x := start(t, http.HandlerFunc(echo), nil)
	concurrentGets(t, x.addr, 50, func(res *http.Response) bool { return true })
}

// concurrentGets has 16 keep-alive clients get n paths each from addr and
// fails the test on any answer that is not the fast path's echo of its
// request, or that ok refuses.
func concurrentGets(t *testing.T, addr string, n int, ok func(*http.Response) bool) {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				path := fmt.Sprintf("/g%d/%d", g, i)
				res, err := cl.Get("http://" + addr + path)
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if !strings.HasPrefix(string(b), "GET "+path+" ") || res.Header.Get("X-Via") != "fast" || !ok(res) {
					errs <- fmt.Errorf("%s: %q via %q, header %v", path, b, res.Header.Get("X-Via"), res.Header)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Close does not wait for a handler that is stuck.
func TestCloseDoesNotWaitForHandlers(t *testing.T) {
	entered := make(chan struct{})
	stuck := make(chan struct{})
	defer close(stuck)
	x := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-stuck
	}), nil)
	c := dial(t, x.addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- x.s.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a stuck handler")
	}
	if !c.closed() {
		t.Fatal("connection left open by Close")
	}
}
