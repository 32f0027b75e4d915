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

// readLeanResponse parses the response head at the start of br and
// consumes it, returning the response without a body (ContentLength says
// how long it is), or errLeanFallback with nothing consumed. Read errors
// are returned as http.ReadResponse returns them.
func readLeanResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodHead {
		return nil, errLeanFallback
	}
	var head []byte
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
		i := bytes.Index(b, crlfcrlf)
		if i >= 0 {
			b = b[:i+4]
		}
		if hasBareLF(b) {
			// A head with bare line feeds, which net/http accepts,
			// may never hold CRLF CRLF: do not wait for it.
			return nil, errLeanFallback
		}
		if i >= 0 {
			head = b
			break
		}
		if len(b) >= br.Size() {
			return nil, errLeanFallback
		}
		n = len(b) + 1
	}
	res, ok := parseLeanHead(head)
	if !ok {
		return nil, errLeanFallback
	}
	_, _ = br.Discard(len(head))
	res.Request = req
	return res, nil
}

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
)

// parseLeanHead parses a whole response head (ending with CRLF CRLF); ok
// is false for anything readLeanResponse leaves to net/http.
func parseLeanHead(b []byte) (*http.Response, bool) {
	const proto = "HTTP/1.1 "
	if len(b) < len(proto)+3+2 || string(b[:len(proto)]) != proto {
		return nil, false
	}
	code := 0
	for _, c := range b[len(proto) : len(proto)+3] {
		if c < '0' || c > '9' {
			return nil, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified || code > 999 {
		return nil, false
	}
	// Count the fields first, for one backing array of values.
	fields := bytes.Count(b, crlf) - 2
	if fields < 0 {
		return nil, false
	}
	s := string(b) // one allocation: keys and values are substrings of it
	eol := indexCRLF(s)
	if eol < len(proto)+3 {
		return nil, false
	}
	line := s[:eol]
	if c := line[len(proto)+3:]; c != "" && c[0] != ' ' {
		return nil, false
	}
	res := &http.Response{
		Status:     strings.TrimLeft(line[len(proto):], " "),
		StatusCode: code,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, fields),
	}
	if !httpfield.ValidValue(line) {
		return nil, false
	}
	vals := make([]string, fields)
	contentLength := int64(-1)
	for rest := s[eol+2:]; rest != "\r\n"; {
		eol := indexCRLF(rest)
		if eol <= 0 {
			return nil, false
		}
		line := rest[:eol]
		rest = rest[eol+2:]
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || !httpfield.IsToken(line[:colon]) {
			return nil, false
		}
		value := httpfield.TrimOWS(line[colon+1:])
		if !httpfield.ValidValue(value) {
			return nil, false
		}
		key := line[:colon]
		if !isCanonical(key) {
			key = http.CanonicalHeaderKey(key)
		}
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

// hasBareLF reports whether b has a line feed not preceded by a carriage
// return.
func hasBareLF(b []byte) bool {
	for i := bytes.IndexByte(b, '\n'); i >= 0; {
		if i == 0 || b[i-1] != '\r' {
			return true
		}
		j := bytes.IndexByte(b[i+1:], '\n')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

func indexCRLF(s string) int {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '\r' {
			if s[i+1] != '\n' {
				return -1
			}
			return i
		}
		if s[i] == '\n' {
			return -1
		}
	}
	return -1
}

// isCanonical reports whether a token is already in the form
// http.CanonicalHeaderKey gives it.
func isCanonical(s string) bool {
	upper := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if upper && c >= 'a' && c <= 'z' {
			return false
		}
		if !upper && c >= 'A' && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
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
