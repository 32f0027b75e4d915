package gateway_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"holdfast/internal/gateway"
)

// oneRoute is a gateway in front of one upstream URL on route "r".
func oneRoute(t *testing.T, upstreamURL, routeExtra string, opts gateway.Options) *httptest.Server {
	t.Helper()
	cfg := parseConfig(t, fmt.Sprintf(`
upstreams: [{name: u, url: %q}]
routes:
  - name: r
    targets: [{upstream: u, weight: 1}]
%s`, upstreamURL, routeExtra))
	return front(t, newGateway(t, cfg, opts))
}

var (
	hex16       = regexp.MustCompile(`^[0-9a-f]{16}$`)
	traceparent = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$`)
)

func TestRequestID(t *testing.T) {
	srv := oneRoute(t, echoUpstream(t, "u").URL, "", gateway.Options{})
	tests := []struct {
		name string
		sent []string
		keep bool
	}{
		{"none sent", nil, false},
		{"sane kept", []string{"X-Request-Id: req-42_abc.def"}, true},
		{"too long replaced", []string{"X-Request-Id: " + strings.Repeat("a", 129)}, false},
		{"128 kept", []string{"X-Request-Id: " + strings.Repeat("a", 128)}, true},
		{"space replaced", []string{"X-Request-Id: a b"}, false},
		{"two values replaced", []string{"X-Request-Id: a", "X-Request-Id: b"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, srv.URL+"/", tt.sent...)
			got := res.header.Get("X-Request-Id")
			if upstream := res.echo(t).Header.Values("X-Request-Id"); len(upstream) != 1 || upstream[0] != got {
				t.Errorf("upstream got X-Request-Id %q, client got %q", upstream, got)
			}
			if tt.keep {
				_, sent, _ := strings.Cut(tt.sent[0], ": ")
				if got != sent {
					t.Errorf("X-Request-Id = %q, want the client's %q", got, sent)
				}
			} else if !hex16.MatchString(got) {
				t.Errorf("X-Request-Id = %q, want 16 generated hex digits", got)
			} else if tp := res.echo(t).Header.Get("Traceparent"); len(tp) != 55 || tp[36:52] != got {
				t.Errorf("generated X-Request-Id %q is not the forwarded traceparent's parent-id (%q)", got, tp)
			}
		})
	}
}

func TestTraceparent(t *testing.T) {
	srv := oneRoute(t, echoUpstream(t, "u").URL, "", gateway.Options{})
	const validTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	tests := []struct {
		name        string
		sent        []string
		wantTraceID string // "" = a new one
		wantFlags   string
		wantState   string
	}{
		{"absent", nil, "", "01", ""},
		{"valid kept", []string{"traceparent: " + validTP, "tracestate: congo=t61rcWkgMzE"}, "4bf92f3577b34da6a3ce929d0e0e4736", "00", "congo=t61rcWkgMzE"},
		{"sampled kept", []string{"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, "4bf92f3577b34da6a3ce929d0e0e4736", "01", ""},
		{"future version read", []string{"traceparent: 01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"}, "4bf92f3577b34da6a3ce929d0e0e4736", "01", ""},
		{"zero trace id", []string{"traceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01", "tracestate: a=b"}, "", "01", ""},
		{"upper case", []string{"traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"}, "", "01", ""},
		{"version ff", []string{"traceparent: ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, "", "01", ""},
		{"garbage", []string{"traceparent: hello", "tracestate: a=b"}, "", "01", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := get(t, srv.URL+"/", tt.sent...).echo(t)
			m := traceparent.FindStringSubmatch(e.Header.Get("Traceparent"))
			if m == nil {
				t.Fatalf("upstream traceparent = %q, not valid", e.Header.Get("Traceparent"))
			}
			traceID, span, flags := m[1], m[2], m[3]
			if tt.wantTraceID != "" && traceID != tt.wantTraceID {
				t.Errorf("trace id = %s, want %s", traceID, tt.wantTraceID)
			}
			if tt.wantTraceID == "" && (traceID == "4bf92f3577b34da6a3ce929d0e0e4736" || traceID == strings.Repeat("0", 32)) {
				t.Errorf("trace id = %s, want a new one", traceID)
			}
			if span == "00f067aa0ba902b7" || span == strings.Repeat("0", 16) {
				t.Errorf("parent id = %s, want the gateway's new span", span)
			}
			if flags != tt.wantFlags {
				t.Errorf("flags = %s, want %s", flags, tt.wantFlags)
			}
			if got := e.Header.Get("Tracestate"); got != tt.wantState {
				t.Errorf("tracestate = %q, want %q", got, tt.wantState)
			}
		})
	}
}

func TestForwardedAndHopByHopHeaders(t *testing.T) {
	srv := oneRoute(t, echoUpstream(t, "u").URL, "", gateway.Options{})
	e := get(t, srv.URL+"/x",
		"Host: shop.example.com",
		"Connection: keep-alive, X-Session-Secret",
		"X-Session-Secret: hop",
		"Keep-Alive: timeout=5",
		"Proxy-Authorization: Basic eDp5",
		"X-Forwarded-For: 203.0.113.7",
		"X-Forwarded-Proto: https",
		"Te: trailers",
		"X-Custom: kept",
	).echo(t)
	tests := []struct{ header, want string }{
		{"X-Forwarded-For", "203.0.113.7, 127.0.0.1"},
		{"X-Forwarded-Proto", "http"}, // what the client really used, not what it claims
		{"X-Forwarded-Host", "shop.example.com"},
		{"X-Session-Secret", ""},
		{"Keep-Alive", ""},
		{"Proxy-Authorization", ""},
		{"Te", "trailers"},
		{"X-Custom", "kept"},
		{"User-Agent", "Go-http-client/1.1"}, // the client's, not a second Go default
	}
	for _, tt := range tests {
		if got := strings.Join(e.Header.Values(tt.header), ","); got != tt.want {
			t.Errorf("upstream %s = %q, want %q", tt.header, got, tt.want)
		}
	}
	if got, want := e.Host, strings.TrimPrefix(srv.URL, "http://"); got == "shop.example.com" || got == want {
		t.Errorf("upstream Host = %q, want the upstream's own host", got)
	}
}

func TestUpstreamPath(t *testing.T) {
	up := echoUpstream(t, "u")
	tests := []struct {
		name, base, prefix string
		strip              bool
		path               string
		wantPath, wantRaw  string
		wantQuery          string
	}{
		{"plain", "", "/api", false, "/api/orders?x=1&y=%20", "/api/orders", "", "x=1&y=%20"},
		{"strip", "", "/api", true, "/api/orders", "/orders", "", ""},
		{"strip to root", "", "/api", true, "/api", "/", "", ""},
		{"strip slash prefix", "", "/api/", true, "/api/orders/1", "/orders/1", "", ""},
		{"base path", "/v2/", "/api", true, "/api/orders", "/v2/orders", "", ""},
		{"base path no strip", "/v2", "/api", false, "/api/orders", "/v2/api/orders", "", ""},
		{"escaped slash kept", "", "/api", true, "/api/a%2Fb", "/a/b", "/a%2Fb", ""},
		{"dot segments cleaned", "", "/api", false, "/api/x/../orders", "/api/orders", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			strip := ""
			if tt.strip {
				strip = "    strip_prefix: true\n"
			}
			srv := oneRoute(t, up.URL+tt.base, fmt.Sprintf("    match: {path_prefix: %q}\n%s", tt.prefix, strip), gateway.Options{})
			e := get(t, srv.URL+tt.path).echo(t)
			if got := [3]string{e.Path, e.RawPath, e.Query}; got != [3]string{tt.wantPath, tt.wantRaw, tt.wantQuery} {
				t.Errorf("upstream path, raw path, query = %q, want %q", got, [3]string{tt.wantPath, tt.wantRaw, tt.wantQuery})
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	up := echoUpstream(t, "u")
	cfg := parseConfig(t, fmt.Sprintf(`
limits: {max_body_bytes: 10}
upstreams: [{name: u, url: %q}]
routes: [{name: r, targets: [{upstream: u, weight: 1}]}]
`, up.URL))
	srv := front(t, newGateway(t, cfg, gateway.Options{}))
	tests := []struct {
		name    string
		body    io.Reader
		want    int
		wantGot string
	}{
		{"at the limit", strings.NewReader("0123456789"), http.StatusOK, "0123456789"},
		{"over by length", strings.NewReader("0123456789A"), http.StatusRequestEntityTooLarge, ""},
		// io.MultiReader hides the length: the client sends it chunked.
		{"chunked at the limit", io.MultiReader(strings.NewReader("01234"), strings.NewReader("56789")), http.StatusOK, "0123456789"},
		{"chunked over", io.MultiReader(strings.NewReader("01234"), strings.NewReader("56789ABCDEF")), http.StatusRequestEntityTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, http.MethodPost, srv.URL+"/", tt.body)
			if got := res.status; got != tt.want {
				t.Fatalf("status = %d, want %d (%s)", got, tt.want, res.body)
			}
			if tt.want == http.StatusOK {
				if got := res.echo(t).Body; got != tt.wantGot {
					t.Errorf("upstream got %q, want %q", got, tt.wantGot)
				}
				return
			}
			if got, want := string(res.body), `{"error":"request body too large","limit_bytes":10}`+"\n"; got != want {
				t.Errorf("body = %q, want %q", got, want)
			}
		})
	}
}

func TestHeaderLimitIs431(t *testing.T) {
	up := echoUpstream(t, "u")
	cfg := parseConfig(t, fmt.Sprintf(`
limits: {max_header_bytes: 1024}
upstreams: [{name: u, url: %q}]
routes: [{name: r, targets: [{upstream: u, weight: 1}]}]
`, up.URL))
	g := newGateway(t, cfg, gateway.Options{})
	// The daemon's listener: a real http.Server with MaxHeaderBytes.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: g, MaxHeaderBytes: cfg.Limits.MaxHeaderBytes}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	url := "http://" + ln.Addr().String() + "/"
	if got, want := get(t, url, "X-Small: 1").status, http.StatusOK; got != want {
		t.Fatalf("small headers: status = %d, want %d", got, want)
	}
	// Go allows 4 KiB of slack over MaxHeaderBytes; 16 KiB is well past it.
	if got, want := get(t, url, "X-Big: "+strings.Repeat("x", 16<<10)).status, http.StatusRequestHeaderFieldsTooLarge; got != want {
		t.Fatalf("big headers: status = %d, want %d", got, want)
	}
}
