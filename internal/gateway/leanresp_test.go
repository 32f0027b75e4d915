package gateway

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// leanTaken are responses of the shapes upstreams send, which the lean
// reader takes; leanLeft those it must leave to net/http.
var leanTaken = []string{
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"orders\":[]}",
	"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sun, 29 Nov 2026 03:00:00 GMT\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}",
	"HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\nx-request-id: abc\r\n\r\nnope",
	"HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Spaces: \t padded \t \r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nX-Obs: caf\xc3\xa9\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nwWw-aUTHENTICATE: x\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
}

var leanLeft = []string{
	"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\n\r\nunframed",
	"HTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
	"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nBad Name: a\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\nContent-Length: 1\n\nx",
	"HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nTrailer: X\r\nContent-Length: 1\r\n\r\nx",
	"garbage\r\n\r\n",
	"",
}

// readBoth reads raw with the lean reader (falling back as the client
// does) and with http.ReadResponse alone.
func readBoth(raw string) (lean, std *http.Response, leanText, stdText string, leanErr, stdErr error, usedLean bool) {
	req := &http.Request{Method: http.MethodGet}
	br := bufio.NewReaderSize(strings.NewReader(raw), 4096)
	lean, leanErr = readLeanResponse(br, req)
	if leanErr == nil {
		usedLean = true
		b, err := io.ReadAll(&leanBody{br: br, remain: lean.ContentLength, stop: noStop})
		leanText, leanErr = string(b), err
	} else if errors.Is(leanErr, errLeanFallback) {
		lean, leanErr = http.ReadResponse(br, req)
		if leanErr == nil {
			b, err := io.ReadAll(lean.Body)
			leanText, leanErr = string(b), err
		}
	}
	std, stdErr = http.ReadResponse(bufio.NewReaderSize(strings.NewReader(raw), 4096), req)
	if stdErr == nil {
		b, err := io.ReadAll(std.Body)
		stdText, stdErr = string(b), err
	}
	return
}

func sameResponse(t *testing.T, raw string) {
	t.Helper()
	lean, std, lb, sb, le, se, used := readBoth(raw)
	if (le == nil) != (se == nil) {
		t.Fatalf("%q: lean error %v, net/http error %v", raw, le, se)
	}
	if le != nil {
		if used && le.Error() != se.Error() {
			t.Fatalf("%q: lean error %q, net/http error %q", raw, le, se)
		}
		return
	}
	if lb != sb {
		t.Fatalf("%q: body %q, net/http %q", raw, lb, sb)
	}
	if lean.Status != std.Status || lean.StatusCode != std.StatusCode || lean.Proto != std.Proto ||
		lean.ProtoMajor != std.ProtoMajor || lean.ProtoMinor != std.ProtoMinor ||
		lean.ContentLength != std.ContentLength || lean.Close != std.Close {
		t.Fatalf("%q:\nlean %+v\n std %+v", raw, lean, std)
	}
	if !reflect.DeepEqual(lean.Header, std.Header) {
		t.Fatalf("%q: header\nlean %q\n std %q", raw, lean.Header, std.Header)
	}
}

// The lean reader gives what http.ReadResponse gives, on every response
// it takes, and leaves the others unread for it.
func TestLeanResponseMatchesNetHTTP(t *testing.T) {
	for _, raw := range leanTaken {
		sameResponse(t, raw)
		if _, _, _, _, _, _, used := readBoth(raw); !used {
			t.Errorf("%q: left to net/http, want the lean reader to take it", raw)
		}
	}
	// What it leaves to net/http stays unread.
	for _, raw := range leanLeft {
		sameResponse(t, raw)
		br := bufio.NewReaderSize(strings.NewReader(raw), 4096)
		if _, err := readLeanResponse(br, &http.Request{Method: http.MethodGet}); err == nil {
			t.Errorf("%q: lean reader took it, want it left to net/http", raw)
		} else if errors.Is(err, errLeanFallback) && br.Buffered() != len(raw) {
			t.Errorf("%q: %d bytes buffered after the fallback, want all %d", raw, br.Buffered(), len(raw))
		}
	}
	// A head longer than the buffer goes to net/http.
	long := "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 5000) + "\r\nContent-Length: 1\r\n\r\nx"
	br := bufio.NewReaderSize(strings.NewReader(long), 4096)
	if _, err := readLeanResponse(br, &http.Request{Method: http.MethodGet}); !errors.Is(err, errLeanFallback) {
		t.Errorf("head longer than the buffer: %v, want the fallback", err)
	}
}

// sameRelay: what the relay takes, the lean reader takes too, and the
// relayed field lines are the header the map path would write (less
// Connection, Keep-Alive and X-Request-Id, which it sets or drops), in the
// upstream's order; the relay leaves the rest unread.
func sameRelay(t *testing.T, raw string) (relayed bool) {
	t.Helper()
	req := &http.Request{Method: http.MethodGet}
	br := bufio.NewReaderSize(strings.NewReader(raw), 4096)
	var rh relayHead
	ok, err := readRelayHead(br, req, &rh)
	if !ok {
		if err == nil && br.Buffered() != min(len(raw), 4096) {
			t.Fatalf("%q: %d bytes buffered after the relay declined, want %d", raw, br.Buffered(), min(len(raw), 4096))
		}
		return false
	}
	res, err := readLeanResponse(bufio.NewReaderSize(strings.NewReader(raw), 4096), req)
	if err != nil {
		t.Fatalf("%q: relayed, but the lean reader says %v", raw, err)
	}
	removeHopByHop(res.Header)
	delete(res.Header, "X-Request-Id")
	want := http.Header{}
	for _, line := range strings.SplitAfter(string(rh.fields), "\r\n") {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSuffix(line, "\r\n"), ": ")
		if !ok {
			t.Fatalf("%q: relayed field line %q", raw, line)
		}
		want[k] = append(want[k], v)
	}
	if !reflect.DeepEqual(want, res.Header) {
		t.Fatalf("%q: relayed fields\n%q\nmap path %q", raw, want, res.Header)
	}
	_, hasDate := res.Header["Date"]
	if rh.status != res.StatusCode || rh.cl != res.ContentLength || rh.close != res.Close || rh.hasDate != hasDate {
		t.Fatalf("%q: relay %+v, lean %d cl=%d close=%v", raw, rh, res.StatusCode, res.ContentLength, res.Close)
	}
	return true
}

func TestRelayHeadMatchesTheMapPath(t *testing.T) {
	relayed := 0
	for _, raw := range append(leanTaken, leanLeft...) {
		if sameRelay(t, raw) {
			relayed++
		}
	}
	if relayed < 5 {
		t.Errorf("only %d of the samples relayed", relayed)
	}
	for _, raw := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: X-Secret\r\nX-Secret: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nUpgrade: h2c\r\n\r\nx",
	} {
		if sameRelay(t, raw) {
			t.Errorf("%q relayed, want the map path", raw)
		}
	}
}

func FuzzLeanResponse(f *testing.F) {
	for _, s := range append(leanTaken, leanLeft...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		sameResponse(t, raw)
		sameRelay(t, raw)
	})
}
