package h1

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"holdfast/internal/evloop"
	"holdfast/internal/httpfield"
	"holdfast/internal/rawconn"
)

// Connection states, for Shutdown: only an idle connection (waiting for a
// request) is closed under a client's feet.
const (
	stateIdle int32 = iota
	stateActive
	stateClosed
)

type conn struct {
	s      *Server
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	state  atomic.Int32
	remote string

	req  http.Request
	url  url.URL
	hdr  http.Header
	vals []string
	w    response
	rdl  rawconn.LazyDeadline // the read deadline set on nc
	loop *evloop.Conn         // nc, while an event loop serves it
}

// waitUntil sets nc's read deadline to wait from now (none for 0),
// lazily: a keep-alive connection may be closed up to the lazy margin
// early. On an event loop, now is the loop's clock.
func (c *conn) waitUntil(wait time.Duration) {
	var t time.Time
	if wait > 0 {
		if c.loop != nil {
			t = c.loop.Loop().Now().Add(wait)
		} else {
			t = time.Now().Add(wait)
		}
	}
	if c.rdl.Move(t, wait) {
		c.nc.SetReadDeadline(t)
	}
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, remote: nc.RemoteAddr().String()}
	c.br = bufio.NewReaderSize(nc, bufSize)
	c.bw = bufio.NewWriterSize(nc, bufSize)
	c.hdr = make(http.Header, 8)
	c.w.c = c
	c.w.hdr = make(http.Header, 8)
	return c
}

func (s *Server) limits() (maxHeader int, readHeader, idle time.Duration) {
	f := s.Fallback
	maxHeader = f.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = http.DefaultMaxHeaderBytes
	}
	readHeader = f.ReadHeaderTimeout
	if readHeader <= 0 {
		readHeader = f.ReadTimeout
	}
	idle = f.IdleTimeout
	if idle <= 0 {
		idle = f.ReadTimeout
	}
	return maxHeader, readHeader, idle
}

func (c *conn) serve() { c.serveFrom(false) }

// serveFrom serves requests until the connection closes or moves on;
// resumed is true when the first request is already in the buffer and the
// connection already counted active (it moved here from an event loop).
func (c *conn) serveFrom(resumed bool) {
	moved := false
	defer func() {
		if !moved {
			c.nc.Close()
			c.s.forget(c)
		}
	}()
	maxHeader, readHeader, idle := c.s.limits()
	first := true
	for {
		wait := idle
		if first {
			wait = readHeader
		}
		if !resumed {
			if wait > 0 || !first {
				c.waitUntil(wait)
			}
			if _, err := c.br.Peek(1); err != nil {
				return
			}
			if !c.state.CompareAndSwap(stateIdle, stateActive) {
				return // Shutdown closed it while idle
			}
		}
		resumed = false
		n, ok := c.headEnd(first, readHeader)
		if n < 0 {
			return // the client went away or was too slow
		}
		if ok && n <= maxHeader {
			ok = c.parse(n)
		}
		if !ok {
			moved = c.handOver()
			return
		}
		if c.loop != nil && (c.s.Loopable == nil || !c.s.Loopable(&c.req)) {
			moved = c.leaveLoop()
			return
		}
		first = false
		c.br.Discard(n)
		if !c.serveOne() {
			return
		}
		if !c.state.CompareAndSwap(stateActive, stateIdle) {
			return
		}
	}
}

// leaveLoop moves the connection, its current request still unread in the
// buffer, from its event loop to a goroutine of its own, which serves it
// from then on; false when it could not.
func (c *conn) leaveLoop() bool {
	rc, err := c.detach()
	if err != nil {
		return false
	}
	c.s.mu.Lock()
	closed := c.state.Load() == stateClosed // by Close, while it was detached
	if !closed {
		c.nc = rc
	}
	c.s.mu.Unlock()
	if closed {
		rc.Close()
		return false
	}
	c.loop = nil
	c.br.Reset(rc)
	c.bw.Reset(rc)
	c.rdl = rawconn.LazyDeadline{}
	go c.serveFrom(true)
	return true
}

// headEnd waits until the request head (up to the blank line) is buffered
// and returns its length; ok is false when it does not fit in the buffer,
// n < 0 on a read error.
func (c *conn) headEnd(first bool, readHeader time.Duration) (n int, ok bool) {
	deadlineSet := first
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		if i := bytes.Index(buf, crlfcrlf); i >= 0 {
			return i + 4, true
		}
		if len(buf) >= bufSize || bytes.Contains(buf, lflf) || bytes.Contains(buf, lfcrlf) {
			// Too long, or lines ending in a bare LF: net/http's.
			return len(buf), false
		}
		if !deadlineSet && readHeader > 0 {
			c.waitUntil(readHeader)
			deadlineSet = true
		}
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			return -1, false
		}
	}
}

var (
	crlfcrlf = []byte("\r\n\r\n")
	lflf     = []byte("\n\n")
	lfcrlf   = []byte("\n\r\n")
)

// parse reads the head in the first n buffered bytes into c.req; false for
// anything the fast path leaves to net/http.
func (c *conn) parse(n int) bool {
	b, _ := c.br.Peek(n)
	head := string(b[:n-2]) // each line ends in CRLF; the last CRLF is the blank line
	eol := strings.Index(head, "\r\n")
	line := head[:eol]
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || proto != "HTTP/1.1" || !httpfield.IsToken(method) || method == http.MethodConnect ||
		len(target) == 0 || target[0] != '/' {
		return false
	}
	if plainPath(target) {
		// What url.ParseRequestURI makes of it, without its work.
		c.url = url.URL{Path: target}
	} else {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return false
		}
		c.url = *u
	}
	lines := head[eol+2:]
	count := strings.Count(lines, "\r\n")
	if cap(c.vals) < count {
		c.vals = make([]string, count)
	}
	vals := c.vals[:count]
	clear(c.hdr)
	h := c.hdr
	host, hosts := "", 0
	closeConn := false
	for i := 0; lines != ""; i++ {
		eol := strings.Index(lines, "\r\n")
		l := lines[:eol]
		lines = lines[eol+2:]
		colon := strings.IndexByte(l, ':')
		if colon <= 0 {
			return false // no name, or obs-fold (a line starting with space)
		}
		name := l[:colon]
		if !httpfield.IsToken(name) {
			return false
		}
		v := strings.Trim(l[colon+1:], " \t")
		if !httpfield.ValidValue(v) {
			return false
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		switch key {
		case "Host":
			host = v
			hosts++
			continue
		case "Content-Length", "Transfer-Encoding", "Expect", "Upgrade", "Http2-Settings":
			return false
		case "Connection":
			if httpfield.HasToken(v, "upgrade") {
				return false
			}
			if httpfield.HasToken(v, "close") {
				closeConn = true
			}
		}
		if prior, ok := h[key]; ok {
			h[key] = append(prior, v)
			continue
		}
		vals[i] = v
		h[key] = vals[i : i+1 : i+1]
	}
	if hosts != 1 || !validHost(host) {
		return false
	}
	if p, ok := h["Pragma"]; ok && len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = noCache
		}
	}
	c.req = http.Request{
		Method:     method,
		URL:        &c.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       http.NoBody,
		Host:       host,
		RemoteAddr: c.remote,
		RequestURI: target,
		Close:      closeConn,
	}
	return true
}

var noCache = []string{"no-cache"}

// serveOne runs the handler for c.req and finishes the response; false
// when the connection must close.
func (c *conn) serveOne() (keep bool) {
	w := &c.w
	w.reset(&c.req)
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				buf := make([]byte, 16<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.s.logger().Error("h1: panic serving request", "remote", c.remote,
					"panic", fmt.Sprint(p), "stack", string(buf))
			}
			keep = false
		}
	}()
	c.s.Handler.ServeHTTP(w, &c.req)
	return w.finish()
}

// handOver gives the connection, with the bytes read so far, to the
// fallback server.
func (c *conn) handOver() bool {
	if c.loop != nil {
		return c.handOverFromLoop()
	}
	rc := c.replay(c.nc)
	c.waitUntil(0)
	c.state.Store(stateClosed)
	ok := c.s.handed.give(rc)
	if ok {
		c.s.forget(c)
	}
	return ok
}

// handOverFromLoop hands a loop's connection to the fallback server: as a
// connection of Go's poller, and from a goroutine, since the loop must not
// wait for the fallback server to accept it.
func (c *conn) handOverFromLoop() bool {
	rc, err := c.detach()
	if err != nil {
		return false
	}
	c.state.Store(stateClosed)
	c.s.forget(c)
	go func() {
		if !c.s.handed.give(rc) {
			rc.Close()
		}
	}()
	return true
}

// detach takes the connection out of its event loop, onto Go's poller,
// with the bytes read so far still to be read.
func (c *conn) detach() (*replayConn, error) {
	gc, err := c.loop.Detach()
	if err != nil {
		return nil, err
	}
	return c.replay(gc), nil
}

// replay is nc with the bytes read from the connection so far (and not
// yet parsed) in front.
func (c *conn) replay(nc net.Conn) *replayConn {
	buffered, _ := c.br.Peek(c.br.Buffered())
	return &replayConn{Conn: nc, buf: bytes.Clone(buffered)}
}

// replayConn returns buf before reading from the connection.
type replayConn struct {
	net.Conn
	buf []byte
}

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.buf) > 0 {
		n := copy(p, r.buf)
		r.buf = r.buf[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}

// validHost allows what net/http allows in a Host header.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if !hostChar[h[i]] {
			return false
		}
	}
	return true
}

var hostChar = charTable("!$&'()*+,-.:;=[]_~%")

// plainPath reports whether a request target is a path that URL parsing
// leaves as it is: no query, no escapes, nothing it would escape again.
func plainPath(t string) bool {
	for i := 0; i < len(t); i++ {
		if !pathChar[t[i]] {
			return false
		}
	}
	return true
}

var pathChar = charTable("-._~/$&+,:;=@")

// charTable marks letters, digits and extra.
func charTable(extra string) (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range extra {
		t[c] = true
	}
	return t
}
