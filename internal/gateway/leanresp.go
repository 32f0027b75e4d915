package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"

	"holdfast/internal/httpfield"
)

// The lean client's response reader. The common answer of an upstream —
// HTTP/1.1, a final status other than 204 and 304, a Content-Length and
// plain header fields — is parsed here from the connection's buffer with
// a handful of allocations (the head as one string that keys and values
// share, the header map, one slice backing its values), where
// http.ReadResponse makes one or more per field. Anything else (HTTP/1.0,
// 1xx, chunked or unframed bodies, trailers, Pragma, obs-fold, a byte
// net/http would refuse, a head longer than the buffer) is left unread
// for http.ReadResponse, so that every such case keeps net/http's exact
// behaviour and errors. A test holds the two parsers to the same result
// on everything the lean one accepts.

// errLeanFallback says the response must be read by http.ReadResponse.
var errLeanFallback = errors.New("gateway: response needs net/http")

// maxLeanLines bounds the lines of a head the lean reader parses (status
// line included); a longer head is net/http's.
const maxLeanLines = 64

// readLeanResponse parses the response head at the start of br and
// consumes it, returning the response without a body (ContentLength says
// how long it is), or errLeanFallback with nothing consumed. Read errors
// are returned as http.ReadResponse returns them.
func readLeanResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodHead {
		return nil, errLeanFallback
	}
	var ends [maxLeanLines]int
	for n := 1; ; {
		b, err := br.Peek(n)
		if err != nil {
			if len(b) > 0 {
				return nil, errLeanFallback // net/http says what is wrong
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		b, _ = br.Peek(br.Buffered())
		lines, size, ok := scanHead(b, &ends)
		if !ok {
			return nil, errLeanFallback
		}
		if size > 0 {
			res, ok := parseLeanHead(b[:size], ends[:lines])
			if !ok {
				return nil, errLeanFallback
			}
			_, _ = br.Discard(size)
			res.Request = req
			return res, nil
		}
		if len(b) >= br.Size() {
			return nil, errLeanFallback
		}
		n = len(b) + 1
	}
}

// scanHead finds the lines of the head at the start of b: ends[i] is the
// index of line i's line feed, size the head's length up to and with the
// blank line (0 while b does not hold all of it). ok is false for what
// the lean reader leaves to net/http: a bare line feed (which net/http
// accepts, and then CRLF CRLF may never come), an empty first line, more
// than maxLeanLines lines.
func scanHead(b []byte, ends *[maxLeanLines]int) (lines, size int, ok bool) {
	start := 0
	for {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			return lines, 0, true
		}
		i += start
		if i == 0 || b[i-1] != '\r' {
			return 0, 0, false
		}
		if i == start+1 { // a blank line: the end of the head
			if lines == 0 {
				return 0, 0, false
			}
			return lines, i + 1, true
		}
		if lines == len(ends) {
			return 0, 0, false
		}
		ends[lines] = i
		lines++
		start = i + 1
	}
}

// parseLeanHead parses a whole response head (ending with CRLF CRLF) whose
// line feeds are at ends (the blank line's excluded), in one pass over each
// line; ok is false for anything readLeanResponse leaves to net/http.
func parseLeanHead(b []byte, ends []int) (*http.Response, bool) {
	code, ok := leanStatus(b, ends[0]-1)
	if !ok {
		return nil, false
	}
	s := string(b) // one allocation: keys and values are substrings of it
	line := s[:ends[0]-1]
	fields := len(ends) - 1
	res := &http.Response{
		Status:     strings.TrimLeft(line[len(statusProto):], " "),
		StatusCode: code,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, fields),
	}
	vals := make([]string, fields)
	contentLength := int64(-1)
	for k, st := range ends[:fields] {
		colon, vs, ve, canonical, ok := leanField(s, st+1, ends[k+1]-1)
		if !ok {
			return nil, false
		}
		key := s[st+1 : colon]
		if !canonical {
			key = http.CanonicalHeaderKey(key)
		}
		value := s[vs:ve]
		switch key {
		case "Transfer-Encoding", "Trailer", "Pragma":
			return nil, false
		case "Content-Length":
			// net/http folds repeated equal values into one: leave
			// repeats to it.
			n, ok := parseContentLength(value)
			if !ok || contentLength >= 0 {
				return nil, false
			}
			contentLength = n
		case "Connection":
			if httpfield.HasToken(value, "close") {
				res.Close = true
			}
		}
		if vv, dup := res.Header[key]; dup {
			res.Header[key] = append(vv, value)
			continue
		}
		vals[0] = value
		res.Header[key] = vals[:1:1]
		vals = vals[1:]
	}
	if contentLength < 0 {
		return nil, false
	}
	res.ContentLength = contentLength
	if res.Close {
		delete(res.Header, "Connection") // as net/http does
	}
	return res, true
}

func parseContentLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// relayHead is an upstream response head the gateway passes to the client
// as wire-ready field lines, with no header map on either side: the common
// answer (what the lean reader takes) whose field names are canonical and
// whose only hop-by-hop fields are Connection (naming nothing but
// keep-alive or close) and Keep-Alive. The lines are the upstream's, in its
// order, less those two and X-Request-Id (the gateway sets its own), each
// rewritten as "Name: value" with the value's surrounding white space
// trimmed: what the map path writes, in a stable order.
type relayHead struct {
	status  int
	cl      int64
	close   bool   // the upstream closes the connection after it
	hasDate bool   // the fields have a Date
	fields  []byte // the field lines, each ending in CRLF
}

// readRelayHead reads the head at the start of br into rh (its fields
// appended to rh.fields[:0]) and consumes it; false with nothing consumed
// when it is not one to relay, and then readLeanResponse takes over. A
// read error is returned as readLeanResponse returns it.
func readRelayHead(br *bufio.Reader, req *http.Request, rh *relayHead) (bool, error) {
	if req.Method == http.MethodHead {
		return false, nil
	}
	var ends [maxLeanLines]int
	for n := 1; ; {
		b, err := br.Peek(n)
		if err != nil {
			if len(b) > 0 {
				return false, nil
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return false, err
		}
		b, _ = br.Peek(br.Buffered())
		lines, size, ok := scanHead(b, &ends)
		if !ok {
			return false, nil
		}
		if size > 0 {
			if !parseRelayHead(b[:size], ends[:lines], rh) {
				return false, nil
			}
			_, _ = br.Discard(size)
			return true, nil
		}
		if len(b) >= br.Size() {
			return false, nil
		}
		n = len(b) + 1
	}
}

// parseRelayHead checks a whole head as parseLeanHead does, plus the
// relay's own conditions, and fills rh.
func parseRelayHead(b []byte, ends []int, rh *relayHead) bool {
	code, ok := leanStatus(b, ends[0]-1)
	if !ok {
		return false
	}
	*rh = relayHead{status: code, cl: -1, fields: rh.fields[:0]}
	for k, st := range ends[:len(ends)-1] {
		colon, vs, ve, canonical, ok := leanField(b, st+1, ends[k+1]-1)
		if !ok || !canonical {
			return false // a name to canonicalize: the map path's
		}
		name := b[st+1 : colon]
		value := b[vs:ve]
		switch string(name) {
		case "Content-Length":
			n, ok := parseContentLength(string(value))
			if !ok || rh.cl >= 0 {
				return false
			}
			rh.cl = n
		case "Connection":
			switch {
			case httpfield.HasToken(string(value), "close"):
				rh.close = true
			case !httpfield.HasToken(string(value), "keep-alive") || strings.IndexByte(string(value), ',') >= 0:
				return false // it names other fields to drop: the map path's
			}
			continue
		case "Keep-Alive", hdrRequestID:
			continue
		case "Date":
			rh.hasDate = true
		case "Transfer-Encoding", "Trailer", "Pragma", "Proxy-Connection", "Proxy-Authenticate",
			"Proxy-Authorization", "Te", "Upgrade":
			return false
		}
		rh.fields = append(rh.fields, name...)
		rh.fields = append(rh.fields, ": "...)
		rh.fields = append(rh.fields, value...)
		rh.fields = append(rh.fields, "\r\n"...)
	}
	return rh.cl >= 0
}

const statusProto = "HTTP/1.1 "

// leanStatus parses the status line b[:eol] ("HTTP/1.1 NNN reason"); ok is
// false for what the lean readers leave to net/http: another version, a
// code below 200, 204, 304, a byte net/http refuses.
func leanStatus[T ~string | ~[]byte](b T, eol int) (code int, ok bool) {
	if len(b) < len(statusProto)+3+2 || string(b[:len(statusProto)]) != statusProto {
		return 0, false
	}
	for i := len(statusProto); i < len(statusProto)+3; i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		return 0, false
	}
	if rest := b[len(statusProto)+3 : eol]; len(rest) > 0 && rest[0] != ' ' {
		return 0, false
	}
	return code, httpfield.ValidValue(b[:eol])
}

// leanField reads the field line b[st:end]: the name is b[st:colon]
// (token characters; canonical says it is already in canonical form) and
// the value b[vs:ve], without its surrounding white space. ok is false for
// what the lean readers leave to net/http: no name, no colon, a line
// starting with white space (obs-fold), a byte net/http refuses.
func leanField[T ~string | ~[]byte](b T, st, end int) (colon, vs, ve int, canonical, ok bool) {
	j, upper := st, true
	canonical = true
	for ; j < end && b[j] != ':'; j++ {
		c := b[j]
		if !httpfield.IsTokenChar(c) {
			return 0, 0, 0, false, false
		}
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			canonical = false
		}
		upper = c == '-'
	}
	if j == st || j == end {
		return 0, 0, 0, false, false
	}
	vs, ve = j+1, end
	for vs < ve && (b[vs] == ' ' || b[vs] == '\t') {
		vs++
	}
	for ve > vs && (b[ve-1] == ' ' || b[ve-1] == '\t') {
		ve--
	}
	return j, vs, ve, canonical, httpfield.ValidValue(b[vs:ve])
}
