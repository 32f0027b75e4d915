package gateway

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"holdfast/internal/config"
)

// countingRecorder is the smallest Recorder: one atomic add per Observe,
// about what a real one costs without Prometheus.
type countingRecorder struct{ n atomic.Int64 }

func (c *countingRecorder) Target(string, string) TargetRecorder { return c }
func (c *countingRecorder) Observe(int, ErrKind, time.Duration)  { c.n.Add(1) }

type constFlags struct{}

func (constFlags) Bool(string, string) (bool, bool) { return true, true }

func benchGateway(b *testing.B, balance string) *Gateway {
	b.Helper()
	hashKey := ""
	if balance == config.BalanceHash {
		hashKey = "header:X-User"
	}
	cfg := &config.Config{
		Upstreams: []config.Upstream{{Name: "real", URL: "http://127.0.0.1:1"}, {Name: "mock", URL: "http://127.0.0.1:2"}, {Name: "canary", URL: "http://127.0.0.1:3"}},
		Flags:     []config.Flag{{Name: "orders-real"}},
		Routes: []config.Route{
			{Name: "health", Match: config.Match{PathPrefix: "/healthz"}, Targets: []config.Target{{Upstream: "real", Weight: 1}}},
			{Name: "admin", Match: config.Match{Host: "admin.example.com", PathPrefix: "/"}, Targets: []config.Target{{Upstream: "real", Weight: 1}}},
			{
				Name: "orders", Match: config.Match{PathPrefix: "/orders", Methods: []string{"GET", "POST"}},
				Targets: []config.Target{{Upstream: "real", Weight: 90}, {Upstream: "canary", Weight: 10}},
				Balance: balance, HashKey: hashKey, KillSwitch: "orders-real",
				Fallback: &config.Fallback{Upstream: "mock"},
			},
		},
	}
	g, err := New(cfg, Options{Flags: constFlags{}, Recorder: &countingRecorder{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Close() })
	return g
}

// BenchmarkRouteSelect is the gateway's own work per request without the
// network: path cleaning, route matching, client key, kill-switch lookup,
// target choice and one Observe.
func BenchmarkRouteSelect(b *testing.B) {
	for _, balance := range []string{config.BalanceRoundRobin, config.BalanceHash} {
		b.Run(balance, func(b *testing.B) {
			g := benchGateway(b, balance)
			r := httptest.NewRequest(http.MethodGet, "http://shop.example.com/orders/42?x=1", nil)
			r.Header.Set("X-User", "user-1234")
			b.ReportAllocs()
			for b.Loop() {
				p, _ := cleanPath(r.URL.Path)
				rt := g.match(r, p)
				key := rt.clientKey(r)
				if !g.switchOn(rt, key) {
					b.Fatal("switch off")
				}
				i := rt.choose(key, 0, 0)
				rt.targets[i].rec.Observe(200, ErrNone, time.Millisecond)
			}
		})
	}
}

// BenchmarkRequestHeaders is the header work per request, up to the
// forwarded head's bytes: request id, traceparent, hop-by-hop removal and
// X-Forwarded-*, edited into the header map and written from it (map), or
// written after the client's fields with no edit (lean, plain headers).
func BenchmarkRequestHeaders(b *testing.B) {
	r := httptest.NewRequest(http.MethodGet, "http://shop.example.com/orders/42", nil)
	base := http.Header{"Accept": {"*/*"}, "User-Agent": {"wrk"}}
	w := httptest.NewRecorder()
	buf := make([]byte, 0, 1024)
	r.Header = http.Header{}
	reset := func() {
		clear(r.Header)
		for k, v := range base {
			r.Header[k] = v
		}
		clear(w.Header())
	}
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			reset()
			th := traceFor(r.Header)
			w.Header()[hdrRequestID] = th.reqID
			th.apply(r.Header)
			prepareHeaders(r)
			buf = appendFields(appendRequestLine(buf[:0], r.Method, "127.0.0.1:8080", "/orders/42", "", ""), r.Header)
		}
	})
	b.Run("lean", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			reset()
			th := traceFor(r.Header)
			w.Header()[hdrRequestID] = th.reqID
			if !plainHeader(r.Header) {
				b.Fatal("not plain")
			}
			ff := newFwdFields(r, &th)
			buf = ff.appendFields(appendRequestLine(buf[:0], r.Method, "127.0.0.1:8080", "/orders/42", "", ""), r.Header)
		}
	})
}

// BenchmarkAccessLogLine is the encoding of one access log line.
func BenchmarkAccessLogLine(b *testing.B) {
	r := httptest.NewRequest(http.MethodGet, "http://shop.example.com/orders/42", nil)
	x := &exchange{start: time.Now(), route: &route{name: "orders"}, target: "real", status: 200,
		bytes: 512, attempts: 1, trace: traceHeaders{reqID: []string{"0123456789abcdef"}, traceID: "4bf92f3577b34da6a3ce929d0e0e4736"}}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendAccessLine(buf[:0], r, x, 1234*time.Microsecond)
	}
}

// nginxAnswer is the bench upstream's answer (bench/gateway.sh).
var nginxAnswer = []byte("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 29 Nov 2026 05:14:19 GMT\r\nContent-Type: application/json\r\nContent-Length: 56\r\nConnection: keep-alive\r\n\r\n{\"orders\":[{\"id\":1,\"customer_id\":1,\"total_cents\":4200}]}")

// BenchmarkLeanResponse reads that answer's head into an http.Response
// (the map path); BenchmarkRelayHead into wire-ready field lines.
func BenchmarkLeanResponse(b *testing.B) {
	req := &http.Request{Method: http.MethodGet}
	rd := bytes.NewReader(nginxAnswer)
	br := bufio.NewReaderSize(rd, upstreamBufferSize)
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(nginxAnswer)
		br.Reset(rd)
		if res, err := readLeanResponse(br, req); err != nil || res.ContentLength != 56 {
			b.Fatal(err)
		}
	}
}

func BenchmarkRelayHead(b *testing.B) {
	req := &http.Request{Method: http.MethodGet}
	rd := bytes.NewReader(nginxAnswer)
	br := bufio.NewReaderSize(rd, upstreamBufferSize)
	var rh relayHead
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(nginxAnswer)
		br.Reset(rd)
		if ok, err := readRelayHead(br, req, &rh); !ok || err != nil || rh.cl != 56 {
			b.Fatal(ok, err)
		}
	}
}
