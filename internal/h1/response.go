package h1

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"holdfast/internal/evloop"
	"holdfast/internal/httpfield"
)

// chunkingAfter is how much body is held back, when the handler set no
// Content-Length, before the response goes out chunked; a handler that
// finishes within it gets a Content-Length (net/http does the same).
const chunkingAfter = 2048

// response is the http.ResponseWriter (and http.Flusher) of the fast path.
// It is reused for every request on its connection.
type response struct {
	c   *conn
	req *http.Request
	hdr http.Header

	status      int  // 0 until WriteHeader
	headWritten bool // the status line and header are in c.bw
	chunked     bool
	noBody      bool  // HEAD, 1xx, 204, 304
	cl          int64 // the declared Content-Length, -1 when none
	written     int64 // body bytes accepted
	held        []byte
	closeAfter  bool
	err         error
}

var (
	errBodyNotAllowed = http.ErrBodyNotAllowed
	errTooLong        = http.ErrContentLength
)

func (w *response) reset(req *http.Request) {
	clear(w.hdr)
	w.req = req
	w.status, w.headWritten, w.chunked, w.noBody = 0, false, false, false
	w.cl, w.written, w.held, w.err = -1, 0, w.held[:0], nil
	w.closeAfter = req.Close || w.c.s.closing.Load()
}

func (w *response) Header() http.Header { return w.hdr }

func (w *response) WriteHeader(code int) {
	if w.status != 0 {
		return // superfluous, as net/http (which also logs it)
	}
	if code < 100 || code > 999 {
		panic("h1: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.informational(code)
		return
	}
	w.status = code
	w.noBody = w.req.Method == http.MethodHead || !bodyAllowed(code)
	if v, ok := w.hdr["Content-Length"]; ok {
		if len(v) == 1 {
			if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 {
				w.cl = n
			}
		}
		if w.cl < 0 {
			delete(w.hdr, "Content-Length")
		}
	}
	delete(w.hdr, "Transfer-Encoding")
	if httpfield.AnyHasToken(w.hdr["Connection"], "close") {
		w.closeAfter = true
	}
}

// informational writes a 1xx response at once; the final one follows.
func (w *response) informational(code int) {
	b := w.c.bw
	writeStatus(b, code)
	for k, vs := range w.hdr {
		for _, v := range vs {
			writeField(b, k, v)
		}
	}
	b.WriteString("\r\n")
	if err := b.Flush(); err != nil {
		w.err = err
	}
}

func bodyAllowed(code int) bool {
	return code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

func (w *response) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody && w.req.Method != http.MethodHead {
		return 0, errBodyNotAllowed
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		return 0, errTooLong
	}
	if w.noBody { // HEAD: counted, not sent
		w.written += int64(len(p))
		return len(p), nil
	}
	if !w.headWritten {
		if w.cl < 0 && len(w.held)+len(p) <= chunkingAfter {
			w.held = append(w.held, p...)
			w.written += int64(len(p))
			return len(p), nil
		}
		w.commit(false, p)
	}
	w.written += int64(len(p))
	w.body(p)
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// body writes p as it goes on the wire: a chunk, or plain.
func (w *response) body(p []byte) {
	if len(p) == 0 || w.err != nil {
		return
	}
	b := w.c.bw
	if w.chunked {
		b.WriteString(strconv.FormatInt(int64(len(p)), 16))
		b.WriteString("\r\n")
		b.Write(p)
		_, w.err = b.WriteString("\r\n")
		return
	}
	_, w.err = b.Write(p)
}

// Flush sends what was written so far; a response without a
// Content-Length goes out chunked from then on.
func (w *response) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headWritten {
		w.commit(false, nil)
	}
	if w.err == nil {
		w.err = w.c.bw.Flush()
	}
}

// commit writes the head and the body held back so far. next is what the
// handler writes now, used for sniffing when nothing was held.
func (w *response) commit(final bool, next []byte) {
	first := w.held
	if len(first) == 0 {
		first = next
	}
	w.writeHead(final, first)
	w.body(w.held)
	w.held = w.held[:0]
}

// FlushError is Flush that reports the error (http.ResponseController).
func (w *response) FlushError() error {
	w.Flush()
	return w.err
}

// finish completes the response after the handler returned and reports
// whether the connection can serve another request.
func (w *response) finish() bool {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headWritten {
		w.commit(true, nil)
	}
	if w.chunked && w.err == nil {
		b := w.c.bw
		b.WriteString("0\r\n")
		w.writeTrailers()
		_, w.err = b.WriteString("\r\n")
	}
	if w.err == nil {
		w.err = w.c.bw.Flush()
	}
	short := w.cl >= 0 && !w.noBody && w.written < w.cl
	if cap(w.held) > 64<<10 {
		w.held = nil
	}
	return w.err == nil && !w.closeAfter && !short
}

// writeHead writes the status line and header. final: the handler has
// returned, so a body held back entirely gets its Content-Length. first is
// the body's start, for sniffing a missing Content-Type.
func (w *response) writeHead(final bool, first []byte) {
	w.headWritten = true
	h := w.hdr
	if !w.noBody && w.cl < 0 {
		_, trailers := h["Trailer"]
		if final && !trailers {
			w.cl = int64(len(w.held))
			if w.cl > 0 || w.req.Method != http.MethodHead {
				h["Content-Length"] = []string{strconv.FormatInt(w.cl, 10)}
			}
		} else {
			w.chunked = true
		}
	}
	if _, ok := h["Content-Type"]; !ok && !w.noBody && len(first) > 0 {
		h["Content-Type"] = []string{http.DetectContentType(first)}
	}
	if w.c.s.closing.Load() {
		w.closeAfter = true // shutting down: this response is the last
	}
	b := w.c.bw
	writeStatus(b, w.status)
	w.writeFields(nil, false)
}

// writeFields writes Header()'s fields, then raw (wire-ready lines), a
// Date unless either has one (hasDate: raw does), Transfer-Encoding when
// chunked, Connection: close when the connection closes after this
// response and the header did not say so, and the blank line.
func (w *response) writeFields(raw []byte, hasDate bool) {
	b := w.c.bw
	h := w.hdr
	for k, vs := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) || !httpfield.IsToken(k) {
			continue
		}
		for _, v := range vs {
			writeField(b, k, v)
		}
	}
	b.Write(raw)
	if _, ok := h["Date"]; !ok && !hasDate {
		b.WriteString("Date: ")
		b.WriteString(httpDate())
		b.WriteString("\r\n")
	}
	if w.chunked {
		b.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if w.closeAfter {
		if _, ok := h["Connection"]; !ok {
			b.WriteString("Connection: close\r\n")
		}
	}
	_, w.err = b.WriteString("\r\n")
}

// WriteRawHeader writes a final response's head whose fields the caller
// gives as wire-ready lines ("Name: value\r\n", names canonical, values
// free of CR and LF, no Transfer-Encoding or Connection), with the body's
// Content-Length (also among the lines); Header()'s fields are written
// too, and Date when neither has one. It is the gateway's relay of an
// upstream head: no header map is built for it. Like WriteHeader, it does
// nothing once a status was set.
func (w *response) WriteRawHeader(code int, fields []byte, hasDate bool, contentLength int64) {
	if w.status != 0 || code < 200 || !bodyAllowed(code) || w.req.Method == http.MethodHead || contentLength < 0 {
		if w.status == 0 {
			panic("h1: WriteRawHeader for a response that cannot carry the given body")
		}
		return
	}
	w.WriteHeader(code)
	w.cl = contentLength
	w.headWritten = true
	if w.c.s.closing.Load() {
		w.closeAfter = true
	}
	writeStatus(w.c.bw, code)
	w.writeFields(fields, hasDate)
}

// writeTrailers writes the trailer fields the header announced, and those
// set with http.TrailerPrefix.
func (w *response) writeTrailers() {
	b := w.c.bw
	for _, line := range w.hdr["Trailer"] {
		for line != "" {
			var k string
			k, line, _ = strings.Cut(line, ",")
			k = http.CanonicalHeaderKey(strings.TrimSpace(k))
			for _, v := range w.hdr[k] {
				writeField(b, k, v)
			}
		}
	}
	for k, vs := range w.hdr {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpfield.IsToken(name) {
			for _, v := range vs {
				writeField(b, name, v)
			}
		}
	}
}

type writer interface {
	WriteString(string) (int, error)
	WriteByte(byte) error
}

func writeStatus(b writer, code int) {
	if code >= 0 && code < len(statusLines) && statusLines[code] != "" {
		b.WriteString(statusLines[code])
		return
	}
	b.WriteString(statusLine(code))
}

// statusLines are the status lines of the codes net/http names.
var statusLines = func() (lines [600]string) {
	for code := range lines {
		if http.StatusText(code) != "" {
			lines[code] = statusLine(code)
		}
	}
	return lines
}()

func statusLine(code int) string {
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	return "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
}

// writeField writes one header line; CR and LF in the value become
// spaces, as net/http does.
func writeField(b writer, k, v string) {
	b.WriteString(k)
	b.WriteString(": ")
	if strings.ContainsAny(v, "\r\n") {
		v = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, v)
	}
	b.WriteString(strings.TrimSpace(v))
	b.WriteString("\r\n")
}

// httpDate is the current time in HTTP's format, computed once a second.
func httpDate() string {
	now := time.Now()
	sec := now.Unix()
	dateMu.Lock()
	defer dateMu.Unlock()
	if sec != dateSec {
		dateSec = sec
		dateStr = now.UTC().Format(http.TimeFormat)
	}
	return dateStr
}

var (
	dateMu  sync.Mutex
	dateSec int64
	dateStr string
)

func (s *Server) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

var _ interface {
	http.ResponseWriter
	http.Flusher
} = (*response)(nil)

// EventLoop is the event loop serving the request's connection, nil when a
// goroutine serves it. A handler keeps to the loop's rules (package evloop)
// and may keep per-loop state, such as upstream connections.
func (w *response) EventLoop() *evloop.Loop {
	if w.c.loop == nil {
		return nil
	}
	return w.c.loop.Loop()
}
