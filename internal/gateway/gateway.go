// Package gateway is holdfast's HTTP reverse proxy: it matches a request to a
// route, reads the route's kill switch, picks a weighted target (smooth
// weighted round robin or weighted rendezvous hashing), forwards the request
// with per-upstream timeouts and retries, and records every upstream attempt
// through a Recorder and every request in a JSON access log.
//
// Lifecycle: New builds and validates everything and starts nothing; Start
// runs the active health checkers; Close stops them. A reload builds a new
// Gateway, swaps it into a Handler, lets it inherit the old one's health
// state (InheritState) and closes the old one: requests already inside the
// old Gateway finish there.
//
// Forwarding: a request without a body that may be sent twice, to a plain
// http:// upstream, goes through a lean HTTP/1.1 client on the handler's
// goroutine (lean.go); everything else (bodies, upgrades, https with HTTP/2)
// through the upstream's own http.Transport. Both apply the upstream's
// connect_timeout and timeout (up to the response headers) and keep their own
// keep-alive pool of max_idle_conns.
//
// Header size is bounded by the listener, not here: the daemon sets
// http.Server.MaxHeaderBytes from limits.max_header_bytes and Go answers 431.
// The body size is bounded here: limits.max_body_bytes, 413.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"holdfast/internal/config"
)

// FlagSource answers kill-switch lookups. entity is the request's client key
// (the route's hash key value, or the client IP when the route has no hash
// key; it may be ""), so a flag store can roll a flag out per entity. known is
// false when the flag does not exist. Bool is called on every request to a
// route with a kill switch and must be cheap and safe for concurrent use.
type FlagSource interface {
	Bool(name, entity string) (value bool, known bool)
}

// Recorder hands out per-target recorders. Target is called while a Gateway
// is built, once per (route, target) pair, never per request; calling it
// again for the same pair (after a reload) should return the same counters.
type Recorder interface {
	Target(route, target string) TargetRecorder
}

// TargetRecorder records one upstream attempt: the status the gateway answered
// (or would have answered, for an attempt that was retried), how it failed and
// how long it took. Observe is called on the request path: it must be cheap,
// must not allocate and must be safe for concurrent use.
type TargetRecorder interface {
	Observe(status int, kind ErrKind, d time.Duration)
}

// StaticTarget is the target name under which a route's static fallback
// response is recorded. Upstream names start with a letter or digit, so it
// cannot clash with one.
const StaticTarget = "_static"

// Options are a Gateway's dependencies beyond the config.
type Options struct {
	// Flags answers kill-switch lookups; nil means every switch is on.
	Flags FlagSource
	// Recorder receives per-target telemetry; nil records nothing.
	Recorder Recorder
	// AccessLog receives one JSON line per request; nil turns the log off.
	// It must be safe for concurrent use and should not block (use
	// telemetry.AsyncWriter): Write is called on the request path.
	AccessLog io.Writer
	// Logger receives operational events (health changes, ejections);
	// nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests inject it to step passive
	// ejection without waiting.
	Now func() time.Time
	// TLSClientConfig is the base TLS configuration for https upstreams
	// (e.g. RootCAs for a private CA); nil means the system roots. It is
	// cloned per upstream.
	TLSClientConfig *tls.Config
	// Splits are the rollouts' traffic splits (split.go); nil: none.
	Splits *Splits
}

// Gateway routes and forwards requests for one configuration. It is
// immutable once built except for health and balancing state, and safe for
// concurrent use.
type Gateway struct {
	routes    []*route
	upstreams []*upstream
	byName    map[string]*upstream
	flags     FlagSource
	alog      io.Writer
	log       *slog.Logger
	now       func() time.Time
	maxBody   int64
	tooLarge  []byte // the 413 body
	idleSweep time.Duration
	rec       Recorder    // for the targets of rollout splits
	tlsConf   *tls.Config // for inline rollout targets

	mu      sync.Mutex // guards started, closed, cancel
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New builds a Gateway for cfg. It checks what it relies on (upstream URLs,
// route references, hash keys) and returns an error naming the field; it
// starts no goroutine.
func New(cfg *config.Config, opts Options) (*Gateway, error) {
	if cfg == nil {
		return nil, errors.New("gateway: no config")
	}
	g := &Gateway{
		byName:    make(map[string]*upstream, len(cfg.Upstreams)),
		flags:     opts.Flags,
		alog:      opts.AccessLog,
		log:       opts.Logger,
		now:       opts.Now,
		maxBody:   cfg.Limits.MaxBodyBytes,
		idleSweep: cfg.Limits.ShutdownTimeout.D(),
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.maxBody <= 0 {
		g.maxBody = config.DefaultMaxBodyBytes
	}
	if g.idleSweep <= 0 {
		g.idleSweep = config.DefaultShutdownTimeout
	}
	g.tooLarge = tooLargeBody(g.maxBody)
	rec := opts.Recorder
	if rec == nil {
		rec = nopRecorder{}
	}
	g.rec, g.tlsConf = rec, opts.TLSClientConfig
	for i := range cfg.Upstreams {
		uc := &cfg.Upstreams[i]
		if _, dup := g.byName[uc.Name]; dup {
			return nil, fmt.Errorf("gateway: upstreams[%d].name: another upstream is already named %q", i, uc.Name)
		}
		u, err := newUpstream(uc, opts.TLSClientConfig, g.log)
		if err != nil {
			return nil, fmt.Errorf("gateway: upstreams[%d] (%s): %w", i, uc.Name, err)
		}
		g.upstreams = append(g.upstreams, u)
		g.byName[uc.Name] = u
	}
	for i := range cfg.Routes {
		rt, err := g.buildRoute(&cfg.Routes[i], rec)
		if err != nil {
			return nil, fmt.Errorf("gateway: routes[%d] (%s): %w", i, cfg.Routes[i].Name, err)
		}
		g.routes = append(g.routes, rt)
	}
	if s := opts.Splits; s != nil {
		s.mu.Lock()
		err := s.applyTo(g)
		s.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
	}
	return g, nil
}

// Start runs the active health checkers until ctx ends or Close is called.
// Calling it again, or after Close, does nothing.
func (g *Gateway) Start(ctx context.Context) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started || g.closed {
		return
	}
	g.started = true
	ctx, g.cancel = context.WithCancel(ctx)
	for _, u := range g.upstreams {
		if u.hc == nil {
			continue
		}
		c := newChecker(u, g.log)
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			c.run(ctx)
		}()
	}
}

// Close stops the health checkers and closes idle upstream connections.
// Requests in flight finish; connections they return to the pool are closed
// by a second sweep after limits.shutdown_timeout (and by the transports'
// idle timeout in any case). Close is idempotent and always returns nil.
func (g *Gateway) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	cancel := g.cancel
	g.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	g.wg.Wait()
	g.closeIdle()
	time.AfterFunc(g.idleSweep, g.closeIdle)
	return nil
}

func (g *Gateway) closeIdle() {
	for _, u := range g.upstreams {
		u.closeIdle()
	}
}

// InheritState copies health and ejection state from old for every upstream
// that has the same name and URL in both, so a reload does not send traffic
// back to an upstream the old gateway had taken out of rotation. It is safe
// to call while g serves requests; old may be nil.
func (g *Gateway) InheritState(old *Gateway) {
	if old == nil || old == g {
		return
	}
	for _, u := range g.upstreams {
		if o, ok := old.byName[u.name]; ok && o.rawURL == u.rawURL {
			u.inherit(o)
		}
	}
}

// Handler serves requests with the current Gateway and lets a reload swap in
// a new one without dropping requests.
type Handler struct {
	cur atomic.Pointer[Gateway]
}

// NewHandler returns a Handler serving g.
func NewHandler(g *Gateway) *Handler {
	h := &Handler{}
	h.cur.Store(g)
	return h
}

// Swap makes g the current Gateway and returns the previous one. Requests
// already inside the previous Gateway finish there; the caller closes it.
func (h *Handler) Swap(g *Gateway) (old *Gateway) { return h.cur.Swap(g) }

// Current returns the Gateway serving new requests.
func (h *Handler) Current() *Gateway { return h.cur.Load() }

// ServeHTTP hands the request to the current Gateway.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := h.cur.Load()
	if g == nil {
		writeJSON(w, http.StatusServiceUnavailable, bodyNotReady)
		return
	}
	g.ServeHTTP(w, r)
}

type nopRecorder struct{}

func (nopRecorder) Target(string, string) TargetRecorder { return nopTarget{} }

type nopTarget struct{}

func (nopTarget) Observe(int, ErrKind, time.Duration) {}
