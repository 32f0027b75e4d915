// Package h1 is a lean HTTP/1.1 server for the gateway's hot path: a
// request without a body on a keep-alive connection. It reads a request,
// calls the handler and writes the response on one goroutine per
// connection, with no background read and no per-request context, which
// on loopback halves the context switches net/http spends per request.
//
// It serves only what it fully understands and hands everything else, the
// connection and the bytes already read, to a standard net/http Server
// (Fallback), which then serves that connection to its end: requests with a
// body (Content-Length or Transfer-Encoding), Expect, Upgrade (WebSocket,
// h2c), HTTP/1.0, HTTP/2's preface, a request target that is not a plain
// path, a missing or repeated Host, headers larger than the read buffer or
// than MaxHeaderBytes, and anything malformed. So every error answer (400,
// 431, ...) is still net/http's, and the fast path never has to be as
// complete as net/http to be correct.
//
// Differences from net/http, for the requests it does serve:
//   - the request's context is not canceled when the client goes away
//     during the request (there is no background read); the handler's own
//     timeouts bound the request instead;
//   - a response header's keys are written in map order, not sorted.
package h1

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"holdfast/internal/evloop"
)

// bufSize is the read buffer per connection: a request head must fit in it
// to be served here (net/http serves larger ones).
const bufSize = 4 << 10

// Server serves HTTP/1.1 requests on a listener, handing the connections it
// does not serve to Fallback.
type Server struct {
	// Handler serves the requests. It is also Fallback's handler in
	// practice, but the two are set separately.
	Handler http.Handler
	// Fallback serves the connections handed over; it must be set. Its
	// MaxHeaderBytes, ReadHeaderTimeout and IdleTimeout are the limits
	// the fast path applies too.
	Fallback *http.Server
	// Log receives panics from the handler; nil means slog.Default().
	Log *slog.Logger
	// EventLoop serves a plain TCP listener's connections on the
	// process's event loops (package evloop) rather than on a goroutine
	// each, where the platform has them. A request is served there only
	// when Loopable says its handling never blocks outside the
	// connection (see evloop's rules); otherwise its connection moves to
	// a goroutine of its own for good, and is served as without loops.
	EventLoop bool
	// Loopable reports whether the handler serves r without blocking
	// on anything but the client and the event loop's own connections;
	// nil means never.
	Loopable func(r *http.Request) bool

	handed    *handoffListener
	mu        sync.Mutex
	ln        net.Listener
	conns     map[*conn]struct{}
	closing   atomic.Bool
	stopOnce  sync.Once
	serving   bool
	fallbackD chan struct{}
	loopLn    *evloop.Listener // the loops' accepting, when they serve ln
	stopped   chan struct{}    // closed by Shutdown and Close
	active    sync.WaitGroup
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = http.ErrServerClosed

// Serve accepts connections on ln until Shutdown and serves them. It returns
// ErrServerClosed after Shutdown, or the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	if s.Fallback == nil {
		return errors.New("h1: no fallback server")
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.serving {
		s.mu.Unlock()
		return errors.New("h1: Serve called twice")
	}
	s.serving = true
	s.ln = ln
	s.conns = make(map[*conn]struct{})
	s.handed = newHandoffListener(ln.Addr())
	s.fallbackD = make(chan struct{})
	s.stopped = make(chan struct{})
	s.mu.Unlock()
	go func() {
		defer close(s.fallbackD)
		_ = s.Fallback.Serve(s.handed)
	}()
	if tl, ok := ln.(*net.TCPListener); ok && s.EventLoop {
		if g, err := evloop.Default(); err == nil {
			return s.serveLoops(g, tl)
		}
	}
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				// Out of file descriptors and the like: back off as
				// net/http does, up to a second.
				if delay == 0 {
					delay = 5 * time.Millisecond
				} else if delay *= 2; delay > time.Second {
					delay = time.Second
				}
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := s.newConn(nc)
		if c == nil {
			continue
		}
		go c.serve()
	}
}

// serveLoops has the event loops accept and serve ln's connections until
// Shutdown or Close.
func (s *Server) serveLoops(g *evloop.Group, ln *net.TCPListener) error {
	el, err := g.Serve(ln, func(lc *evloop.Conn) {
		if c := s.newConn(lc); c != nil {
			c.loop = lc
			c.serve()
		}
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.loopLn = el
	closing := s.closing.Load()
	s.mu.Unlock()
	if closing {
		el.Close()
	}
	<-s.stopped
	return ErrServerClosed
}

// stopAccepting closes the listener (and the loops' accepting on it).
func (s *Server) stopAccepting() {
	s.mu.Lock()
	ln, el := s.ln, s.loopLn
	s.mu.Unlock()
	ln.Close()
	if el != nil {
		el.Close()
	}
	s.stopOnce.Do(func() { close(s.stopped) })
}

func (s *Server) newConn(nc net.Conn) *conn {
	c := newConn(s, nc)
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		return nil
	}
	s.conns[c] = struct{}{}
	s.active.Add(1)
	s.mu.Unlock()
	return c
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.active.Done()
}

// Shutdown stops accepting, closes idle connections, lets requests in
// flight finish (their connection closes after the response) and shuts the
// fallback server down the same way. When ctx ends first it closes what is
// left and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	serving := s.serving
	s.mu.Unlock()
	if !serving {
		return s.Fallback.Shutdown(ctx)
	}
	s.stopAccepting()
	fb := make(chan error, 1)
	go func() { fb <- s.Fallback.Shutdown(ctx) }()
	done := make(chan struct{})
	go func() {
		s.active.Wait()
		close(done)
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		s.closeIdle()
		select {
		case <-done:
			break wait
		case <-ctx.Done():
			// As net/http: close what is left and return; a handler
			// still running finishes on a closed connection.
			err = ctx.Err()
			s.closeAll()
			break wait
		case <-tick.C:
		}
	}
	if ferr := <-fb; ferr != nil {
		s.Fallback.Close()
		if err == nil {
			err = ferr
		}
	}
	<-s.fallbackD
	return err
}

// Close closes the listener and every connection at once, and returns
// without waiting for handlers still running.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing.Store(true)
	serving := s.serving
	s.mu.Unlock()
	if !serving {
		return s.Fallback.Close()
	}
	s.stopAccepting()
	s.closeAll() // as net/http, handlers still running are not waited for
	s.handed.Close()
	err := s.Fallback.Close()
	<-s.fallbackD
	return err
}

func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			c.nc.Close()
		}
	}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.state.Store(stateClosed)
		c.nc.Close()
	}
}

// handoffListener is the fallback server's listener: Accept returns the
// connections the fast path handed over.
type handoffListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// give hands c to the fallback server; false when it is shut down.
func (l *handoffListener) give(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}
