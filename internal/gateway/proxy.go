package gateway

import (
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"holdfast/internal/evloop"
	"holdfast/internal/httpfield"
)

// exchange is what one client request became; it feeds the access log.
type exchange struct {
	start    time.Time
	end      time.Time // when the response was done, if known
	route    *route
	target   string
	status   int
	kind     ErrKind
	bytes    int64
	attempts int
	trace    traceHeaders
	// prepared: r.Header has been turned into the upstream's (the trace
	// headers applied, prepareHeaders run); until then the lean client
	// may write the forwarded fields itself (plainHeader).
	prepared bool
	upType   string // prepareHeaders' answer, once prepared
}

// prepare turns r.Header into the upstream's, once.
func (x *exchange) prepare(r *http.Request) {
	if !x.prepared {
		x.trace.apply(r.Header)
		x.upType = prepareHeaders(r)
		x.prepared = true
	}
}

// ServeHTTP routes, applies the kill switch and forwards the request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := exchange{start: g.now()}
	defer g.logAccess(r, &x) // deferred so it also runs when a broken body copy aborts the handler
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	x.trace = traceFor(r.Header)
	w.Header()[hdrRequestID] = x.trace.reqID
	p, cleaned := cleanPath(r.URL.Path)
	rt := g.match(r, p)
	if rt == nil {
		x.status = http.StatusNotFound
		writeJSON(w, x.status, noRouteBody(r.URL.Path))
		return
	}
	x.route = rt
	if r.ContentLength > g.maxBody {
		g.tooLargeReply(w, &x)
		return
	}
	rawP := r.URL.RawPath
	if cleaned {
		rawP = ""
	}
	key := ""
	if rt.hashed || rt.killSwitch != "" {
		if rt.key.kind == hkHeader && (rt.key.name == hdrRequestID || rt.key.name == hdrTraceparent) {
			x.prepare(r) // the key is what goes upstream
		}
		key = rt.clientKey(r)
	}
	if rt.killSwitch != "" && !g.switchOn(rt, key) {
		if rt.static != nil {
			g.serveStatic(w, rt.static, &x)
			return
		}
		g.forward(w, r, rt, &x, p, rawP, key, true)
		return
	}
	g.forward(w, r, rt, &x, p, rawP, key, false)
}

// switchOn reads the route's kill switch for entity. An unknown flag counts
// as on (traffic to the targets): a typo must not divert production
// traffic to the fallback. It is logged once per route.
func (g *Gateway) switchOn(rt *route, entity string) bool {
	if g.flags == nil {
		return true
	}
	v, known := g.flags.Bool(rt.killSwitch, entity)
	if !known {
		if !rt.unknownLogged.Load() && rt.unknownLogged.CompareAndSwap(false, true) {
			g.log.Warn("kill switch flag is unknown; sending traffic to the targets",
				logKeyRoute, rt.name, logKeyFlag, rt.killSwitch)
		}
		return true
	}
	return v
}

func (g *Gateway) serveStatic(w http.ResponseWriter, st *staticResp, x *exchange) {
	wh := w.Header()
	for k, v := range st.header {
		wh[k] = v
	}
	w.WriteHeader(st.status)
	n, _ := w.Write(st.body)
	x.status, x.bytes, x.target, x.attempts = st.status, int64(n), StaticTarget, 1
	st.rec.Observe(st.status, ErrNone, g.now().Sub(x.start))
}

func (g *Gateway) tooLargeReply(w http.ResponseWriter, x *exchange) {
	x.status = http.StatusRequestEntityTooLarge
	w.Header()["Connection"] = connClose // the rest of the body is not read
	writeJSON(w, x.status, g.tooLarge)
}

// forward sends the request to a target (or to the route's fallback
// upstream), retrying an idempotent request on another target when the
// connection could not be made.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, rt *route, x *exchange, p, rawP, key string, fallback bool) {
	var ff *fwdFields // the forwarded fields, for the lean client to write itself
	var fwd fwdFields
	if !x.prepared && plainHeader(r.Header) {
		fwd = newFwdFields(r, &x.trace)
		ff = &fwd
	} else {
		x.prepare(r)
	}
	var body *reqBody
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		body = &reqBody{rc: r.Body, limit: g.maxBody}
		defer body.finish()
	}
	retryable := idempotent(r)
	now := x.start.UnixNano()
	var tried uint64
	var st splitTry
	sp := rt.split.Load()
	attemptStart := x.start
	for {
		t, idx := rt.fallback, -1
		if !fallback {
			if t, idx = rt.pickTarget(sp, r, key, &st, tried, now); t == nil {
				x.status = http.StatusServiceUnavailable
				writeJSON(w, x.status, bodyNoTarget)
				return
			}
		}
		x.target = t.up.name
		x.attempts++
		var res *http.Response
		var err error
		if lean := t.up.lean; lean != nil && body == nil && x.upType == "" && retryable {
			outPath, outRaw := rt.upstreamPath(t.up, p, rawP)
			if rw, ok := w.(rawHeaderWriter); ok {
				var pc *leanConn
				res, pc, err = lean.relayTrip(loopOf(w), r, ff, outPath, outRaw, r.URL.RawQuery)
				if pc != nil {
					g.respondRelay(rw, x, t, lean, pc, attemptStart)
					return
				}
			} else {
				res, err = lean.roundTrip(loopOf(w), r, ff, outPath, outRaw, r.URL.RawQuery)
			}
		} else {
			x.prepare(r)
			ff = nil
			res, err = t.up.transport.RoundTrip(newOutbound(r, rt, t.up, p, rawP, body))
		}
		if err == nil {
			g.respond(w, x, t, res, attemptStart, x.upType)
			return
		}
		if body != nil && body.over.Load() {
			g.tooLargeReply(w, x)
			return
		}
		kind, unsent := classify(r.Context(), err)
		end := g.now()
		t.rec.Observe(statusFor(kind), kind, end.Sub(attemptStart))
		if kind != ErrCanceled {
			t.up.failed(end.UnixNano())
		}
		if kind == ErrConnect && unsent && retryable && x.attempts <= rt.retries && (body == nil || body.n.Load() == 0) {
			if idx >= 0 && idx < 64 {
				tried |= 1 << uint(idx)
			}
			st.mark(idx)
			attemptStart = end
			continue
		}
		x.status, x.kind = statusFor(kind), kind
		if kind != ErrCanceled {
			writeJSON(w, x.status, t.errBody[kind])
		}
		return
	}
}

// loopOf is the event loop serving w's request, nil when a goroutine does.
func loopOf(w http.ResponseWriter) *evloop.Loop {
	if l, ok := w.(interface{ EventLoop() *evloop.Loop }); ok {
		return l.EventLoop()
	}
	return nil
}

// Loopable reports whether the current Gateway serves r without blocking
// on anything but the client's and upstreams' connections, so that an
// event loop may run it (package evloop): a request the lean client
// forwards, or one answered from the gateway itself. h1 asks it.
func (h *Handler) Loopable(r *http.Request) bool {
	g := h.cur.Load()
	return g == nil || g.loopable(r)
}

func (g *Gateway) loopable(r *http.Request) bool {
	if !idempotent(r) {
		return false // the lean client sends only what may be sent twice
	}
	p, _ := cleanPath(r.URL.Path)
	rt := g.match(r, p)
	if rt == nil {
		return true
	}
	if !rt.lean {
		return false
	}
	if sp := rt.split.Load(); sp != nil {
		if (sp.cand != nil && sp.cand.up.lean == nil) || (sp.stable != nil && sp.stable.up.lean == nil) {
			return false
		}
	}
	return true
}

// choose picks a target among those in rotation, or among all of them when
// none is (trying a target that may be down beats failing for sure).
func (rt *route) choose(key string, tried uint64, now int64) int {
	ps := pickSet{now: now, tried: tried, health: true}
	for {
		var i int
		if rt.hashed && key != "" {
			i = rendezvous{}.Select(rt.targets, key, ps)
		} else {
			i = rt.rr.Select(rt.targets, key, ps)
		}
		if i >= 0 || !ps.health {
			return i
		}
		ps.health = false
	}
}

// idempotent reports whether a request may be sent twice: by its method, or
// because the client marked it with an idempotency key.
func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	_, ok := r.Header["Idempotency-Key"]
	if !ok {
		_, ok = r.Header["X-Idempotency-Key"]
	}
	return ok
}

// respond passes an upstream response to the client.
func (g *Gateway) respond(w http.ResponseWriter, x *exchange, t *target, res *http.Response, attemptStart time.Time, upType string) {
	status := res.StatusCode
	kind := g.answered(t, status)
	if status == http.StatusSwitchingProtocols {
		g.upgrade(w, x, t, res, attemptStart, upType)
		return
	}
	removeHopByHop(res.Header)
	wh := w.Header()
	for k, v := range res.Header {
		wh[k] = v // the response is ours: its value slices can be shared
	}
	wh[hdrRequestID] = x.trace.reqID
	var announced []string
	if len(res.Trailer) > 0 {
		announced = make([]string, 0, len(res.Trailer))
		for k := range res.Trailer {
			announced = append(announced, k)
		}
		wh["Trailer"] = []string{strings.Join(announced, ", ")}
	}
	w.WriteHeader(status)
	x.status = status
	flush := res.ContentLength == -1 || strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream")
	n, rerr, werr := copyBody(w, res.Body, flush)
	res.Body.Close() // before reading res.Trailer
	x.bytes = n
	if len(res.Trailer) > 0 {
		if f, ok := w.(http.Flusher); ok {
			f.Flush() // trailers need a chunked response
		}
		for k, v := range res.Trailer {
			if !contains(announced, k) {
				k = http.TrailerPrefix + k
			}
			wh[k] = v
		}
	}
	g.bodyDone(x, t, status, kind, rerr, werr, attemptStart)
}

// answered records an upstream's status against its health and returns
// the attempt's error kind so far.
func (g *Gateway) answered(t *target, status int) ErrKind {
	if status >= 500 {
		t.up.failed(g.now().UnixNano())
		return ErrUpstream5xx
	}
	t.up.succeeded()
	return ErrNone
}

// bodyDone records the attempt once the body was passed on: a read error
// (the upstream broke off the body) or a write error (the client went) is
// its error kind, unless it already had one.
func (g *Gateway) bodyDone(x *exchange, t *target, status int, kind ErrKind, rerr, werr error, attemptStart time.Time) {
	switch {
	case rerr != nil:
		kind = ErrConnect
	case werr != nil && kind == ErrNone:
		kind = ErrCanceled
	}
	x.kind = kind
	x.end = g.now()
	t.rec.Observe(status, kind, x.end.Sub(attemptStart))
	if rerr != nil {
		// The client already has the status line; only breaking the
		// connection tells it the body is incomplete.
		panic(http.ErrAbortHandler)
	}
}

// rawHeaderWriter is a ResponseWriter that takes a head as wire-ready
// field lines (h1's): the lean client relays an upstream's common answer
// to it without a header map on either side.
type rawHeaderWriter interface {
	http.ResponseWriter
	WriteRawHeader(code int, fields []byte, hasDate bool, contentLength int64)
}

// respondRelay is respond for an answer the lean client relays.
func (g *Gateway) respondRelay(w rawHeaderWriter, x *exchange, t *target, lc *leanClient, pc *leanConn, attemptStart time.Time) {
	status := pc.rh.status
	kind := g.answered(t, status)
	w.Header()[hdrRequestID] = x.trace.reqID
	w.WriteRawHeader(status, pc.rh.fields, pc.rh.hasDate, pc.rh.cl)
	x.status = status
	n, rerr, werr := lc.relay(pc, w)
	x.bytes = n
	g.bodyDone(x, t, status, kind, rerr, werr, attemptStart)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

const copyBufSize = 32 << 10

var copyBufs = sync.Pool{New: func() any { return new([copyBufSize]byte) }}

// copyBody copies an upstream body to the client through a pooled buffer,
// flushing after every write when the body is streamed. It tells a read
// error (upstream) from a write error (client).
func copyBody(w http.ResponseWriter, body io.Reader, flush bool) (n int64, rerr, werr error) {
	bp := copyBufs.Get().(*[copyBufSize]byte)
	defer copyBufs.Put(bp)
	var fl http.Flusher
	if flush {
		fl, _ = w.(http.Flusher)
	}
	for {
		nr, er := body.Read(bp[:])
		if nr > 0 {
			nw, ew := w.Write(bp[:nr])
			n += int64(nw)
			if ew == nil && nw != nr {
				ew = io.ErrShortWrite
			}
			if ew != nil {
				return n, nil, ew
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if er == io.EOF {
			return n, nil, nil
		}
		if er != nil {
			return n, er, nil
		}
	}
}

// outbound is the request sent upstream and its URL, in one allocation.
type outbound struct {
	req http.Request
	url url.URL
}

// newOutbound builds the upstream request from the client's: same context,
// method, (already prepared) header and body; the target's URL. Every attempt
// gets its own, as the transport may hold on to a failed one.
func newOutbound(r *http.Request, rt *route, u *upstream, p, rawP string, body *reqBody) *http.Request {
	o := new(outbound)
	o.req = *r
	o.url = url.URL{Scheme: u.scheme, Host: u.host, RawQuery: r.URL.RawQuery}
	o.url.Path, o.url.RawPath = rt.upstreamPath(u, p, rawP)
	out := &o.req
	out.URL = &o.url
	out.Host = ""
	out.RequestURI = ""
	out.Close = false
	out.TransferEncoding = nil
	out.GetBody = nil
	out.Form, out.PostForm, out.MultipartForm = nil, nil, nil
	out.TLS = nil
	out.Response = nil
	out.Pattern = ""
	if body == nil {
		out.Body = nil
		out.ContentLength = 0
	} else {
		out.Body = body
	}
	return out
}

// Hop-by-hop headers (RFC 9110 section 7.6.1) and their legacy relatives:
// they describe one connection and are not forwarded.
var hopHeaders = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

var (
	teTrailers  = []string{"trailers"}
	connUpgrade = []string{"Upgrade"}
	protoHTTP   = []string{"http"}
	protoHTTPS  = []string{"https"}
	emptyValue  = []string{""}
)

// prepareHeaders turns the client's request header into the upstream's, in
// place (the handler owns it): hop-by-hop headers out, X-Forwarded-* in. It
// returns the protocol the client asks to upgrade to, if any.
func prepareHeaders(r *http.Request) (upType string) {
	h := r.Header
	te := httpfield.AnyHasToken(h["Te"], "trailers")
	if c := h["Connection"]; len(c) > 0 {
		if httpfield.AnyHasToken(c, "upgrade") {
			if v := h["Upgrade"]; len(v) > 0 && printable(v[0]) {
				upType = v[0]
			}
		}
		dropConnectionTokens(h, c)
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
	if te {
		h["Te"] = teTrailers
	}
	if upType != "" {
		h["Connection"] = connUpgrade
		h["Upgrade"] = []string{upType}
	}
	if ip := remoteIP(r.RemoteAddr); ip != "" {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h["X-Forwarded-For"] = []string{ip}
	}
	if r.TLS != nil {
		h["X-Forwarded-Proto"] = protoHTTPS
	} else {
		h["X-Forwarded-Proto"] = protoHTTP
	}
	if r.Host != "" {
		h["X-Forwarded-Host"] = []string{r.Host}
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = emptyValue // no Go default User-Agent upstream
	}
	return upType
}

// removeHopByHop strips hop-by-hop headers from an upstream response.
func removeHopByHop(h http.Header) {
	if c := h["Connection"]; len(c) > 0 {
		dropConnectionTokens(h, c)
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// dropConnectionTokens deletes the headers a Connection header names.
func dropConnectionTokens(h http.Header, conn []string) {
	for _, line := range conn {
		for line != "" {
			var tok string
			tok, line, _ = strings.Cut(line, ",")
			if tok = strings.TrimSpace(tok); tok != "" {
				delete(h, canonicalToken(tok))
			}
		}
	}
}

// canonicalToken is textproto.CanonicalMIMEHeaderKey without its
// allocation for the tokens Connection usually names (keep-alive, close).
func canonicalToken(tok string) string {
	for _, k := range hopHeaders {
		if strings.EqualFold(tok, k) {
			return k
		}
	}
	if strings.EqualFold(tok, "close") {
		return "Close"
	}
	return textproto.CanonicalMIMEHeaderKey(tok)
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return s != ""
}

var (
	errBodyTooLarge = errors.New("request body too large")
	errBodyDone     = errors.New("request body read after the handler returned")
)

// reqBody wraps the client's body on its way upstream: it enforces the body
// limit, counts what was read (a request whose body was touched is not
// retried), and ignores Close, which the transport calls on failure and which
// belongs to the server. Reads after the handler returned fail: the
// transport's writer may outlive the handler.
type reqBody struct {
	rc    io.ReadCloser
	limit int64
	n     atomic.Int64
	over  atomic.Bool
	done  atomic.Bool
}

func (b *reqBody) Read(p []byte) (int, error) {
	if b.done.Load() {
		return 0, errBodyDone
	}
	left := b.limit - b.n.Load()
	if int64(len(p)) > left+1 {
		p = p[:left+1] // one byte more than allowed tells "too large" from "exactly full"
	}
	n, err := b.rc.Read(p)
	if int64(n) > left {
		b.n.Add(left)
		b.over.Store(true)
		return int(left), errBodyTooLarge
	}
	b.n.Add(int64(n))
	return n, err
}

func (b *reqBody) Close() error { return nil }

func (b *reqBody) finish() { b.done.Store(true) }
