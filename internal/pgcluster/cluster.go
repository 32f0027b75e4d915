// Package pgcluster starts a throwaway PostgreSQL cluster from the machine's
// own server binaries: initdb into a fresh temp dir, postgres as a child
// process on a free 127.0.0.1 port, scram-sha-256 passwords, and
// pg_stat_statements loaded and created in every database. Tests use it
// through internal/pgtest; `holdfast demo` uses it directly.
//
// The cluster is tuned for speed, not durability (fsync, synchronous_commit
// and full_page_writes are off): never keep data in it.
//
// PostgreSQL refuses to run as root. When the current process is root, the
// server runs as the `postgres` account (created by the Debian/Ubuntu
// package), else as `holdfast-pg`, which is created with `useradd --system`
// if missing; the cluster dir is handed to that account.
//
// The server dies with its parent (a parent-death SIGKILL on Linux). Go
// delivers that signal when the OS thread that started the server exits,
// which the Go runtime does not do for ordinary goroutines; do not call Start
// from a goroutine that has locked its OS thread.
package pgcluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults for Options' zero values.
const (
	DefaultUser           = "holdfast"
	DefaultDatabase       = "holdfast"
	DefaultMaxConnections = 100
	DefaultStartTimeout   = 30 * time.Second
	DefaultStopTimeout    = 10 * time.Second
)

// maintenanceDB is the database admin statements connect to.
const maintenanceDB = "postgres"

// Options configure Start. The zero value is a working cluster.
type Options struct {
	// Binaries to run; the zero value means FindBinaries.
	Binaries Binaries
	// User is the superuser's name; default DefaultUser.
	User string
	// Password is the superuser's password; default a random one.
	Password string
	// Database is created at start; default DefaultDatabase.
	Database string
	// MaxConnections is the server's max_connections; default 100.
	MaxConnections int
	// Settings are extra postgresql.conf parameters, applied last. Values
	// are written quoted, as postgresql.conf accepts for every type.
	Settings map[string]string
	// StartTimeout bounds initdb plus the wait for the server to accept
	// connections; default 30s.
	StartTimeout time.Duration
	// StopTimeout is how long Stop waits for a fast shutdown before it
	// SIGKILLs the server; default 10s.
	StopTimeout time.Duration
	// BaseDir is the parent of the cluster's temp dir; default
	// os.TempDir(), falling back to /tmp when the server's account cannot
	// enter it.
	BaseDir string
	// RunAs names the account the server runs as when the current process
	// is root; default DefaultRunAs, then FallbackRunAs (created if needed).
	RunAs string
	// Logger receives lifecycle events; default discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.Password == "" {
		p, err := randomPassword()
		if err != nil {
			return o, err
		}
		o.Password = p
	}
	if o.Database == "" {
		o.Database = DefaultDatabase
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.MaxConnections < 1 {
		return o, fmt.Errorf("Options.MaxConnections: %d; give a positive number", o.MaxConnections)
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := validateSettings(o.Settings); err != nil {
		return o, fmt.Errorf("Options.%w", err)
	}
	switch {
	case o.Binaries == (Binaries{}):
		b, err := FindBinaries()
		if err != nil {
			return o, err
		}
		o.Binaries = b
	case o.Binaries.Initdb == "" || o.Binaries.Postgres == "":
		return o, errors.New("Options.Binaries: set both Initdb and Postgres, or neither to find them")
	}
	return o, nil
}

// Cluster is a running throwaway PostgreSQL server. Stop it when done.
type Cluster struct {
	opts    Options
	acct    *account
	dir     string
	dataDir string
	logPath string
	port    int
	server  *server
	log     *slog.Logger

	stopOnce sync.Once
	stopErr  error
}

// Start creates, starts and bootstraps a cluster: initdb, the server on a
// free port, pg_stat_statements in template1 and the maintenance database,
// and Options.Database. ctx bounds only the start; the server runs until
// Stop (or until this process dies). On error nothing is left behind.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()

	acct, err := serverAccount(ctx, opts.RunAs)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	dir, err := makeBaseDir(opts.BaseDir, acct)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	c := &Cluster{
		opts:    opts,
		acct:    acct,
		dir:     dir,
		dataDir: filepath.Join(dir, "data"),
		logPath: filepath.Join(dir, "postgres.log"),
		log:     opts.Logger,
	}
	if err := c.start(ctx); err != nil {
		if serr := c.Stop(); serr != nil {
			err = errors.Join(err, serr)
		}
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	c.log.Info("postgres started", logKeyDir, c.dir, logKeyPort, c.port, logKeyPID, c.server.pid(), logKeyUser, c.opts.User)
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	if err := c.initdb(ctx); err != nil {
		return err
	}
	if err := c.launch(ctx); err != nil {
		return err
	}
	return c.bootstrap(ctx)
}

// initdb creates the data dir with the superuser and its password.
func (c *Cluster) initdb(ctx context.Context) error {
	pwfile := filepath.Join(c.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.opts.Password+"\n"), 0o600); err != nil {
		return fmt.Errorf("write password file: %w", err)
	}
	defer os.Remove(pwfile)
	if err := chown(pwfile, c.acct); err != nil {
		return fmt.Errorf("chown password file: %w", err)
	}
	cmd := exec.CommandContext(ctx, c.opts.Binaries.Initdb,
		"-D", c.dataDir,
		"--auth=scram-sha-256",
		"--username="+c.opts.User,
		"--pwfile="+pwfile,
		"-E", "UTF8",
		"--locale=C",
		"--no-sync",
	)
	cmd.Dir = c.dir
	cmd.Env = serverEnv()
	cmd.SysProcAttr = sysProcAttr(c.acct)
	// On timeout, kill initdb's whole group: it runs postgres in bootstrap
	// mode as a child.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("initdb (%s) did not finish before the start deadline (%w, Options.StartTimeout %v); its output:\n%s",
			c.opts.Binaries.Initdb, ctx.Err(), c.opts.StartTimeout, tail(string(out), 20))
	}
	if err != nil {
		return fmt.Errorf("initdb (%s): %w\n%s", c.opts.Binaries.Initdb, err, tail(string(out), 20))
	}
	return nil
}

// bootstrap creates pg_stat_statements where every new database inherits
// it, then the requested database.
func (c *Cluster) bootstrap(ctx context.Context) error {
	for _, db := range []string{"template1", maintenanceDB} {
		if err := c.exec(ctx, db, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
			return fmt.Errorf("create pg_stat_statements in %s: %w", db, err)
		}
	}
	switch c.opts.Database {
	case maintenanceDB, "template1":
		return nil
	}
	return c.CreateDatabase(ctx, c.opts.Database)
}

// Stop shuts the server down (fast shutdown: SIGINT, then SIGKILL of its
// whole process group after Options.StopTimeout), waits until no process of
// it is left and removes the cluster dir. It is safe to call more than once;
// later calls return the first call's result.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		if c.server != nil {
			if err := c.server.stop(c.opts.StopTimeout); err != nil {
				errs = append(errs, err)
			}
		}
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", c.dir, err))
		}
		c.stopErr = errors.Join(errs...)
		if c.server != nil {
			c.log.Info("postgres stopped", logKeyDir, c.dir, logKeyPort, c.port, logKeyPID, c.server.pid())
		}
	})
	return c.stopErr
}

// Host is the address the server listens on.
func (c *Cluster) Host() string { return "127.0.0.1" }

// Port is the server's TCP port.
func (c *Cluster) Port() int { return c.port }

// User is the superuser's name.
func (c *Cluster) User() string { return c.opts.User }

// Password is the superuser's password.
func (c *Cluster) Password() string { return c.opts.Password }

// Database is the database created at start.
func (c *Cluster) Database() string { return c.opts.Database }

// Dir is the cluster's temp dir; the data dir is Dir()/data.
func (c *Cluster) Dir() string { return c.dir }

// LogPath is the server's log file.
func (c *Cluster) LogPath() string { return c.logPath }

// PID is the postmaster's process id (0 before it started).
func (c *Cluster) PID() int {
	if c.server == nil {
		return 0
	}
	return c.server.pid()
}

// serverEnv is our environment without PG* variables, which would
// otherwise leak into initdb and postgres.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

func randomPassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
