package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"holdfast/internal/config"
	"holdfast/internal/state"
)

// ErrNeedsRestart is returned by Reload when the new config changes something
// that only a restart can change.
var ErrNeedsRestart = errors.New("needs a restart")

// Reload re-reads the config file and applies it: the new config is loaded,
// validated and built into a new gateway (and any new listener is opened)
// before anything running changes. On any error the running config is
// untouched and the error says why. A successful reload is a ledger entry.
func (d *Daemon) Reload(ctx context.Context, actor, reason string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("daemon is shutting down")
	}
	old := d.cfg
	raw, err := os.ReadFile(old.File)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	next, err := config.Parse(old.File, raw)
	if err != nil {
		d.log.Warn("reload rejected", "file", old.File, "err", err)
		return err
	}
	if next.DataDir != old.DataDir || next.Admin != old.Admin {
		return fmt.Errorf("%s: data_dir and admin %w; the running config is unchanged", old.File, ErrNeedsRestart)
	}
	// http.Server reads these on every connection; they cannot change under
	// a running listener. max_body_bytes and shutdown_timeout can.
	if a, b := old.Limits, next.Limits; a.MaxHeaderBytes != b.MaxHeaderBytes || a.ReadHeaderTimeout != b.ReadHeaderTimeout || a.IdleTimeout != b.IdleTimeout {
		return fmt.Errorf("%s: limits.max_header_bytes, read_header_timeout and idle_timeout %w; the running config is unchanged", old.File, ErrNeedsRestart)
	}
	if next.AccessLog != old.AccessLog {
		return fmt.Errorf("%s: access_log %w (to start a new file without one, send SIGUSR1); the running config is unchanged", old.File, ErrNeedsRestart)
	}
	if err := d.flags.Configure(ctx, next); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	gw, err := d.buildGateway(next)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}

	// Open listeners that are new or changed before touching running ones.
	opened := map[string]*listener{}
	closeOpened := func() {
		for _, ln := range opened {
			ln.ln.Close()
		}
	}
	for _, lc := range next.Listeners {
		if cur, ok := d.listeners[lc.Name]; ok && cur.keeps(lc) {
			continue
		}
		if d.addrHeld(lc) {
			closeOpened()
			gw.Close()
			return fmt.Errorf("reload: listener %s moves to %s, which a running listener still holds; change it in two reloads", lc.Name, lc.Listen)
		}
		ln, err := d.openListener(lc, next.Limits)
		if err != nil {
			closeOpened()
			gw.Close()
			return fmt.Errorf("reload: %w", err)
		}
		opened[lc.Name] = ln
	}

	applyPooler, abortPooler, err := d.preparePooler(next)
	if err != nil {
		closeOpened()
		gw.Close()
		return fmt.Errorf("reload: %w", err)
	}
	if err := d.monitor.Update(time.Now(), next); err != nil {
		closeOpened()
		gw.Close()
		abortPooler()
		return fmt.Errorf("reload: %w", err)
	}

	// Everything is built: swap.
	prev := d.splits.Swap(d.handler, gw) // keeps rollout splits (rollout.go)
	gw.InheritState(prev)
	gw.Start(d.baseCtx)
	d.cfg = next
	applyPooler()
	for name, cur := range d.listeners {
		lc := findListener(next, name)
		if lc == nil || opened[name] != nil {
			go cur.shutdown(context.Background())
			delete(d.listeners, name)
			continue
		}
		// Same socket: a new certificate applies to new connections.
		cur.cfg = *lc
		if lc.TLS != nil && cur.cert != nil && (lc.TLS.CertFile != cur.cert.certFile || lc.TLS.KeyFile != cur.cert.keyFile) {
			if cr, err := newCertReloader(lc.TLS.CertFile, lc.TLS.KeyFile); err == nil {
				cur.cert.mu.Lock()
				cur.cert.certFile, cur.cert.keyFile, cur.cert.cert = cr.certFile, cr.keyFile, cr.cert
				cur.cert.modCert, cur.cert.modKey = cr.modCert, cr.modKey
				cur.cert.mu.Unlock()
			}
		}
	}
	for name, ln := range opened {
		d.listeners[name] = ln
		ln.serve(d.log)
		fmt.Fprintf(d.opts.Out, "holdfast: gateway listener %s on %s://%s\n", name, ln.scheme(), ln.addr())
	}
	prev.Close() // in-flight requests on the old gateway finish; Close only stops its checkers

	sum := sha256.Sum256(raw)
	detail, _ := json.Marshal(map[string]any{"sha256": hex.EncodeToString(sum[:]), "routes": len(next.Routes), "upstreams": len(next.Upstreams)})
	if _, err := d.store.RecordChange(ctx, state.Change{Kind: "config", Subject: next.File, Action: "reload",
		Actor: actor, Reason: reason, Detail: detail}); err != nil {
		d.log.Error("reload applied but not recorded in the ledger", "err", err)
	}
	d.log.Info("config reloaded", "file", next.File, "actor", actor)
	return nil
}

// addrHeld reports whether a running listener holds lc's address: moving a
// listener onto a socket that is still open cannot be done in one step.
func (d *Daemon) addrHeld(lc config.Listener) bool {
	for _, cur := range d.listeners {
		if cur.holds(lc.Listen) {
			return true
		}
	}
	return false
}

func findListener(c *config.Config, name string) *config.Listener {
	for i := range c.Listeners {
		if c.Listeners[i].Name == name {
			return &c.Listeners[i]
		}
	}
	return nil
}
