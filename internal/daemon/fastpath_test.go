package daemon_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"
)

// seen is what an upstream reports of the request it got.
func seenHandler(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var keys []string
	for k := range r.Header {
		switch k {
		case "Traceparent", "X-Request-Id", "Accept-Encoding":
			continue // per request, or added by the client
		}
		keys = append(keys, k+"="+strings.Join(r.Header[k], "|"))
	}
	sort.Strings(keys)
	w.Header().Set("X-Custom", "kept")
	w.Header().Set("Connection", "X-Drop")
	w.Header().Set("X-Drop", "hop")
	fmt.Fprintf(w, "%s %s host=%s body=%q tp=%v id=%v %s", r.Method, r.URL.RequestURI(), r.Host, body,
		r.Header.Get("Traceparent") != "", r.Header.Get("X-Request-Id") != "", strings.Join(keys, " "))
}

// The fast path and net/http proxy a request the same way: the same
// upstream request, the same response.
func TestFastPathProxiesLikeNetHTTP(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(seenHandler))
	defer up.Close()
	e := start(t, fmt.Sprintf(baseConfig, `  - name: fast
    listen: 127.0.0.1:0
  - name: std
    listen: 127.0.0.1:0
    fast_path: false`, up.URL))
	addrs := e.d.ListenerAddrs()

	send := func(addr, req string) (*http.Response, string) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, req)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, string(b)
	}
	reqs := []string{
		"GET /orders/7?x=1 HTTP/1.1\r\nHost: api.test\r\nUser-Agent: t\r\nConnection: X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\nX-Forwarded-For: 203.0.113.9\r\nTe: trailers\r\n\r\n",
		"POST /orders HTTP/1.1\r\nHost: api.test\r\nUser-Agent: t\r\nContent-Length: 5\r\n\r\nhello",
		"GET /x HTTP/1.1\r\nHost: api.test\r\nUser-Agent: t\r\nPragma: no-cache\r\n\r\n",
	}
	for _, req := range reqs {
		fres, fbody := send(addrs["fast"], req)
		sres, sbody := send(addrs["std"], req)
		if fres.StatusCode != 200 || fbody != sbody {
			t.Fatalf("%q:\nfast     %d %s\nnet/http %d %s", strings.Fields(req)[1], fres.StatusCode, fbody, sres.StatusCode, sbody)
		}
		if !strings.Contains(fbody, "tp=true id=true") || strings.Contains(fbody, "X-Hop") || strings.Contains(fbody, "Keep-Alive") {
			t.Fatalf("upstream request: %s", fbody)
		}
		for _, h := range []*http.Response{fres, sres} {
			if h.Header.Get("X-Custom") != "kept" || h.Header.Get("X-Drop") != "" || h.Header.Get("X-Request-Id") == "" {
				t.Fatalf("response header: %v", h.Header)
			}
		}
		if fres.ContentLength != sres.ContentLength || fres.Header.Get("Content-Type") != sres.Header.Get("Content-Type") {
			t.Fatalf("framing: fast %d %q, net/http %d %q", fres.ContentLength, fres.Header.Get("Content-Type"),
				sres.ContentLength, sres.Header.Get("Content-Type"))
		}
	}

	// Headers beyond limits.max_header_bytes get 431 on both.
	big := "GET / HTTP/1.1\r\nHost: api.test\r\nX-Big: " + strings.Repeat("b", 70<<10) + "\r\n\r\n"
	for _, name := range []string{"fast", "std"} {
		c, err := net.Dial("tcp", addrs[name])
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go io.WriteString(c, big)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil || res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("%s: oversized header: %v %v", name, res, err)
		}
	}
}
