package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"holdfast/internal/config"
	"holdfast/internal/gateway"
)

func TestRouteMatching(t *testing.T) {
	a, b, c, d := echoUpstream(t, "a"), echoUpstream(t, "b"), echoUpstream(t, "c"), echoUpstream(t, "d")
	cfg := parseConfig(t, fmt.Sprintf(`
upstreams:
  - {name: a, url: %q}
  - {name: b, url: %q}
  - {name: c, url: %q}
  - {name: d, url: %q}
routes:
  - name: admin-host
    match: {host: Admin.Example.com, path_prefix: /}
    targets: [{upstream: a, weight: 1}]
  - name: orders-write
    match: {path_prefix: /orders, methods: [POST, put]}
    targets: [{upstream: b, weight: 1}]
  - name: orders
    match: {path_prefix: /orders}
    targets: [{upstream: c, weight: 1}]
  - name: assets
    match: {path_prefix: /static/}
    targets: [{upstream: d, weight: 1}]
`, a.URL, b.URL, c.URL, d.URL))
	srv := front(t, newGateway(t, cfg, gateway.Options{}))

	tests := []struct {
		method, host, path string
		want               string // upstream, or "" for 404
	}{
		{"GET", "", "/orders", "c"},
		{"GET", "", "/orders/42", "c"},
		{"POST", "", "/orders", "b"},
		{"PUT", "", "/orders/42", "b"},
		{"DELETE", "", "/orders/42", "c"},
		{"GET", "", "/ordersx", ""},
		{"GET", "admin.example.com:8080", "/anything", "a"},
		{"GET", "ADMIN.EXAMPLE.COM", "/orders", "a"}, // first match wins
		{"GET", "other.example.com", "/orders", "c"},
		{"GET", "", "/static/app.css", "d"},
		{"GET", "", "/static", ""}, // a prefix ending in / needs the slash
		{"GET", "", "/orders/../admin", ""},
		{"GET", "", "/nothing", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.host+tt.path, func(t *testing.T) {
			var hdr []string
			if tt.host != "" {
				hdr = append(hdr, "Host: "+tt.host)
			}
			res := do(t, tt.method, srv.URL+tt.path, nil, hdr...)
			if tt.want == "" {
				if got, want := res.status, http.StatusNotFound; got != want {
					t.Fatalf("status = %d, want %d", got, want)
				}
				var body map[string]string
				if err := json.Unmarshal(res.body, &body); err != nil {
					t.Fatalf("404 body %q: %v", res.body, err)
				}
				if got, want := body["error"], "no route"; got != want {
					t.Errorf("error = %q, want %q", got, want)
				}
				if got, want := body["path"], tt.path; got != want {
					t.Errorf("path = %q, want %q", got, want)
				}
				return
			}
			if got, want := res.header.Get("X-Upstream"), tt.want; got != want {
				t.Fatalf("upstream = %q, want %q (status %d)", got, want, res.status)
			}
		})
	}
}

func TestSmoothWeightedRoundRobinSequence(t *testing.T) {
	a, b, c := echoUpstream(t, "a"), echoUpstream(t, "b"), echoUpstream(t, "c")
	cfg := parseConfig(t, fmt.Sprintf(`
upstreams: [{name: a, url: %q}, {name: b, url: %q}, {name: c, url: %q}, {name: z, url: %q}]
routes:
  - name: r
    targets: [{upstream: a, weight: 5}, {upstream: b, weight: 1}, {upstream: z, weight: 0}, {upstream: c, weight: 1}]
`, a.URL, b.URL, c.URL, deadURL(t)))
	srv := front(t, newGateway(t, cfg, gateway.Options{}))
	var got []string
	for range 14 {
		got = append(got, get(t, srv.URL+"/").header.Get("X-Upstream"))
	}
	if got, want := strings.Join(got, " "), "a a b a c a a a a b a c a a"; got != want {
		t.Fatalf("sequence = %q, want %q", got, want)
	}
}

func TestHashStickiness(t *testing.T) {
	a, b, c := echoUpstream(t, "a"), echoUpstream(t, "b"), echoUpstream(t, "c")
	for _, key := range []struct{ hashKey, send string }{
		{"header:X-User", "X-User: %s"},
		{"cookie:session", "Cookie: theme=dark; session=%s"},
		{"query:user", ""},
	} {
		t.Run(key.hashKey, func(t *testing.T) {
			cfg := parseConfig(t, fmt.Sprintf(`
upstreams: [{name: a, url: %q}, {name: b, url: %q}, {name: c, url: %q}]
routes:
  - name: r
    balance: hash
    hash_key: %q
    targets: [{upstream: a, weight: 1}, {upstream: b, weight: 1}, {upstream: c, weight: 1}]
`, a.URL, b.URL, c.URL, key.hashKey))
			srv := front(t, newGateway(t, cfg, gateway.Options{}))
			seen := map[string]bool{}
			for u := range 30 {
				user := fmt.Sprintf("user-%d", u)
				url, hdr := srv.URL+"/", []string(nil)
				if key.send == "" {
					url += "?user=" + user
				} else {
					hdr = append(hdr, fmt.Sprintf(key.send, user))
				}
				first := get(t, url, hdr...).header.Get("X-Upstream")
				seen[first] = true
				for range 3 {
					if got := get(t, url, hdr...).header.Get("X-Upstream"); got != first {
						t.Fatalf("%s went to %s, then to %s", user, first, got)
					}
				}
			}
			if len(seen) != 3 {
				t.Errorf("30 users reached %d upstreams, want all 3", len(seen))
			}
		})
	}
}

func TestKillSwitch(t *testing.T) {
	real, mock := echoUpstream(t, "real"), echoUpstream(t, "mock")
	cfg := parseConfig(t, fmt.Sprintf(`
flags: [{name: orders-real}, {name: pay-real}, {name: ghost}]
upstreams: [{name: real, url: %q}, {name: mock, url: %q}]
routes:
  - name: orders
    match: {path_prefix: /orders}
    kill_switch: orders-real
    targets: [{upstream: real, weight: 1}]
    fallback: {upstream: mock}
  - name: pay
    match: {path_prefix: /pay}
    kill_switch: pay-real
    balance: hash
    hash_key: header:X-Tenant
    targets: [{upstream: real, weight: 1}]
    fallback:
      static:
        status: 503
        headers: {Retry-After: "30", content-type: application/json}
        body: '{"error":"payments paused"}'
  - name: typo
    match: {path_prefix: /typo}
    kill_switch: ghost
    targets: [{upstream: real, weight: 1}]
    fallback: {upstream: mock}
`, real.URL, mock.URL))
	flags := newFlags(map[string]bool{"orders-real": true, "pay-real": false})
	g := newGateway(t, cfg, gateway.Options{Flags: flags})
	srv := front(t, g)

	upstreamOf := func(path string, hdr ...string) string {
		t.Helper()
		return get(t, srv.URL+path, hdr...).header.Get("X-Upstream")
	}
	if got, want := upstreamOf("/orders/1"), "real"; got != want {
		t.Fatalf("switch on: upstream = %q, want %q", got, want)
	}
	if got, want := flags.lastEntity(), "127.0.0.1"; got != want {
		t.Errorf("entity without hash key = %q, want the client IP %q", got, want)
	}
	flags.set("orders-real", false)
	if got, want := upstreamOf("/orders/1"), "mock"; got != want {
		t.Fatalf("switch off: upstream = %q, want %q", got, want)
	}
	flags.set("orders-real", true)
	if got, want := upstreamOf("/orders/1"), "real"; got != want {
		t.Fatalf("switch back on: upstream = %q, want %q", got, want)
	}

	res := get(t, srv.URL+"/pay", "X-Tenant: acme")
	if got, want := res.status, http.StatusServiceUnavailable; got != want {
		t.Fatalf("static fallback status = %d, want %d", got, want)
	}
	if got, want := string(res.body), `{"error":"payments paused"}`; got != want {
		t.Errorf("static body = %q, want %q", got, want)
	}
	if got, want := res.header.Get("Retry-After"), "30"; got != want {
		t.Errorf("Retry-After = %q, want %q", got, want)
	}
	if got, want := res.header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	if res.header.Get("X-Request-Id") == "" {
		t.Errorf("static response has no X-Request-Id")
	}
	if got, want := flags.lastEntity(), "acme"; got != want {
		t.Errorf("entity = %q, want the hash key value %q", got, want)
	}
	flags.set("pay-real", true)
	if got, want := upstreamOf("/pay", "X-Tenant: acme"), "real"; got != want {
		t.Fatalf("pay switched on: upstream = %q, want %q", got, want)
	}

	if got, want := upstreamOf("/typo"), "real"; got != want {
		t.Fatalf("unknown flag: upstream = %q, want %q (unknown means on)", got, want)
	}

	st := g.Status()
	want := map[string]string{"orders": gateway.ActiveTargets, "pay": gateway.ActiveTargets, "typo": gateway.ActiveTargets}
	for _, rs := range st {
		if got := rs.Active; got != want[rs.Name] {
			t.Errorf("Status %s active = %q, want %q", rs.Name, got, want[rs.Name])
		}
	}
	flags.set("orders-real", false)
	if got, want := g.Status()[0].Active, gateway.ActiveFallback; got != want {
		t.Errorf("Status orders active = %q after switching off, want %q", got, want)
	}
	if _, err := json.Marshal(g.Status()); err != nil {
		t.Errorf("Status is not JSON-able: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	base := func() string {
		return `
upstreams: [{name: a, url: "http://127.0.0.1:1"}]
routes: [{name: r, targets: [{upstream: a, weight: 1}]}]
`
	}
	tests := []struct {
		name   string
		mutate func(c *config.Config)
		want   string
	}{
		{"bad url", func(c *config.Config) { c.Upstreams[0].URL = "ftp://x" }, "url"},
		{"unknown upstream", func(c *config.Config) { c.Routes[0].Targets[0].Upstream = "nope" }, `no upstream named "nope"`},
		{"zero weights", func(c *config.Config) { c.Routes[0].Targets[0].Weight = 0 }, "weights sum to 0"},
		{"bad hash key", func(c *config.Config) { c.Routes[0].Balance, c.Routes[0].HashKey = "hash", "body:x" }, "hash_key"},
		{"switch without fallback", func(c *config.Config) { c.Routes[0].KillSwitch = "f" }, "fallback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parseConfig(t, base())
			tt.mutate(cfg)
			_, err := gateway.New(cfg, gateway.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
