// Package demo is `holdfast demo`: on one machine with no setup it starts a
// throwaway PostgreSQL, the orders service twice (postgres and mock
// backends), the daemon with a generated config and a bounded traffic
// generator, then flips the kill switch off and on while traffic flows and
// prints which backend answered.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"holdfast/examples/orders"
	"holdfast/internal/api"
	"holdfast/internal/config"
	"holdfast/internal/daemon"
	"holdfast/internal/pgcluster"
)

// Options tune the demo.
type Options struct {
	Out   io.Writer
	Phase time.Duration // length of each traffic phase (default 3s)
	Keep  bool          // keep running after the script until Ctrl-C
	// Workers is the number of concurrent traffic workers (default 4).
	Workers int
}

// FlagName is the kill switch the demo flips.
const FlagName = "orders-real"

// Run runs the demo until it is done or ctx/Ctrl-C ends it, and stops
// everything it started.
func Run(ctx context.Context, o Options) error {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Phase <= 0 {
		o.Phase = 3 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &run{o: o, out: o.Out}
	defer r.cleanup()
	err := r.script(ctx)
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(r.out, "\ninterrupted; stopping everything")
		return nil
	}
	return err
}

type run struct {
	pooler   *pooled // pooler.go
	o        Options
	out      io.Writer
	cleanups []func()
}

func (r *run) defer_(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *run) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func (r *run) say(format string, args ...any) { fmt.Fprintf(r.out, format+"\n", args...) }

func (r *run) script(ctx context.Context) error {
	work, err := os.MkdirTemp("", "holdfast-demo-")
	if err != nil {
		return err
	}
	r.defer_(func() { os.RemoveAll(work) })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	r.say("holdfast demo: the kill switch in front of a service that just moved to PostgreSQL")
	r.say("")

	// 1. PostgreSQL and the real backend.
	var realBackend orders.Backend
	pg, err := pgcluster.Start(ctx, pgcluster.Options{Logger: quiet})
	switch {
	case errors.Is(err, pgcluster.ErrNoBinaries):
		r.say("! PostgreSQL is not installed, so the \"real\" service runs on the mock backend too.")
		r.say("  %v", err)
		realBackend = orders.NewMock(nil)
	case err != nil:
		return fmt.Errorf("start PostgreSQL: %w", err)
	default:
		r.defer_(func() { pg.Stop() })
		r.say("started PostgreSQL on 127.0.0.1:%d (data in %s)", pg.Port(), pg.Dir())
		b, release, err := r.openPooledBackend(ctx, pg, work)
		if err != nil {
			return fmt.Errorf("orders postgres backend: %w", err)
		}
		r.defer_(release)
		realBackend = b
	}
	realURL, realHandler, err := r.serveOrders(realBackend)
	if err != nil {
		return err
	}
	r.say("started orders service (%s backend) on %s", realBackend.Name(), realURL)
	mockURL, mockHandler, err := r.serveOrders(orders.NewMock(nil))
	if err != nil {
		return err
	}
	r.say("started orders service (mock backend)     on %s", mockURL)

	// 2. The daemon.
	cfgPath := filepath.Join(work, "holdfast.yaml")
	if err := os.WriteFile(cfgPath, []byte(demoConfig(filepath.Join(work, "data"), realURL, mockURL)+r.poolerYAML()), 0o600); err != nil {
		return err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	d := daemon.New(cfg, daemon.Options{Logger: quiet, Version: "demo"})
	if err := d.Start(ctx); err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	r.defer_(func() { d.Shutdown(context.Background()) })
	r.poolerStarted(d)
	gw := "http://" + d.ListenerAddrs()["public"]
	admin := "http://" + d.AdminAddr()
	r.say("started holdfast: gateway %s, admin API %s", gw, admin)
	r.say("  config %s, token %s", cfgPath, d.TokenFile())
	tok, err := os.ReadFile(d.TokenFile())
	if err != nil {
		return err
	}
	client := &api.Client{BaseURL: admin, Token: strings.TrimSpace(string(tok)), Actor: "holdfast-demo"}

	// 3. Traffic and the script.
	gen := newTraffic(gw, r.o.Workers)
	gen.start(ctx, 3*r.o.Phase+time.Minute)
	r.defer_(gen.stop)
	r.say("")
	r.say("sending traffic with %d workers; each phase runs %s", r.o.Workers, r.o.Phase)
	r.say("")

	const row = "  %-24s %9v %9v %9v %7v %9v\n"
	fmt.Fprintf(r.out, row, "phase", "requests", "postgres", "mock", "errors", "p99")
	phase := func(name string) error {
		gen.reset()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.o.Phase):
		}
		c := gen.reset()
		fmt.Fprintf(r.out, row, name, c.total, c.byBackend["postgres"], c.byBackend["mock"], c.errors, c.p99().Round(10*time.Microsecond))
		return nil
	}
	if err := phase("kill switch ON (real)"); err != nil {
		return err
	}
	if _, err := client.SetFlag(ctx, FlagName, false, "demo: database incident drill"); err != nil {
		return err
	}
	if err := phase("kill switch OFF (mock)"); err != nil {
		return err
	}
	if _, err := client.SetFlag(ctx, FlagName, true, "demo: incident over"); err != nil {
		return err
	}
	if err := phase("kill switch ON again"); err != nil {
		return err
	}

	// Faults on the real backend: the built-in error-rate alarm goes off.
	r.say("")
	r.say("injecting errors: 30%% of the real backend's answers become 500s")
	if err := realHandler.SetFaults(orders.Faults{FailRate: 0.3}); err != nil {
		return err
	}
	began := time.Now()
	if err := r.waitAlarm(ctx, client, alarmName, "ALARM", began); err != nil {
		return err
	}
	if err := phase("errors injected"); err != nil {
		return err
	}
	r.say("errors stopped")
	if err := realHandler.SetFaults(orders.Faults{}); err != nil {
		return err
	}
	if err := r.waitAlarm(ctx, client, alarmName, "OK", time.Now()); err != nil {
		return err
	}
	if err := r.flagDeploymentStep(ctx, client, gen, mockHandler); err != nil {
		return err
	}
	if err := r.rolloutBadVersion(ctx, client, gw); err != nil { // rollout.go
		return err
	}
	gen.stop()

	changes, err := client.Changes(ctx, "flag", FlagName, 10)
	if err != nil {
		return err
	}
	r.say("")
	r.say("the change ledger (holdfast changes):")
	for i := len(changes) - 1; i >= 0; i-- {
		c := changes[i]
		r.say("  #%d %s %s %s by %s: %s %s", c.ID, c.Time.Local().Format("15:04:05.000"), c.Subject, c.Action, c.Actor, c.Reason, api.CompactJSON(c.Detail))
	}
	if !r.o.Keep {
		r.say("")
		r.say("done; stopping everything (run with --keep to keep it running)")
		return nil
	}
	r.say("")
	r.say("still running; try, in another shell:")
	r.say("  holdfast --admin %s --token-file %s flags set %s off --reason test", admin, d.TokenFile(), FlagName)
	r.say("  curl -i %s/orders/1", gw)
	r.say("Ctrl-C stops everything.")
	<-ctx.Done()
	return ctx.Err()
}

// alarmName is the built-in error-rate alarm of the demo's route.
const alarmName = "orders-error-rate"

// waitAlarm polls the alarm until it reaches state, and says how long it took.
func (r *run) waitAlarm(ctx context.Context, c *api.Client, name, state string, since time.Time) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _, err := c.Alarm(ctx, name)
		if err != nil {
			return err
		}
		if string(st.State) == state {
			r.say("  alarm %s went to %s %s after that: %s", name, state, time.Since(since).Round(100*time.Millisecond), st.Reason)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("alarm %s still %s after 30s, want %s", name, st.State, state)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// serveOrders serves an orders handler on a loopback port.
func (r *run) serveOrders(b orders.Backend) (string, *orders.Handler, error) {
	h, err := orders.NewHandler(orders.Options{Backend: b, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	r.defer_(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String(), h, nil
}

func demoConfig(dataDir, realURL, mockURL string) string {
	return fmt.Sprintf(`data_dir: %s
admin:
  listen: 127.0.0.1:0
listeners:
  - name: public
    listen: 127.0.0.1:0
access_log:
  path: off
upstreams:
  - name: real
    url: %s
    timeout: 5s
    health_check:
      path: /healthz
      interval: 1s
  - name: mock
    url: %s
    timeout: 5s
flags:
  - name: %s
    description: "on: the PostgreSQL backend serves the orders API; off: the mock does"
routes:
  - name: orders
    targets:
      - upstream: real
        weight: 100
    kill_switch: %s
    fallback:
      upstream: mock
    rollout: {client_key: "header:X-Client-Id"}
# The seed's error-rate alarm on 1-second periods, so the demo is quick:
# 2 of the last 3 seconds above 2%%.
error_rate_alarm:
  period: 1s
  evaluation_periods: 3
  datapoints_to_alarm: 2
# Flag deployments to production roll back when that alarm fires.
flag_environments:
  - name: production
    monitors: [orders-error-rate]
`, dataDir, realURL, mockURL, FlagName, FlagName)
}
