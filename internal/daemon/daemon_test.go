package daemon_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"holdfast/internal/config"
	"holdfast/internal/daemon"
	"holdfast/internal/state"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// writeCert writes a fresh self-signed certificate for 127.0.0.1 with the
// given common name.
func writeCert(t *testing.T, certFile, keyFile, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

type env struct {
	dir, cfgPath string
	d            *daemon.Daemon
}

// start writes cfg (a format string given the data dir) and starts a daemon.
func start(t *testing.T, cfgText string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{dir: dir, cfgPath: filepath.Join(dir, "holdfast.yaml")}
	e.write(t, cfgText)
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	e.d = daemon.New(cfg, daemon.Options{Logger: quietLogger()})
	if err := e.d.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { e.d.Shutdown(context.Background()) })
	return e
}

func (e *env) write(t *testing.T, cfgText string) {
	t.Helper()
	text := strings.ReplaceAll(cfgText, "DATADIR", filepath.Join(e.dir, "data"))
	if err := os.WriteFile(e.cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func upstream(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", name)
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

const baseConfig = `data_dir: DATADIR
admin:
  listen: 127.0.0.1:0
listeners:
%s
upstreams:
  - name: a
    url: %s
routes:
  - name: all
    targets:
      - upstream: a
        weight: 1
`

func TestTLSListenerServesHTTP2AndReloadsCertificate(t *testing.T) {
	up := upstream(t, "a")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, "first")
	e := start(t, fmt.Sprintf(baseConfig, fmt.Sprintf(`  - name: tls
    listen: 127.0.0.1:0
    tls:
      cert_file: %s
      key_file: %s`, certFile, keyFile), up.URL))
	addr := e.d.ListenerAddrs()["tls"]

	get := func() (proto int, cn string) {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + addr + "/x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "a" {
			t.Fatalf("GET over TLS: %d %q", resp.StatusCode, body)
		}
		return resp.ProtoMajor, resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	proto, cn := get()
	if proto != 2 || cn != "first" {
		t.Fatalf("proto %d cert %q; want HTTP/2 with the first certificate", proto, cn)
	}

	// Renew the certificate in place: new connections get it, no restart.
	time.Sleep(10 * time.Millisecond) // distinct modification time
	writeCert(t, certFile, keyFile, "second")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, cn := get(); cn == "second" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("renewed certificate not served within 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestH2CListener(t *testing.T) {
	up := upstream(t, "a")
	e := start(t, fmt.Sprintf(baseConfig, `  - name: h2c
    listen: 127.0.0.1:0
    h2c: true`, up.URL))
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + e.d.ListenerAddrs()["h2c"] + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Fatalf("h2c: proto %d status %d", resp.ProtoMajor, resp.StatusCode)
	}
}

func TestShutdownDrainsInFlightRequests(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	}))
	defer slow.Close()
	e := start(t, fmt.Sprintf(baseConfig, `  - name: public
    listen: 127.0.0.1:0`, slow.URL))
	addr := e.d.ListenerAddrs()["public"]

	type res struct {
		status int
		body   string
		err    error
	}
	got := make(chan res, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			got <- res{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- res{status: resp.StatusCode, body: string(b)}
	}()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- e.d.Shutdown(context.Background()) }()
	// New connections are refused once shutdown has begun.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after Shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) before the in-flight request finished", err)
	default:
	}
	close(release)
	r := <-got
	if r.err != nil || r.status != 200 || r.body != "done" {
		t.Fatalf("in-flight request: %+v", r)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := e.d.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

func TestReloadListenersAndRejection(t *testing.T) {
	a, b := upstream(t, "a"), upstream(t, "b")
	e := start(t, fmt.Sprintf(baseConfig, `  - name: one
    listen: 127.0.0.1:0`, a.URL))
	oneAddr := e.d.ListenerAddrs()["one"]
	get := func(addr string) string {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			return "error: " + err.Error()
		}
		defer resp.Body.Close()
		return resp.Header.Get("X-Upstream")
	}
	if got := get(oneAddr); got != "a" {
		t.Fatalf("before reload: %q", got)
	}

	// An invalid config changes nothing.
	e.write(t, "listeners: [}\n")
	err := e.d.Reload(context.Background(), "test", "broken")
	var cerr *config.Errors
	if !errors.As(err, &cerr) {
		t.Fatalf("Reload(broken) = %v; want *config.Errors", err)
	}
	if got := get(oneAddr); got != "a" {
		t.Fatalf("after rejected reload: %q", got)
	}
	// A listener that cannot be opened rejects the reload whole.
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	e.write(t, fmt.Sprintf(baseConfig, fmt.Sprintf(`  - name: one
    listen: %s
  - name: two
    listen: %s`, oneAddr, busy.Addr()), b.URL))
	if err := e.d.Reload(context.Background(), "test", "busy port"); err == nil {
		t.Fatal("Reload with a busy port succeeded")
	}
	if got := get(oneAddr); got != "a" {
		t.Fatalf("after reload with busy port: %q, want a (unchanged)", got)
	}

	// A good reload: same listener kept, a new one opened, new upstream.
	e.write(t, fmt.Sprintf(baseConfig, fmt.Sprintf(`  - name: one
    listen: %s
  - name: two
    listen: 127.0.0.1:0`, oneAddr), b.URL))
	if err := e.d.Reload(context.Background(), "tester", "switch to b"); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	addrs := e.d.ListenerAddrs()
	if addrs["one"] != oneAddr || addrs["two"] == "" {
		t.Fatalf("listeners after reload: %v", addrs)
	}
	if got := get(oneAddr); got != "b" {
		t.Fatalf("kept listener after reload: %q, want b", got)
	}
	if got := get(addrs["two"]); got != "b" {
		t.Fatalf("new listener: %q, want b", got)
	}

	// Dropping a listener closes it.
	e.write(t, fmt.Sprintf(baseConfig, fmt.Sprintf(`  - name: two
    listen: %s`, addrs["two"]), b.URL))
	if err := e.d.Reload(context.Background(), "tester", "drop one"); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.HasPrefix(get(oneAddr), "error") {
		if time.Now().After(deadline) {
			t.Fatal("dropped listener still answers")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Two good reloads are in the ledger; the rejected ones are not.
	st, err := state.Open(context.Background(), filepath.Join(e.dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	list, err := st.Changes(context.Background(), state.ChangeQuery{Kind: "config"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Reason != "drop one" || list[1].Reason != "switch to b" || list[1].Actor != "tester" {
		t.Fatalf("config ledger: %+v", list)
	}
}

func TestReloadRefusesServerLimitChanges(t *testing.T) {
	a := upstream(t, "a")
	cfg := fmt.Sprintf(baseConfig, `  - name: one
    listen: 127.0.0.1:0`, a.URL)
	e := start(t, cfg)
	e.write(t, cfg+"limits:\n  max_header_bytes: 1024\n")
	err := e.d.Reload(context.Background(), "test", "smaller headers")
	if !errors.Is(err, daemon.ErrNeedsRestart) || !strings.Contains(err.Error(), "max_header_bytes") {
		t.Fatalf("Reload = %v; want ErrNeedsRestart naming max_header_bytes", err)
	}
	e.write(t, cfg+"limits:\n  max_body_bytes: 1024\n")
	if err := e.d.Reload(context.Background(), "test", "smaller bodies"); err != nil {
		t.Fatalf("Reload with a new body limit: %v", err)
	}
}
