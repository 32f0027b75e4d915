// Package daemon wires a Config into running components: the state store,
// the flag service, the gateway and its listeners, telemetry and the admin
// API. Reload builds and validates the whole new configuration before it
// replaces the running one; an invalid one changes nothing.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"holdfast/internal/api"
	"holdfast/internal/config"
	"holdfast/internal/flags"
	"holdfast/internal/gateway"
	"holdfast/internal/metrics"
	"holdfast/internal/monitor"
	"holdfast/internal/state"
	"holdfast/internal/telemetry"
)

// Options are the daemon's non-config dependencies.
type Options struct {
	Logger  *slog.Logger
	Out     io.Writer // where startup lines go (addresses, token file)
	Version string
}

// Daemon is a running holdfast.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	started time.Time

	mu        sync.Mutex // serialises Start, Reload and Shutdown
	cfg       *config.Config
	store     *state.Store
	flags     *flags.Service
	tel       *telemetry.Telemetry
	metrics   *metrics.Store
	monitor   *monitor.Monitor
	handler   *gateway.Handler
	listeners map[string]*listener // by listener name
	accessLog *telemetry.AsyncWriter
	logFile   *telemetry.RotatingFile
	admin     *http.Server
	adminAddr string
	pooler    atomic.Pointer[poolerRunner] // nil without a pooler section (pooler.go)
	tokenFile string
	baseCtx   context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closed    bool

	// Rollouts (rollout.go).
	splits   *gateway.Splits
	rollouts *rollouts
}

// New returns a daemon for cfg; nothing runs until Start.
func New(cfg *config.Config, opts Options) *Daemon {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	return &Daemon{opts: opts, log: opts.Logger, cfg: cfg, listeners: map[string]*listener{}}
}

// Start opens the store, creates the token, syncs flags and starts the
// gateway listeners and the admin API.
func (d *Daemon) Start(ctx context.Context) (err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.started = time.Now()
	defer func() {
		if err != nil {
			d.shutdownLocked(context.Background())
		}
	}()
	cfg := d.cfg
	if d.store, err = state.Open(ctx, cfg.DataDir); err != nil {
		return err
	}
	d.tokenFile = cfg.Admin.TokenFile
	if d.tokenFile == "" {
		d.tokenFile = filepath.Join(cfg.DataDir, "admin.token")
	}
	token, created, err := api.EnsureToken(d.tokenFile)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(d.opts.Out, "holdfast: created admin token in %s (mode 0600)\n", d.tokenFile)
	} else {
		fmt.Fprintf(d.opts.Out, "holdfast: admin token in %s\n", d.tokenFile)
	}

	d.flags = flags.New(d.store, d.log)
	if err := d.flags.Configure(ctx, cfg); err != nil {
		return err
	}
	d.tel = telemetry.New()
	if err := d.openAccessLog(cfg); err != nil {
		return err
	}
	if d.accessLog != nil {
		d.tel.TrackAccessLog(d.accessLog)
	}
	if d.metrics, err = metrics.Open(filepath.Join(cfg.DataDir, "metrics"), metricsOptions(cfg.Metrics, d.log)); err != nil {
		return fmt.Errorf("metrics store: %w", err)
	}
	d.tel.AttachStore(d.metrics)
	d.monitor = monitor.New(d.metrics, d.store, d.log)
	if err := d.monitor.Update(time.Now(), cfg); err != nil {
		return err
	}
	d.tel.Registry().MustRegister(d.monitor.Collector(), telemetry.StoreCollector(d.metrics), poolerCollector{d})
	if err := d.flags.Watch(d.monitor.Manager()); err != nil {
		return err
	}
	d.monitor.Start()
	if err := d.startPooler(cfg); err != nil {
		return err
	}
	if err := d.openRollouts(ctx); err != nil {
		return err
	}
	gw, err := d.buildGateway(cfg)
	if err != nil {
		return err
	}
	d.handler = gateway.NewHandler(gw)

	runCtx, cancel := context.WithCancel(context.Background())
	d.baseCtx, d.cancel = runCtx, cancel
	gw.Start(runCtx)
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.flags.Run(runCtx, 250*time.Millisecond) }()
	if err := d.startRollouts(runCtx); err != nil {
		return err
	}

	for _, lc := range cfg.Listeners {
		ln, err := d.openListener(lc, cfg.Limits)
		if err != nil {
			return err
		}
		d.listeners[lc.Name] = ln
		ln.serve(d.log)
		fmt.Fprintf(d.opts.Out, "holdfast: gateway listener %s on %s://%s\n", lc.Name, ln.scheme(), ln.addr())
	}

	srv := &api.Server{
		Token:   token,
		Flags:   d.flags,
		Ledger:  d.store,
		Reload:  d.Reload,
		Status:  d.Status,
		Metrics: d.tel.Handler(),
		Store:   d.metrics,
		Alarms:  d.monitor,
		Logger:  d.log,

		Rollouts: d.rolloutAPI(),
	}
	srv.FlagStore = d.flags
	aln, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return fmt.Errorf("admin listener %s: %w", cfg.Admin.Listen, err)
	}
	d.adminAddr = aln.Addr().String()
	d.admin = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	go func() {
		if err := d.admin.Serve(aln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("admin API stopped", "err", err)
		}
	}()
	fmt.Fprintf(d.opts.Out, "holdfast: admin API on http://%s\n", d.adminAddr)
	return nil
}

func (d *Daemon) buildGateway(cfg *config.Config) (*gateway.Gateway, error) {
	var al io.Writer
	if d.accessLog != nil {
		al = d.accessLog
	}
	return gateway.New(cfg, gateway.Options{
		Flags:     d.flags,
		Recorder:  d.tel,
		AccessLog: al,
		Logger:    d.log,
		Splits:    d.splits,
	})
}

func (d *Daemon) openAccessLog(cfg *config.Config) error {
	var w io.Writer
	switch p := cfg.AccessLog.Path; p {
	case "off":
		return nil
	case "stdout":
		w = os.Stdout
	case "stderr":
		w = os.Stderr
	default:
		if p == "" {
			p = filepath.Join(cfg.DataDir, "access.log")
		}
		f, err := telemetry.OpenRotatingFile(p, int64(cfg.AccessLog.MaxSizeMB)<<20, cfg.AccessLog.MaxFiles)
		if err != nil {
			return fmt.Errorf("open access log: %w", err)
		}
		d.logFile = f
		w = f
	}
	d.accessLog = telemetry.NewAsyncWriter(w)
	return nil
}

// ReopenLogs closes and reopens the access log file, for an external log
// rotator that has moved it away (SIGUSR1 in holdfast serve). It does nothing
// when the access log is off or goes to stdout/stderr.
func (d *Daemon) ReopenLogs() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.logFile == nil {
		return nil
	}
	return d.logFile.Reopen()
}

func metricsOptions(c config.Metrics, log *slog.Logger) metrics.Options {
	o := metrics.Options{MaxSeries: c.MaxSeries, Logger: log}
	for _, t := range c.Tiers {
		o.Tiers = append(o.Tiers, metrics.Tier{Period: t.Period.D(), Retention: t.Retention.D()})
	}
	return o
}

// AdminAddr is the admin API's address once started.
func (d *Daemon) AdminAddr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.adminAddr
}

// ListenerAddrs maps listener names to their addresses.
func (d *Daemon) ListenerAddrs() map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]string{}
	for name, ln := range d.listeners {
		out[name] = ln.addr()
	}
	return out
}

// TokenFile is where the admin token is kept.
func (d *Daemon) TokenFile() string { return d.tokenFile }

// Config returns the running config.
func (d *Daemon) Config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// Status is the document GET /api/v1/status returns.
func (d *Daemon) Status() any {
	d.mu.Lock()
	cfg, h := d.cfg, d.handler
	ls := map[string]string{}
	for name, ln := range d.listeners {
		ls[name] = ln.scheme() + "://" + ln.addr()
	}
	d.mu.Unlock()
	var routes any
	if h != nil {
		routes = h.Current().Status()
	}
	return map[string]any{
		"version":     d.opts.Version,
		"started_at":  d.started.UTC(),
		"config_file": cfg.File,
		"data_dir":    cfg.DataDir,
		"admin":       d.adminAddr,
		"listeners":   ls,
		"routes":      routes,
		"flags":       d.flags.List(),
		"pooler":      d.poolerStatus(),
	}
}

// Shutdown stops accepting requests, drains in-flight ones (bounded by ctx
// and limits.shutdown_timeout), and closes everything. It is idempotent.
func (d *Daemon) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.shutdownLocked(ctx)
}

func (d *Daemon) shutdownLocked(ctx context.Context) error {
	if d.closed {
		return nil
	}
	d.closed = true
	timeout := d.cfg.Limits.ShutdownTimeout.D()
	if timeout <= 0 {
		timeout = config.DefaultShutdownTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	errs := make([]error, 0, len(d.listeners))
	var emu sync.Mutex
	var wg sync.WaitGroup
	for _, ln := range d.listeners {
		wg.Add(1)
		go func(ln *listener) {
			defer wg.Done()
			if err := ln.shutdown(ctx); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		}(ln)
	}
	wg.Wait()
	if d.admin != nil {
		d.admin.Shutdown(ctx)
	}
	if d.cancel != nil {
		d.cancel()
	}
	d.stopPooler()
	d.wg.Wait()
	d.closeRollouts()
	if d.handler != nil {
		d.handler.Current().Close()
	}
	if d.monitor != nil {
		d.monitor.Close()
	}
	if d.metrics != nil {
		if err := d.metrics.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if d.accessLog != nil {
		d.accessLog.Close()
	}
	if d.logFile != nil {
		d.logFile.Close()
	}
	if d.store != nil {
		d.store.Close()
	}
	return errors.Join(errs...)
}
