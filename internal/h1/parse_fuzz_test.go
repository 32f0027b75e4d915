package h1

import (
	"bufio"
	"bytes"
	"net/http"
	"reflect"
	"testing"
)

// FuzzParseAgreesWithNetHTTP: whatever request head the fast path accepts,
// net/http's own parser accepts too and reads the same request from it.
func FuzzParseAgreesWithNetHTTP(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a/b%20c?x=1&y=%zz HTTP/1.1\r\nHost: example.com:8080\r\nX-A: 1\r\nx-a: 2\r\nConnection: keep-alive, close\r\n\r\n",
		"DELETE /o/1 HTTP/1.1\r\nHost: [::1]:80\r\nPragma: no-cache\r\nUser-Agent:   spaced   \r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
		"GET / HTTP/1.1\r\nhost: h\r\nX: \xff\xfe\r\n\r\n",
		"GET //x HTTP/1.1\r\nHost: h\r\nEmpty:\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &conn{s: &Server{}, br: bufio.NewReaderSize(bytes.NewReader(data), bufSize), hdr: make(http.Header), remote: "192.0.2.1:5"}
		n, ok := c.headEnd(true, 0)
		if n < 0 || !ok || !c.parse(n) {
			return
		}
		want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data[:n])))
		if err != nil {
			t.Fatalf("fast path accepted %q, net/http refuses it: %v", data[:n], err)
		}
		got := &c.req
		if got.Method != want.Method || got.RequestURI != want.RequestURI || got.Host != want.Host ||
			got.URL.String() != want.URL.String() || got.URL.Path != want.URL.Path || got.URL.RawPath != want.URL.RawPath ||
			got.URL.RawQuery != want.URL.RawQuery ||
			got.Close != want.Close || want.ContentLength != 0 || got.ProtoMinor != want.ProtoMinor {
			t.Fatalf("%q:\nfast    %s %s host=%q url=%q close=%v\nnet/http %s %s host=%q url=%q close=%v cl=%d",
				data[:n], got.Method, got.RequestURI, got.Host, got.URL, got.Close,
				want.Method, want.RequestURI, want.Host, want.URL, want.Close, want.ContentLength)
		}
		if len(got.Header) != len(want.Header) || (len(want.Header) > 0 && !reflect.DeepEqual(got.Header, want.Header)) {
			t.Fatalf("%q: header\nfast     %v\nnet/http %v", data[:n], got.Header, want.Header)
		}
	})
}
