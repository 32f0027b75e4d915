package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"holdfast/internal/config"
	"holdfast/internal/h1"
)

// listener is one gateway front door: a net.Listener and its http.Server,
// behind the HTTP/1.1 fast path (fast) on a plain listener.
type listener struct {
	cfg  config.Listener
	ln   net.Listener
	srv  *http.Server
	fast *h1.Server    // nil: srv serves the listener itself
	cert *certReloader // nil for plain listeners
	done chan struct{}
}

func (d *Daemon) openListener(lc config.Listener, lim config.Limits) (*listener, error) {
	l := &listener{cfg: lc, done: make(chan struct{})}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	var tlsCfg *tls.Config
	if lc.TLS != nil {
		cr, err := newCertReloader(lc.TLS.CertFile, lc.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", lc.Name, err)
		}
		l.cert = cr
		protocols.SetHTTP2(true)
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cr.get, NextProtos: []string{"h2", "http/1.1"}}
	} else if lc.H2C {
		protocols.SetUnencryptedHTTP2(true)
	}
	ln, err := net.Listen("tcp", lc.Listen)
	if err != nil {
		return nil, fmt.Errorf("listener %s on %s: %w", lc.Name, lc.Listen, err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	l.ln = ln
	l.srv = &http.Server{
		Handler:           d.handler,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ReadHeaderTimeout: lim.ReadHeaderTimeout.D(),
		IdleTimeout:       lim.IdleTimeout.D(),
		Protocols:         protocols,
		TLSConfig:         tlsCfg,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	if lc.FastPathOn() {
		l.fast = &h1.Server{Handler: d.handler, Fallback: l.srv, Log: d.log,
			EventLoop: lc.EventLoopOn(), Loopable: d.handler.Loopable}
	}
	return l, nil
}

func (l *listener) serve(log *slog.Logger) {
	go func() {
		defer close(l.done)
		serve := l.srv.Serve
		if l.fast != nil {
			serve = l.fast.Serve
		}
		if err := serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("listener stopped", "listener", l.cfg.Name, "err", err)
		}
	}()
}

func (l *listener) addr() string { return l.ln.Addr().String() }

func (l *listener) scheme() string {
	if l.cfg.TLS != nil {
		return "https"
	}
	return "http"
}

// shutdown stops accepting and waits for in-flight requests.
func (l *listener) shutdown(ctx context.Context) error {
	if l.fast != nil {
		err := l.fast.Shutdown(ctx)
		if err != nil {
			l.fast.Close()
		}
		return err
	}
	err := l.srv.Shutdown(ctx)
	if err != nil {
		l.srv.Close()
	}
	return err
}

// keeps reports whether the running listener can serve lc as it is: same
// address (as configured, or as bound when the config said port 0), same
// kind of socket.
func (l *listener) keeps(lc config.Listener) bool {
	sameAddr := l.cfg.Listen == lc.Listen || l.addr() == lc.Listen
	return sameAddr && (l.cfg.TLS == nil) == (lc.TLS == nil) && l.cfg.H2C == lc.H2C &&
		l.cfg.FastPathOn() == lc.FastPathOn() && l.cfg.EventLoopOn() == lc.EventLoopOn()
}

// holds reports whether the listener is bound to addr.
func (l *listener) holds(addr string) bool {
	if _, port, _ := net.SplitHostPort(addr); port == "0" {
		return false // any free port: never one already held
	}
	return l.cfg.Listen == addr || l.addr() == addr
}

// certReloader serves a certificate from files, re-reading them when their
// modification time changes (checked at most once a second), so a renewed
// certificate is used without a restart. A broken new pair keeps the old one.
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	modCert time.Time
	modKey  time.Time
	checked time.Time
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certReloader) load() error {
	ci, err := os.Stat(c.certFile)
	if err != nil {
		return fmt.Errorf("tls.cert_file: %w", err)
	}
	ki, err := os.Stat(c.keyFile)
	if err != nil {
		return fmt.Errorf("tls.key_file: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load certificate %s with key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert, c.modCert, c.modKey = &cert, ci.ModTime(), ki.ModTime()
	return nil
}

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= time.Second {
		c.checked = now
		ci, err1 := os.Stat(c.certFile)
		ki, err2 := os.Stat(c.keyFile)
		if err1 == nil && err2 == nil && (!ci.ModTime().Equal(c.modCert) || !ki.ModTime().Equal(c.modKey)) {
			old := c.cert
			if err := c.load(); err != nil {
				c.cert = old // keep serving the last good pair
			}
		}
	}
	return c.cert, nil
}
