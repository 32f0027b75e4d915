package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"holdfast/internal/gateway"
	"holdfast/internal/telemetry"
)

// connCounter counts the connections an upstream server accepted and closed.
type connCounter struct{ opened, closed atomic.Int64 }

func (c *connCounter) hook(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		c.opened.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.closed.Add(1)
	}
}

func TestUpstreamConnectionsAreReused(t *testing.T) {
	var cc connCounter
	up := httptest.NewUnstartedServer(echoHandler("u"))
	up.Config.ConnState = cc.hook
	up.Start()
	t.Cleanup(up.Close)
	srv := oneRoute(t, up.URL, "", gateway.Options{})
	for _, m := range []string{"GET", "HEAD", "GET", "DELETE", "OPTIONS", "GET"} {
		if got := do(t, m, srv.URL+"/", nil).status; got != http.StatusOK {
			t.Fatalf("%s: status %d", m, got)
		}
	}
	if got, want := cc.opened.Load(), int64(1); got != want {
		t.Errorf("upstream connections = %d, want %d (keep-alive)", got, want)
	}
}

func TestStaleUpstreamConnectionIsReplaced(t *testing.T) {
	var cc connCounter
	up := httptest.NewUnstartedServer(echoHandler("u"))
	up.Config.ConnState = cc.hook
	up.Start()
	t.Cleanup(up.Close)
	tel := telemetry.New()
	srv := oneRoute(t, up.URL, "    retries: 0\n", gateway.Options{Recorder: tel})
	if got := get(t, srv.URL+"/").status; got != http.StatusOK {
		t.Fatalf("first request: status %d", got)
	}
	// The upstream drops its idle keep-alive connection behind our back.
	up.CloseClientConnections()
	eventually(t, 5*time.Second, "upstream to close the idle connection", func() bool { return cc.closed.Load() == 1 })
	if got := get(t, srv.URL+"/").status; got != http.StatusOK {
		t.Fatalf("request on a stale connection: status %d, want 200", got)
	}
	if s := stats(t, tel, "r", "u"); s.Errors != 0 || s.Invocations != 2 {
		t.Errorf("invocations, errors = %d, %d; want 2, 0", s.Invocations, s.Errors)
	}
}

func TestUpstreamConnectionClose(t *testing.T) {
	var cc connCounter
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		echoHandler("u")(w, r)
	}))
	up.Config.ConnState = cc.hook
	up.Start()
	t.Cleanup(up.Close)
	srv := oneRoute(t, up.URL, "", gateway.Options{})
	for range 3 {
		res := get(t, srv.URL+"/")
		if res.status != http.StatusOK || res.header.Get("Connection") != "" {
			t.Fatalf("status %d, Connection %q; want 200 and no hop-by-hop header", res.status, res.header.Get("Connection"))
		}
	}
	if got, want := cc.opened.Load(), int64(3); got != want {
		t.Errorf("upstream connections = %d, want %d (Connection: close honoured)", got, want)
	}
}

func TestUpstreamBreaksOffBody(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Write([]byte("only ten b"))
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(up.Close)
	tel := telemetry.New()
	srv := oneRoute(t, up.URL, "", gateway.Options{Recorder: tel})
	// The client must see an error, either before the headers (nothing was
	// flushed yet) or while reading the body: never a short body that looks whole.
	res, err := http.Get(srv.URL + "/")
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err == nil {
		t.Fatalf("client read a truncated body without error")
	}
	eventually(t, 5*time.Second, "the broken body to be counted", func() bool {
		return stats(t, tel, "r", "u").ErrorsConnect == 1
	})
}

func TestClientGoneWhileWaiting(t *testing.T) {
	upstreamSawCancel := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		close(upstreamSawCancel)
	}))
	t.Cleanup(up.Close)
	tel := telemetry.New()
	srv := oneRoute(t, up.URL, "", gateway.Options{Recorder: tel})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/", nil)
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("client error = %v, want its own deadline", err)
	}
	select {
	case <-upstreamSawCancel:
	case <-time.After(10 * time.Second):
		t.Fatalf("the upstream request was not abandoned when the client left")
	}
	eventually(t, 5*time.Second, "the canceled attempt to be recorded", func() bool {
		s := stats(t, tel, "r", "u")
		return s.Canceled == 1 && s.Errors == 0 && s.Codes[4] == 1
	})
}

func TestLeanRequestLine(t *testing.T) {
	up := echoUpstream(t, "u")
	srv := oneRoute(t, up.URL, "", gateway.Options{})
	tests := []struct{ path, wantPath, wantRaw, wantQuery string }{
		{"/a%20b", "/a b", "", ""},
		{"/caf%C3%A9?q=%C3%A9", "/café", "", "q=%C3%A9"},
		{"/x%3Fy", "/x?y", "", ""},
		{"/p%25q", "/p%q", "", ""},
	}
	for _, tt := range tests {
		e := get(t, srv.URL+tt.path).echo(t)
		if got, want := fmt.Sprint(e.Path, "|", e.RawPath, "|", e.Query), fmt.Sprint(tt.wantPath, "|", tt.wantRaw, "|", tt.wantQuery); got != want {
			t.Errorf("%s: upstream got %q, want %q", tt.path, got, want)
		}
	}
}
