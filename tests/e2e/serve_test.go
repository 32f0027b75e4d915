package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var reloadRejectedRE = regexp.MustCompile(`reload on SIGHUP rejected`)

func TestServeRejectsInvalidConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	writeFile(t, cfg, `data_dir: `+filepath.Join(dir, "data")+`
listeners:
  - name: public
    listen: 127.0.0.1:0
    tls_cert: x
upstreams:
  - name: real
    url: http://127.0.0.1:1
routes:
  - name: a
    targets: []
  - name: b
    targets:
      - upstream: real
        weight: 0
  - name: c
    targets:
      - upstream: real
        weight: 1
    fallback:
      upstream: ghost
    kill_switch: nope
`)
	p := start(t, bins.holdfast, "serve", "--config", cfg)
	if code := p.wait(30 * time.Second); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	out := p.output()
	for _, want := range []string{
		"bad.yaml:5: listeners[0].tls_cert: unknown field",
		"bad.yaml:11: routes[0].targets: no targets",
		"bad.yaml:14: routes[1].targets: weights sum to 0",
		`bad.yaml:21: routes[2].fallback.upstream: no upstream named "ghost"`,
		`bad.yaml:22: routes[2].kill_switch: no flag named "nope"`,
		"nothing started",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("an invalid config still created the data directory")
	}

	// Malformed YAML too.
	writeFile(t, cfg, "listeners: [\n")
	p = start(t, bins.holdfast, "serve", "--config", cfg)
	if code := p.wait(30 * time.Second); code != 2 || !strings.Contains(p.output(), "bad.yaml:") {
		t.Fatalf("malformed YAML: exit %d, output:\n%s", code, p.output())
	}
}

// freePort returns a loopback port nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestGatewayErrorsAndAdminAuth(t *testing.T) {
	mockURL := startOrders(t, "mock")
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "h.yaml")
	writeFile(t, cfg, fmt.Sprintf(`data_dir: %s
admin:
  listen: 127.0.0.1:0
listeners:
  - name: public
    listen: 127.0.0.1:0
limits:
  max_header_bytes: 4096
upstreams:
  - name: down
    url: http://127.0.0.1:%d
    connect_timeout: 1s
  - name: mock
    url: %s
flags:
  - name: down-on
routes:
  - name: broken
    match:
      path_prefix: /broken
    targets:
      - upstream: down
        weight: 1
  - name: static
    match:
      path_prefix: /maint
    targets:
      - upstream: down
        weight: 1
    kill_switch: down-on
    fallback:
      static:
        status: 503
        headers: {Retry-After: "30"}
        body: '{"error":"maintenance"}'
  - name: orders
    targets:
      - upstream: mock
        weight: 1
`, dataDir, freePort(t), mockURL))
	d := startDaemon(t, cfg, dataDir)

	// Upstream down: 502 with a JSON body naming route and target.
	resp, err := http.Get(d.gateway + "/broken/x")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || body["route"] != "broken" || body["target"] != "down" {
		t.Fatalf("upstream down: %d %v; want 502 naming route broken and target down", resp.StatusCode, body)
	}

	// Oversized headers: 431.
	req, _ := http.NewRequest("GET", d.gateway+"/orders", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized headers: %d, want 431", resp.StatusCode)
	}

	// Kill switch to an unknown flag: 404, nothing changes.
	out, code := d.cli(t, "flags", "set", "no-such-flag", "off", "--reason", "typo")
	if code == 0 || !strings.Contains(out, "404") {
		t.Fatalf("flip of an unknown flag: exit %d: %s", code, out)
	}
	// Static fallback when the switch is off.
	if out, code := d.cli(t, "flags", "set", "down-on", "off", "--reason", "maintenance"); code != 0 {
		t.Fatalf("flags set: %d %s", code, out)
	}
	resp, err = http.Get(d.gateway + "/maint/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "30" || string(b) != `{"error":"maintenance"}` {
		t.Fatalf("static fallback: %d %v %q", resp.StatusCode, resp.Header, b)
	}

	// Admin API: no token or a wrong one is 401 and changes nothing.
	for _, tok := range []string{"", "wrong-token"} {
		req, _ := http.NewRequest("PUT", d.admin+"/api/v1/flags/down-on", strings.NewReader(`{"enabled":true,"reason":"x"}`))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("token %q: %d, want 401", tok, resp.StatusCode)
		}
	}
	if out, _ := d.cli(t, "flags", "get", "down-on"); !strings.Contains(out, "down-on off") {
		t.Fatalf("flag changed by an unauthenticated call: %s", out)
	}
	st, err := os.Stat(filepath.Join(dataDir, "admin.token"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", st, err)
	}
	// Prometheus exposition carries the per-target error count.
	req, _ = http.NewRequest("GET", d.admin+"/metrics", nil)
	tok, _ := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`holdfast_gateway_errors_total\{[^}]*kind="connect"[^}]*\} [1-9]`).Match(b) {
		t.Fatalf("/metrics lacks a connect error count:\n%s", b)
	}
	// Access log has JSON lines.
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.wait(20 * time.Second)
	raw, err := os.ReadFile(filepath.Join(dataDir, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	var entry map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil || entry["route"] != "broken" || entry["request_id"] == "" || entry["trace_id"] == "" {
		t.Fatalf("access log line %q: %v", lines[0], err)
	}
}
