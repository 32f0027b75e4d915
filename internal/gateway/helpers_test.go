package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"holdfast/internal/config"
	"holdfast/internal/gateway"
	"holdfast/internal/telemetry"
)

// parseConfig parses a YAML config with the real loader (defaults and
// validation included); a listener is added so it validates.
func parseConfig(t testing.TB, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte("listeners: [{name: public, listen: \"127.0.0.1:0\"}]\n"+yaml))
	if err != nil {
		t.Fatalf("config:\n%v", err)
	}
	return cfg
}

// newGateway builds and starts a gateway that is closed at cleanup.
func newGateway(t testing.TB, cfg *config.Config, opts gateway.Options) *gateway.Gateway {
	t.Helper()
	g, err := gateway.New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.Start(ctx)
	t.Cleanup(func() {
		cancel()
		g.Close()
	})
	return g
}

// front serves h on a real HTTP server on 127.0.0.1.
func front(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// echo is what the echo upstream answers: who it is and what it got.
type echo struct {
	Upstream string      `json:"upstream"`
	Method   string      `json:"method"`
	Path     string      `json:"path"`
	RawPath  string      `json:"raw_path"`
	Query    string      `json:"query"`
	Host     string      `json:"host"`
	Header   http.Header `json:"header"`
	Body     string      `json:"body"`
	Proto    int         `json:"proto"`
}

// echoUpstream is a real HTTP server that answers every request with an echo
// and the header X-Upstream: name.
func echoUpstream(t testing.TB, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(echoHandler(name))
	t.Cleanup(s.Close)
	return s
}

func echoHandler(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Upstream", name)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(echo{
			Upstream: name, Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath,
			Query: r.URL.RawQuery, Host: r.Host, Header: r.Header, Body: string(body), Proto: r.ProtoMajor,
		})
	}
}

// deadURL is an http URL on 127.0.0.1 where nothing listens.
func deadURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) echo(t testing.TB) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("upstream echo: %v in %q", err, r.body)
	}
	return e
}

// do sends one request; header holds "Key: value" pairs.
func do(t testing.TB, method, url string, body io.Reader, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range header {
		k, v, _ := strings.Cut(kv, ":")
		if v = strings.TrimSpace(v); k == "Host" {
			req.Host = v
		} else {
			req.Header.Add(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return response{res.StatusCode, res.Header, b}
}

func get(t testing.TB, url string, header ...string) response {
	t.Helper()
	return do(t, http.MethodGet, url, nil, header...)
}

// flagMap is a FlagSource backed by a map: the interface itself, not a
// stand-in for a real system. It remembers the entities it was asked about.
type flagMap struct {
	mu       sync.Mutex
	vals     map[string]bool
	entities []string
}

func newFlags(kv map[string]bool) *flagMap { return &flagMap{vals: kv} }

func (f *flagMap) Bool(name, entity string) (bool, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entities = append(f.entities, entity)
	v, ok := f.vals[name]
	return v, ok
}

func (f *flagMap) set(name string, v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vals[name] = v
}

func (f *flagMap) lastEntity() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.entities) == 0 {
		return ""
	}
	return f.entities[len(f.entities)-1]
}

// clock is an injectable time source that tests step by hand.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// stats returns the telemetry counters of one (route, target) pair.
func stats(t testing.TB, tel *telemetry.Telemetry, route, target string) telemetry.TargetStats {
	t.Helper()
	for _, s := range tel.Snapshot() {
		if s.Route == route && s.Target == target {
			return s
		}
	}
	t.Fatalf("no telemetry for %s/%s", route, target)
	return telemetry.TargetStats{}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		<-tick.C
	}
}
