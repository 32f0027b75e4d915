// Command orders runs the orders sample service (package
// holdfast/examples/orders) on a mock or a PostgreSQL backend.
//
//	orders --listen 127.0.0.1:8081 --backend postgres --database-url postgres://...
//
// When it is ready it prints one line, which tests and scripts parse:
//
//	orders: listening on 127.0.0.1:8081 backend=postgres
//
// SIGINT or SIGTERM shut it down gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"holdfast/examples/orders"
)

// shutdownTimeout bounds the wait for in-flight requests on shutdown.
const shutdownTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "orders: %v\n", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("orders", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8081", "address to serve HTTP on; port 0 picks a free one")
	backend := fs.String("backend", orders.BackendMock, "backend: mock or postgres")
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL for --backend postgres (default $DATABASE_URL)")
	failRate := fs.Float64("fail-rate", 0, "fraction of requests, 0.0..1.0, answered with an injected 500")
	latency := fs.Duration("extra-latency", 0, "latency added to every request, e.g. 50ms")
	seed := fs.Uint64("seed", 1, "seed of the choice of failed requests")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; every setting is a flag (see -h)", fs.Args())
	}
	faults := orders.Faults{FailRate: *failRate, ExtraLatency: *latency}
	if err := faults.Validate(); err != nil {
		var verr *orders.ValidationError
		if errors.As(err, &verr) { // name the flag, not the JSON field
			return fmt.Errorf("--%s: %s", strings.ReplaceAll(verr.Field, "_", "-"), verr.Message)
		}
		return err
	}
	if *backend == orders.BackendPostgres && *dbURL == "" {
		return errors.New("--backend postgres: no database URL; give --database-url or set DATABASE_URL")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	b, release, err := orders.OpenBackend(ctx, *backend, *dbURL)
	if err != nil {
		return fmt.Errorf("--backend %s: %w", *backend, err)
	}
	defer release()
	h, err := orders.NewHandler(orders.Options{
		Backend: b, FailRate: faults.FailRate, ExtraLatency: faults.ExtraLatency, Seed: *seed, Logger: log,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", *listen, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "orders: listening on %s backend=%s\n", ln.Addr(), b.Name())

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("orders: stopped")
	return nil
}
