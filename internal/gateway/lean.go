package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"holdfast/internal/evloop"
	"holdfast/internal/rawconn"
)

// leanClient is a minimal HTTP/1.1 client for the common case: a request
// without a body, that may be sent twice, to a plain http:// upstream. It
// writes the request and reads the response on the handler's goroutine over
// a pooled keep-alive connection, where http.Transport hands every exchange
// to two goroutines per connection; on loopback that costs about a third of
// the client-side time. Responses are parsed by net/http (http.ReadResponse).
// Everything else (bodies, upgrades, https/HTTP/2, non-idempotent methods)
// goes through the upstream's http.Transport.
type leanClient struct {
	u           *upstream
	maxIdle     int
	idleTimeout time.Duration
	headerTO    time.Duration

	mu   sync.Mutex
	idle []*leanConn // most recently used last

	// The idle connections of each event loop (by Loop.ID), made at its
	// first request; each is used only on its loop, without a lock.
	loops []atomic.Pointer[loopIdle]
}

type loopIdle struct {
	lp   *evloop.Loop
	idle []*leanConn // most recently used last
}

type leanConn struct {
	c      net.Conn
	raw    *rawconn.Conn // c, when it is a TCP connection
	br     *bufio.Reader
	wbuf   []byte // the request being sent
	idleAt time.Time
	dl     rawconn.LazyDeadline // the deadline set on c
	lp     *evloop.Loop         // the event loop c belongs to, if any

	rh   relayHead   // the head relayTrip relayed
	stop func() bool // and its cancellation's undoing, for relay
}

// setDeadline sets the connection's deadline to t (zero: none), lazily.
func (pc *leanConn) setDeadline(t time.Time, timeout time.Duration) {
	if pc.dl.Move(t, timeout) {
		pc.c.SetDeadline(t)
	}
}

// aLongTimeAgo is a deadline that makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

func newLeanClient(u *upstream, maxIdle int, headerTimeout time.Duration) *leanClient {
	return &leanClient{u: u, maxIdle: maxIdle, idleTimeout: upstreamIdleTimeout, headerTO: headerTimeout,
		loops: make([]atomic.Pointer[loopIdle], evloop.DefaultSize())}
}

// onLoop returns lp's idle connections.
func (lc *leanClient) onLoop(lp *evloop.Loop) *loopIdle {
	slot := &lc.loops[lp.ID()]
	li := slot.Load()
	if li == nil {
		li = &loopIdle{lp: lp}
		slot.Store(li) // only lp's coroutines store into its slot
	}
	return li
}

// getOnLoop is get for a request an event loop serves: the connection
// is one of the loop's, dialed off the loop.
func (lc *leanClient) getOnLoop(ctx context.Context, lp *evloop.Loop, now time.Time) (pc *leanConn, reused bool, err error) {
	li := lc.onLoop(lp)
	for n := len(li.idle); n > 0; n = len(li.idle) {
		pc = li.idle[n-1]
		li.idle[n-1] = nil
		li.idle = li.idle[:n-1]
		if now.Sub(pc.idleAt) < lc.idleTimeout {
			return pc, true, nil
		}
		pc.c.Close()
	}
	var nc net.Conn
	lp.Await(func() { nc, err = lc.u.dial(ctx, "tcp", lc.u.dialAddr) })
	if err != nil {
		return nil, false, err
	}
	c, err := lp.Adopt(nc)
	if err != nil {
		return nil, false, err
	}
	return &leanConn{c: c, br: bufio.NewReaderSize(c, upstreamBufferSize), lp: lp}, false, nil
}

// get returns an idle connection (reused = true) or dials a new one.
func (lc *leanClient) get(ctx context.Context, lp *evloop.Loop, now time.Time) (pc *leanConn, reused bool, err error) {
	if lp != nil {
		return lc.getOnLoop(ctx, lp, now)
	}
	lc.mu.Lock()
	for n := len(lc.idle); n > 0; n = len(lc.idle) {
		pc = lc.idle[n-1]
		lc.idle[n-1] = nil
		lc.idle = lc.idle[:n-1]
		if now.Sub(pc.idleAt) < lc.idleTimeout {
			lc.mu.Unlock()
			return pc, true, nil
		}
		pc.c.Close()
	}
	lc.mu.Unlock()
	c, err := lc.u.dial(ctx, "tcp", lc.u.dialAddr)
	if err != nil {
		return nil, false, err
	}
	c = rawconn.Wrap(c)
	raw, _ := c.(*rawconn.Conn)
	return &leanConn{
		c:   c,
		raw: raw,
		br:  bufio.NewReaderSize(c, upstreamBufferSize),
	}, false, nil
}

// put returns a connection whose exchange ended cleanly to the pool. One
// with bytes past the response (an upstream that answered twice) is closed.
func (lc *leanClient) put(pc *leanConn) {
	if pc.br.Buffered() > 0 {
		pc.c.Close()
		return
	}
	if pc.lp != nil {
		pc.idleAt = pc.lp.Now()
		li := lc.onLoop(pc.lp)
		if len(li.idle) < lc.maxIdle {
			li.idle = append(li.idle, pc)
			return
		}
		pc.c.Close()
		return
	}
	pc.idleAt = time.Now()
	lc.mu.Lock()
	if len(lc.idle) < lc.maxIdle {
		lc.idle = append(lc.idle, pc)
		lc.mu.Unlock()
		return
	}
	lc.mu.Unlock()
	pc.c.Close()
}

// closeIdle closes every pooled connection.
func (lc *leanClient) closeIdle() {
	lc.mu.Lock()
	idle := lc.idle
	lc.idle = nil
	lc.mu.Unlock()
	for _, pc := range idle {
		pc.c.Close()
	}
	for i := range lc.loops {
		if li := lc.loops[i].Load(); li != nil {
			li.lp.Post(func() {
				for _, pc := range li.idle {
					pc.c.Close()
				}
				li.idle = nil
			})
		}
	}
}

// roundTrip sends r (method, header and context; the body is nil) to path
// and query on the upstream. A reused connection that turns out to be closed
// by the upstream before any answer is replaced by a new one once: the
// request is idempotent, so sending it again is safe.
//
// lp is the event loop serving the request, nil when a goroutine does.
func (lc *leanClient) roundTrip(lp *evloop.Loop, r *http.Request, ff *fwdFields, path, rawPath, query string) (*http.Response, error) {
	res, _, err := lc.trip(lp, r, ff, path, rawPath, query, false)
	return res, err
}

// relayTrip is roundTrip for a client writer that takes a raw head: when
// the upstream's head is one to relay, the answer is pc, its head in pc.rh
// and its body next in pc.br (see relay); otherwise res, as from roundTrip.
func (lc *leanClient) relayTrip(lp *evloop.Loop, r *http.Request, ff *fwdFields, path, rawPath, query string) (res *http.Response, pc *leanConn, err error) {
	return lc.trip(lp, r, ff, path, rawPath, query, true)
}

func (lc *leanClient) trip(lp *evloop.Loop, r *http.Request, ff *fwdFields, path, rawPath, query string, relay bool) (*http.Response, *leanConn, error) {
	ctx := r.Context()
	clock := time.Now
	if lp != nil {
		clock = lp.Now // deadlines and idle times need no fresher clock
	}
	for {
		now := clock()
		pc, reused, err := lc.get(ctx, lp, now)
		if err != nil {
			return nil, nil, err
		}
		if !reused {
			now = clock() // after a dial: the header timeout starts now
		}
		res, relayed, err := lc.exchange(ctx, pc, r, ff, path, rawPath, query, now, relay)
		if err == nil {
			if relayed {
				return nil, pc, nil
			}
			return res, nil, nil
		}
		pc.c.Close()
		if reused && ctx.Err() == nil && staleConn(err) {
			continue
		}
		return nil, nil, err
	}
}

func (lc *leanClient) exchange(ctx context.Context, pc *leanConn, r *http.Request, ff *fwdFields, path, rawPath, query string, now time.Time, relay bool) (*http.Response, bool, error) {
	if lc.headerTO > 0 {
		pc.setDeadline(now.Add(lc.headerTO), lc.headerTO)
	}
	stop := noStop
	if ctx.Done() != nil { // the fast path's requests cannot be canceled
		stop = context.AfterFunc(ctx, func() { pc.c.SetDeadline(aLongTimeAgo) })
	}
	pc.wbuf = appendRequestLine(pc.wbuf[:0], r.Method, lc.u.host, path, rawPath, query)
	if ff != nil {
		pc.wbuf = ff.appendFields(pc.wbuf, r.Header)
	} else {
		pc.wbuf = appendFields(pc.wbuf, r.Header)
	}
	if pc.raw != nil && pc.br.Buffered() == 0 {
		// Written by the response's first read, which then waits for
		// the answer without a read that finds nothing first.
		pc.raw.SendBeforeRead(pc.wbuf)
	} else if _, err := pc.c.Write(pc.wbuf); err != nil {
		stop()
		return nil, false, err
	}
	if relay {
		ok, err := readRelayHead(pc.br, r, &pc.rh)
		if err != nil {
			stop()
			return nil, false, err
		}
		if ok {
			pc.stop = stop
			if lc.headerTO > 0 && pc.rh.cl > int64(pc.br.Buffered()) {
				pc.setDeadline(time.Time{}, 0) // no deadline on the body, as below
			}
			return nil, true, nil
		}
	}
	res, err := readLeanResponse(pc.br, r)
	if err == nil {
		b := &leanBody{br: pc.br, remain: res.ContentLength, pc: pc, lc: lc, stop: stop, keep: !res.Close}
		res.Body = b
		if res.ContentLength == 0 {
			res.Body = http.NoBody
			b.eof = true
			b.Close()
		}
		if lc.headerTO > 0 && res.ContentLength > int64(pc.br.Buffered()) {
			// The body is still to come: no deadline on it, as with
			// net/http. (A body already buffered needs no read, and the
			// next exchange sets its own deadline.)
			pc.setDeadline(time.Time{}, 0)
		}
		return res, false, nil
	}
	if err != errLeanFallback {
		stop()
		return nil, false, err
	}
	for {
		res, err = http.ReadResponse(pc.br, r)
		if err != nil {
			stop()
			return nil, false, err
		}
		if res.StatusCode >= 200 || res.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		// 1xx (103 Early Hints and the like): the final answer follows.
	}
	pc.setDeadline(time.Time{}, 0)
	res.Body = &leanBody{rc: res.Body, pc: pc, lc: lc, stop: stop, keep: !res.Close}
	return res, false, nil
}

// relay copies the body of the relayed answer on pc (pc.rh.cl bytes) to w
// and then returns the connection to the pool, or closes it when the body
// was cut short, the upstream closes it or the request was canceled. It
// tells a read error (upstream) from a write error (client).
func (lc *leanClient) relay(pc *leanConn, w io.Writer) (n int64, rerr, werr error) {
	remain := pc.rh.cl
	for remain > 0 && rerr == nil && werr == nil {
		if pc.br.Buffered() == 0 {
			if _, err := pc.br.Peek(1); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				rerr = err
				break
			}
		}
		chunk := pc.br.Buffered()
		if int64(chunk) > remain {
			chunk = int(remain)
		}
		b, _ := pc.br.Peek(chunk)
		nw, err := w.Write(b)
		n += int64(nw)
		remain -= int64(nw)
		pc.br.Discard(nw)
		if err == nil && nw < len(b) {
			err = io.ErrShortWrite
		}
		werr = err
	}
	canceled := !pc.stop()
	pc.stop = nil
	if remain > 0 || pc.rh.close || canceled {
		pc.c.Close()
	} else {
		lc.put(pc)
	}
	return n, rerr, werr
}

func noStop() bool { return true }

// staleConn reports whether err is what a keep-alive connection the
// upstream had already closed looks like.
func staleConn(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// leanBody hands the connection back to the pool once the body was read to
// the end, and closes it otherwise (an unread body is not drained). It reads
// a body net/http framed (rc), or remain bytes straight from the
// connection's buffer (readLeanResponse).
type leanBody struct {
	rc     io.ReadCloser
	br     *bufio.Reader
	remain int64
	pc     *leanConn
	lc     *leanClient
	stop   func() bool
	keep   bool
	eof    bool
	done   bool
}

func (b *leanBody) Read(p []byte) (int, error) {
	if b.rc == nil {
		return b.readDirect(p)
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *leanBody) readDirect(p []byte) (int, error) {
	if b.remain <= 0 {
		b.eof = true
		return 0, io.EOF
	}
	if b.done {
		return 0, http.ErrBodyReadAfterClose
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.br.Read(p)
	b.remain -= int64(n)
	if b.remain == 0 {
		b.eof = true
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *leanBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	canceled := !b.stop()
	if !b.eof || !b.keep || canceled {
		b.pc.c.Close() // before rc.Close, which would otherwise drain
		if b.rc != nil {
			b.rc.Close()
		}
		return nil
	}
	if b.rc != nil {
		b.rc.Close()
	}
	b.lc.put(b.pc)
	return nil
}

// appendRequestLine appends an HTTP/1.1 request line and its Host field.
func appendRequestLine(b []byte, method, host, path, rawPath, query string) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	switch {
	case rawPath != "":
		b = append(b, rawPath...)
	case path == "":
		b = append(b, '/')
	case pathNeedsEscape(path):
		b = append(b, escapePath(path)...)
	default:
		b = append(b, path...)
	}
	if query != "" {
		b = append(b, '?')
		b = append(b, query...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	return append(b, "\r\n"...)
}

// appendFields appends the fields of h, prepared for the upstream, and the
// blank line that ends the head.
func appendFields(b []byte, h http.Header) []byte {
	for k, vv := range h {
		b = appendFieldLines(b, k, vv)
	}
	return append(b, "\r\n"...)
}

// appendFieldLines appends k's lines. The header comes from the server's
// parser or from the gateway, but a value with a line break is dropped all
// the same: it could forge a header upstream. Host is on the request line's
// side; an empty User-Agent means none (prepareHeaders' "no Go default").
func appendFieldLines(b []byte, k string, vv []string) []byte {
	if k == "Host" || !safeHeaderText(k) {
		return b
	}
	for _, v := range vv {
		if v == "" && k == "User-Agent" {
			continue
		}
		if !safeHeaderText(v) {
			continue
		}
		b = append(b, k...)
		b = append(b, ": "...)
		b = append(b, v...)
		b = append(b, "\r\n"...)
	}
	return b
}

// fwdFields are the fields the gateway adds to a request it forwards, for
// the lean client to write after the client's own when the client's header
// is plain (plainHeader): the same head as the trace headers applied and
// prepareHeaders run on the map, without editing the map.
type fwdFields struct {
	trace         *traceHeaders
	forwardedFor  string // the client's IP and the X-Forwarded-For before it; "" for none
	ip            bool   // forwardedFor replaces the client's X-Forwarded-For
	proto, fwHost string // X-Forwarded-Proto and -Host ("" for none)
}

func newFwdFields(r *http.Request, th *traceHeaders) fwdFields {
	ff := fwdFields{trace: th, proto: "http", fwHost: r.Host}
	if r.TLS != nil {
		ff.proto = "https"
	}
	if ip := remoteIP(r.RemoteAddr); ip != "" {
		ff.ip = true
		if prior := r.Header["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		ff.forwardedFor = ip
	}
	return ff
}

// appendFields appends the client's fields of h that go upstream as they
// are, the forwarded ones and the blank line.
func (ff *fwdFields) appendFields(b []byte, h http.Header) []byte {
	for k, vv := range h {
		switch k {
		case "Connection", hdrTraceparent, hdrRequestID, "X-Forwarded-Proto":
			continue
		case hdrTracestate:
			if !ff.trace.keepTracestate {
				continue
			}
		case "X-Forwarded-For":
			if ff.ip {
				continue
			}
		case "X-Forwarded-Host":
			if ff.fwHost != "" {
				continue
			}
		}
		b = appendFieldLines(b, k, vv)
	}
	b = appendFieldLines(b, hdrTraceparent, []string{ff.trace.traceparent})
	b = appendFieldLines(b, hdrRequestID, ff.trace.reqID)
	if ff.ip {
		b = appendFieldLines(b, "X-Forwarded-For", []string{ff.forwardedFor})
	}
	b = appendFieldLines(b, "X-Forwarded-Proto", []string{ff.proto})
	if ff.fwHost != "" {
		b = appendFieldLines(b, "X-Forwarded-Host", []string{ff.fwHost})
	}
	return append(b, "\r\n"...)
}

// plainHeader reports whether h, a client's request header, has no
// hop-by-hop field but a Connection of keep-alive and close (naming no
// field present), so that the forwarded head is h's fields less the
// replaced ones plus fwdFields'.
func plainHeader(h http.Header) bool {
	for k, vv := range h {
		if k != "Connection" {
			if slices.Contains(hopHeaders[:], k) {
				return false
			}
			continue
		}
		for _, v := range vv {
			for v != "" {
				var tok string
				tok, v, _ = strings.Cut(v, ",")
				switch tok = strings.TrimSpace(tok); {
				case tok == "", strings.EqualFold(tok, "keep-alive"):
				case strings.EqualFold(tok, "close"):
					if _, ok := h["Close"]; ok {
						return false
					}
				default:
					return false
				}
			}
		}
	}
	return true
}

func safeHeaderText(s string) bool {
	return strings.IndexByte(s, '\r') < 0 && strings.IndexByte(s, '\n') < 0
}

// pathNeedsEscape reports whether a decoded path has bytes that must be
// escaped on the request line.
func pathNeedsEscape(p string) bool {
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '%' || c == '?' || c == '#' {
			return true
		}
	}
	return false
}

// escapePath percent-encodes what pathNeedsEscape objects to.
func escapePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '%' || c == '?' || c == '#' {
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&0xf])
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}
