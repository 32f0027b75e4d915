package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"holdfast/internal/gateway"
	"holdfast/internal/telemetry"
)

// The benchmarks here pair the gateway with an anchor in the same run:
// BenchmarkGatewayOverhead against BenchmarkDirectRoundTrip (the same
// upstream through a bare http.Transport), and BenchmarkEndToEnd/gateway
// against BenchmarkEndToEnd/direct (a client through a real front server).
// The ratio is the gateway's cost. Run:
//
//	go test -run XXX -bench 'Overhead|DirectRoundTrip|EndToEnd' -benchmem ./internal/gateway/

var helloBody = []byte(`{"id":42,"status":"shipped"}`)

func helloUpstream(b *testing.B) *httptest.Server {
	b.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"application/json"}
		w.Write(helloBody)
	}))
	b.Cleanup(s.Close)
	return s
}

// memWriter is an in-memory http.ResponseWriter that keeps nothing.
type memWriter struct {
	h      http.Header
	status int
	n      int
}

func (m *memWriter) Header() http.Header { return m.h }
func (m *memWriter) WriteHeader(s int)   { m.status = s }
func (m *memWriter) Write(p []byte) (int, error) {
	m.n += len(p)
	return len(p), nil
}

// BenchmarkGatewayOverhead drives Gateway.ServeHTTP in process (routing,
// kill-switch lookup, target choice, header work, Prometheus telemetry and
// the access log into an AsyncWriter) against a real loopback upstream.
func BenchmarkGatewayOverhead(b *testing.B) {
	up := helloUpstream(b)
	cfg := parseConfig(b, fmt.Sprintf(`
flags: [{name: orders-real}]
upstreams: [{name: real, url: %q}, {name: mock, url: %q}]
routes:
  - {name: health, match: {path_prefix: /healthz}, targets: [{upstream: real, weight: 1}]}
  - name: orders
    match: {path_prefix: /orders}
    kill_switch: orders-real
    targets: [{upstream: real, weight: 1}]
    fallback: {upstream: mock}
`, up.URL, up.URL))
	aw := telemetry.NewAsyncWriter(io.Discard)
	b.Cleanup(func() { aw.Close() })
	g := newGateway(b, cfg, gateway.Options{
		Flags:     newFlags(map[string]bool{"orders-real": true}),
		Recorder:  telemetry.New(),
		AccessLog: aw,
	})
	r := httptest.NewRequest(http.MethodGet, "http://shop.example.com/orders/42", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	w := &memWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		r.Header = http.Header{"Accept": {"*/*"}, "User-Agent": {"wrk"}}
		clear(w.h)
		g.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

// BenchmarkDirectRoundTrip is the anchor of BenchmarkGatewayOverhead: the
// same request to the same upstream through a bare http.Transport.
func BenchmarkDirectRoundTrip(b *testing.B) {
	up := helloUpstream(b)
	tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	req, _ := http.NewRequest(http.MethodGet, up.URL+"/orders/42", nil)
	buf := make([]byte, 32<<10)
	b.ReportAllocs()
	for b.Loop() {
		req.Header = http.Header{"Accept": {"*/*"}, "User-Agent": {"wrk"}}
		res, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		io.CopyBuffer(io.Discard, res.Body, buf)
		res.Body.Close()
	}
}

// BenchmarkEndToEnd sends requests through a real front server, in
// parallel, to the gateway and (as the anchor) straight to the upstream.
func BenchmarkEndToEnd(b *testing.B) {
	up := helloUpstream(b)
	cfg := parseConfig(b, fmt.Sprintf(`
upstreams: [{name: real, url: %q}]
routes: [{name: orders, targets: [{upstream: real, weight: 1}]}]
`, up.URL))
	aw := telemetry.NewAsyncWriter(io.Discard)
	b.Cleanup(func() { aw.Close() })
	g := newGateway(b, cfg, gateway.Options{Recorder: telemetry.New(), AccessLog: aw})
	gw := front(b, g)
	for _, tt := range []struct{ name, url string }{{"direct", up.URL}, {"gateway", gw.URL}} {
		b.Run(tt.name, func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
			defer tr.CloseIdleConnections()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequest(http.MethodGet, tt.url+"/orders/42", nil)
				buf := make([]byte, 4<<10)
				for pb.Next() {
					res, err := tr.RoundTrip(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.CopyBuffer(io.Discard, res.Body, buf)
					res.Body.Close()
				}
			})
		})
	}
}
