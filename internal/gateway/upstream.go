package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"holdfast/internal/config"
)

const (
	upstreamIdleTimeout = 90 * time.Second
	upstreamBufferSize  = 16 << 10
	expectContinueWait  = time.Second
	tcpKeepAlive        = 30 * time.Second
)

// upstream is a named backend: its parsed URL, its own transport (so its
// timeouts and connection pool are its own) and its health.
type upstream struct {
	name        string
	rawURL      string
	scheme      string
	host        string // host[:port] as in the URL; sent as Host
	dialAddr    string // host:port, the scheme's port when the URL has none
	basePath    string // URL path without a trailing slash; prefixed to requests
	baseRawPath string // escaped form of basePath
	transport   *http.Transport
	lean        *leanClient // plain http only: bodyless idempotent requests
	dialer      net.Dialer
	tlsConf     *tls.Config
	connectTO   time.Duration
	hc          *config.HealthCheck
	maxFails    int32
	ejectFor    int64 // nanoseconds
	log         *slog.Logger

	// Health, read on every pick.
	unhealthy    atomic.Bool  // set by the active checker
	ejectedUntil atomic.Int64 // unix nanoseconds; passive ejection
	fails        atomic.Int32 // consecutive failed requests
	okStreak     atomic.Int32 // consecutive passing probes
	failStreak   atomic.Int32 // consecutive failing probes
}

func newUpstream(uc *config.Upstream, baseTLS *tls.Config, log *slog.Logger) (*upstream, error) {
	pu, err := url.Parse(uc.URL)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", uc.URL, err)
	}
	if (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return nil, fmt.Errorf("url %q: want an absolute http:// or https:// URL", uc.URL)
	}
	if pu.RawQuery != "" || pu.Fragment != "" || pu.User != nil {
		return nil, fmt.Errorf("url %q: must not have a query, fragment or user info", uc.URL)
	}
	u := &upstream{
		name:        uc.Name,
		rawURL:      uc.URL,
		scheme:      pu.Scheme,
		host:        pu.Host,
		basePath:    strings.TrimSuffix(pu.Path, "/"),
		baseRawPath: strings.TrimSuffix(pu.EscapedPath(), "/"),
		connectTO:   durationOr(uc.ConnectTimeout.D(), config.DefaultConnectTimeout),
		hc:          uc.HealthCheck,
		log:         log,
	}
	u.dialAddr = pu.Host
	if pu.Port() == "" {
		port := "80"
		if pu.Scheme == "https" {
			port = "443"
		}
		u.dialAddr = net.JoinHostPort(pu.Hostname(), port)
	}
	if u.baseRawPath == u.basePath {
		u.baseRawPath = ""
	}
	if uc.Passive.MaxFails > 0 {
		u.maxFails = int32(uc.Passive.MaxFails)
		u.ejectFor = int64(durationOr(uc.Passive.EjectFor.D(), config.DefaultEjectFor))
	}
	u.dialer = net.Dialer{Timeout: u.connectTO, KeepAlive: tcpKeepAlive}
	maxIdle := uc.MaxIdleConns
	if maxIdle <= 0 {
		maxIdle = config.DefaultMaxIdleConns
	}
	u.transport = &http.Transport{
		Proxy:                 nil, // upstreams are dialed directly, whatever HTTP_PROXY says
		DialContext:           u.dial,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   maxIdle,
		IdleConnTimeout:       upstreamIdleTimeout,
		ResponseHeaderTimeout: durationOr(uc.Timeout.D(), config.DefaultUpstreamTimeout),
		ExpectContinueTimeout: expectContinueWait,
		DisableCompression:    true,
		WriteBufferSize:       upstreamBufferSize,
		ReadBufferSize:        upstreamBufferSize,
	}
	if u.scheme == "https" {
		if baseTLS != nil {
			u.tlsConf = baseTLS.Clone()
		} else {
			u.tlsConf = &tls.Config{}
		}
		if u.tlsConf.ServerName == "" {
			u.tlsConf.ServerName = pu.Hostname()
		}
		if u.tlsConf.MinVersion == 0 {
			u.tlsConf.MinVersion = tls.VersionTLS12
		}
		u.tlsConf.NextProtos = []string{"h2", "http/1.1"}
		if u.tlsConf.ClientSessionCache == nil {
			u.tlsConf.ClientSessionCache = tls.NewLRUClientSessionCache(0)
		}
		u.transport.DialTLSContext = u.dialTLS
		u.transport.ForceAttemptHTTP2 = true
	} else {
		u.lean = newLeanClient(u, maxIdle, u.transport.ResponseHeaderTimeout)
	}
	return u, nil
}

func durationOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// dial connects with the upstream's connect timeout and marks a failure as
// a dialError: nothing was sent.
func (u *upstream) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := u.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, &dialError{err}
	}
	return c, nil
}

// dialTLS dials and completes the TLS handshake (offering h2) within the
// connect timeout, so a handshake failure is a dialError too.
func (u *upstream) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := u.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(c, u.tlsConf)
	hctx, cancel := context.WithTimeout(ctx, u.connectTO)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, &dialError{err}
	}
	return tc, nil
}

// closeIdle closes the upstream's idle keep-alive connections.
func (u *upstream) closeIdle() {
	u.transport.CloseIdleConnections()
	if u.lean != nil {
		u.lean.closeIdle()
	}
}

// available reports whether the upstream is in rotation at now (unix ns).
func (u *upstream) available(now int64) bool {
	return !u.unhealthy.Load() && now >= u.ejectedUntil.Load()
}

// failed records a failed request; after maxFails in a row the upstream is
// ejected for ejectFor.
func (u *upstream) failed(now int64) {
	if u.maxFails <= 0 {
		return
	}
	if u.fails.Add(1) < u.maxFails {
		return
	}
	u.fails.Store(0)
	until := now + u.ejectFor
	u.ejectedUntil.Store(until)
	u.log.Warn("upstream ejected after consecutive failures",
		logKeyUpstream, u.name, logKeyFails, u.maxFails, logKeyUntil, time.Unix(0, until).UTC())
}

// succeeded resets the failure streak; it writes only when there is one, so
// the common case touches no shared cache line.
func (u *upstream) succeeded() {
	if u.maxFails > 0 && u.fails.Load() != 0 {
		u.fails.Store(0)
	}
}

// inherit copies health state from the same upstream in an older gateway.
func (u *upstream) inherit(o *upstream) {
	u.unhealthy.Store(o.unhealthy.Load())
	u.ejectedUntil.Store(o.ejectedUntil.Load())
	u.fails.Store(o.fails.Load())
	u.okStreak.Store(o.okStreak.Load())
	u.failStreak.Store(o.failStreak.Load())
}
