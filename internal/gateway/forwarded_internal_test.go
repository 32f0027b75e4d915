package gateway

import (
	"crypto/tls"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// The lean client writes a plain request's forwarded fields itself
// (fwdFields) instead of editing the header map first. For every header,
// the head it writes must hold the same lines as the map path's: the trace
// headers applied, prepareHeaders run, appendFields.
func TestForwardedFieldsMatchTheMapPath(t *testing.T) {
	pool := []struct {
		name string
		vals []string
	}{
		{"Accept", []string{"*/*", "application/json"}},
		{"User-Agent", []string{"", "curl/8", "wrk"}},
		{"Connection", []string{"keep-alive", "close", "Keep-Alive, close", "X-Foo", "upgrade", " , close"}},
		{"Close", []string{"x"}},
		{"Keep-Alive", []string{"timeout=5"}},
		{"Te", []string{"trailers", "gzip"}},
		{"Upgrade", []string{"websocket"}},
		{"X-Foo", []string{"bar"}},
		{"X-Forwarded-For", []string{"10.0.0.1", "10.0.0.2, 10.0.0.3"}},
		{"X-Forwarded-Proto", []string{"https"}},
		{"X-Forwarded-Host", []string{"front.example"}},
		{"Traceparent", []string{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-zz-bad", ""}},
		{"Tracestate", []string{"congo=t61rcWkgMzE"}},
		{"X-Request-Id", []string{"req-42", "a b", strings.Repeat("x", 129)}},
		{"Cookie", []string{"a=1; b=2"}},
		{"Host", []string{"in-the-map.example"}},
		{"X-Bad", []string{"a\r\nInjected: 1"}},
		{"Idempotency-Key", []string{"k1"}},
	}
	remotes := []string{"192.0.2.7:5123", "[2001:db8::1]:80", "", "not-an-address"}
	hosts := []string{"shop.example", ""}
	r := rand.New(rand.NewPCG(7, 8))
	plain := 0
	for i := range 5000 {
		h := http.Header{}
		for range r.IntN(7) {
			f := pool[r.IntN(len(pool))]
			for range 1 + r.IntN(2) {
				h[f.name] = append(h[f.name], f.vals[r.IntN(len(f.vals))])
			}
		}
		req := &http.Request{Method: http.MethodGet, Header: h, RemoteAddr: remotes[r.IntN(len(remotes))], Host: hosts[r.IntN(len(hosts))]}
		if r.IntN(4) == 0 {
			req.TLS = &tls.ConnectionState{}
		}
		if !plainHeader(h) {
			continue
		}
		plain++
		th := traceFor(h)
		want := func() []string { // the map path, on a copy
			r2 := *req
			r2.Header = h.Clone()
			th.apply(r2.Header)
			if up := prepareHeaders(&r2); up != "" {
				t.Fatalf("header %d %v: plain, but prepareHeaders finds an upgrade to %q", i, h, up)
			}
			return headLines(appendFields(nil, r2.Header))
		}()
		before := h.Clone()
		ff := newFwdFields(req, &th)
		got := headLines(ff.appendFields(nil, h))
		if !slices.Equal(got, want) {
			t.Fatalf("header %d %v (remote %q, host %q):\n lean %q\n map  %q", i, h, req.RemoteAddr, req.Host, got, want)
		}
		if !headersEqual(h, before) {
			t.Fatalf("header %d: the lean writer changed the client's header map", i)
		}
	}
	if plain < 500 {
		t.Fatalf("only %d of 5000 headers were plain: the test says little", plain)
	}
}

func headLines(b []byte) []string {
	s := string(b)
	if !strings.HasSuffix(s, "\r\n") {
		return []string{"(no blank line)", s}
	}
	lines := strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	slices.Sort(lines)
	return lines
}

func headersEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// Headers that are not plain go the map's way.
func TestPlainHeader(t *testing.T) {
	for _, tt := range []struct {
		h    http.Header
		want bool
	}{
		{http.Header{}, true},
		{http.Header{"Accept": {"*/*"}, "X-Forwarded-For": {"10.0.0.1"}}, true},
		{http.Header{"Connection": {"keep-alive"}}, true},
		{http.Header{"Connection": {"Close"}}, true},
		{http.Header{"Connection": {"close"}, "Close": {"x"}}, false},
		{http.Header{"Connection": {"keep-alive, X-Secret"}, "X-Secret": {"s"}}, false},
		{http.Header{"Connection": {"upgrade"}, "Upgrade": {"websocket"}}, false},
		{http.Header{"Te": {"trailers"}}, false},
		{http.Header{"Keep-Alive": {"timeout=5"}}, false},
		{http.Header{"Proxy-Authorization": {"Basic x"}}, false},
		{http.Header{"Transfer-Encoding": {"chunked"}}, false},
	} {
		if got := plainHeader(tt.h); got != tt.want {
			t.Errorf("plainHeader(%v) = %v, want %v", tt.h, got, tt.want)
		}
	}
}
