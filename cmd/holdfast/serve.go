package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"holdfast/internal/config"
	"holdfast/internal/daemon"
)

func newServeCmd() *cobra.Command {
	var cfgFile, logLevel string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the daemon: gateway, kill switch, admin API",
		Long: `Run the daemon with a YAML config. An invalid config exits with status 2 and
lists every problem as file:line: field: message. SIGHUP (or "holdfast reload")
reloads the config; an invalid new config leaves the running one untouched.
SIGUSR1 reopens the access log file (after an external logrotate moved it).
SIGINT/SIGTERM drain in-flight requests and stop.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfgFile == "" {
				return &exitError{2, errors.New("--config FILE is required")}
			}
			cfg, err := config.Load(cfgFile)
			if err != nil {
				var cerr *config.Errors
				if errors.As(err, &cerr) {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s has %d problem(s):\n%s\n", cfgFile, len(cerr.Problems), cerr.Error())
					return &exitError{2, errors.New("invalid config; nothing started")}
				}
				return &exitError{2, err}
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return &exitError{2, fmt.Errorf("--log-level: %w", err)}
			}
			logger := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			if os.Getenv("GOGC") == "" {
				// The daemon's live heap is a few MiB; collecting at 4x
				// instead of 2x its size buys ~15% proxy throughput
				// (docs/benchmarks.md). GOGC in the environment wins.
				debug.SetGCPercent(400)
			}
			return runDaemon(cmd.Context(), cfg, logger, cmd)
		},
	}
	cmd.Flags().StringVarP(&cfgFile, "config", "c", "", "config file (YAML)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func runDaemon(ctx context.Context, cfg *config.Config, logger *slog.Logger, cmd *cobra.Command) error {
	d := daemon.New(cfg, daemon.Options{Logger: logger, Out: cmd.OutOrStdout(), Version: version})
	if ctx == nil {
		ctx = context.Background()
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), "holdfast: ready")

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			if err := d.Reload(context.Background(), "SIGHUP", "signal"); err != nil {
				logger.Error("reload on SIGHUP rejected; running config unchanged", "err", err.Error())
			}
			continue
		}
		if sig == syscall.SIGUSR1 {
			if err := d.ReopenLogs(); err != nil {
				logger.Error("reopen access log on SIGUSR1 failed; still writing to the old file", "err", err.Error())
			}
			continue
		}
		logger.Info("shutting down: draining in-flight requests", "signal", sig.String())
		err := d.Shutdown(context.Background())
		fmt.Fprintln(cmd.OutOrStdout(), "holdfast: stopped")
		return err
	}
	return nil
}
