package pgtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"holdfast/internal/pgcluster"
	"holdfast/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// One cluster serves the read-only checks; each is a subtest.
func TestCluster(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t)
	ctx := context.Background()
	conn := pgtest.Connect(t, c.DSN(c.Database()))

	t.Run("scram password stored and required", func(t *testing.T) {
		var verifier string
		err := conn.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = current_user").Scan(&verifier)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(verifier, "SCRAM-SHA-256$") {
			t.Errorf("superuser password stored as %.14q..., want a SCRAM-SHA-256 verifier", verifier)
		}
		rows, err := conn.Query(ctx, "SELECT DISTINCT auth_method FROM pg_hba_file_rules")
		if err != nil {
			t.Fatal(err)
		}
		methods, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fmt.Sprint(methods), "[scram-sha-256]"; got != want {
			t.Errorf("pg_hba auth methods = %s, want %s", got, want)
		}
	})

	t.Run("wrong password is refused with 28P01", func(t *testing.T) {
		assertAuthFails(t, c.DSNFor(c.User(), c.Password()+"x", c.Database()))
	})

	t.Run("pg_stat_statements is loaded", func(t *testing.T) {
		var preload string
		if err := conn.QueryRow(ctx, "SHOW shared_preload_libraries").Scan(&preload); err != nil {
			t.Fatal(err)
		}
		if got, want := preload, "pg_stat_statements"; got != want {
			t.Errorf("shared_preload_libraries = %q, want %q", got, want)
		}
		if _, err := conn.Exec(ctx, "SELECT 42 AS pgtest_marker"); err != nil {
			t.Fatal(err)
		}
		var n int
		err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%pgtest_marker%'").Scan(&n)
		if err != nil {
			t.Fatalf("query pg_stat_statements: %v", err)
		}
		if n == 0 {
			t.Error("pg_stat_statements did not record the marker query")
		}
	})

	t.Run("CreateRole makes a login role", func(t *testing.T) {
		if err := c.CreateRole(ctx, "app user", "p'w d"); err != nil {
			t.Fatal(err)
		}
		app := pgtest.Connect(t, c.DSNFor("app user", "p'w d", c.Database()))
		var user string
		var super bool
		if err := app.QueryRow(ctx, "SELECT current_user, usesuper FROM pg_user WHERE usename = current_user").Scan(&user, &super); err != nil {
			t.Fatal(err)
		}
		if got, want := fmt.Sprintf("%s %v", user, super), "app user false"; got != want {
			t.Errorf("current_user, superuser = %s, want %s", got, want)
		}
		assertAuthFails(t, c.DSNFor("app user", "wrong", c.Database()))
	})

	t.Run("psql connects with PGPASSWORD", func(t *testing.T) {
		psql, err := exec.LookPath("psql")
		if err != nil {
			t.Fatalf("psql not found (%v); install it with `apt-get install -y postgresql-client`", err)
		}
		run := func(password string) (string, error) {
			cmd := exec.Command(psql, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
				"-h", c.Host(), "-p", strconv.Itoa(c.Port()), "-U", c.User(), "-d", c.Database(),
				"-c", "SELECT current_user || '@' || current_database()")
			cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10")
			out, err := cmd.CombinedOutput()
			return strings.TrimSpace(string(out)), err
		}
		got, err := run(c.Password())
		if err != nil {
			t.Fatalf("psql: %v: %s", err, got)
		}
		if want := c.User() + "@" + c.Database(); got != want {
			t.Errorf("psql printed %q, want %q", got, want)
		}
		got, err = run("wrong")
		if err == nil || !strings.Contains(got, "password authentication failed") {
			t.Errorf("psql with a wrong password: err=%v output=%q, want password authentication failed", err, got)
		}
	})
}

func assertAuthFails(t *testing.T, dsn string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err == nil {
		conn.Close(context.Background())
		t.Fatal("connected with a wrong password")
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		t.Fatalf("connect error %v is not a server error", err)
	}
	if got, want := pgErr.Code, "28P01"; got != want {
		t.Errorf("SQLSTATE = %s (%s), want %s (invalid_password)", got, pgErr.Message, want)
	}
}

func TestStopRemovesDirAndProcess(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgcluster.Options{MaxConnections: 10})
	pid := c.PID()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat(%s) after Stop = %v, want not exist", c.Dir(), err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) && !isZombie(pid) {
		t.Errorf("postmaster %d still alive after Stop (kill 0: %v)", pid, err)
	}
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d not empty after Stop (kill 0: %v)", pid, err)
	}
	if _, err := pgx.Connect(context.Background(), c.DSN(c.Database())); err == nil {
		t.Error("connected after Stop")
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true // gone
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] == "Z"
}

func TestShared(t *testing.T) {
	t.Parallel()
	var names []string
	var cluster *pgcluster.Cluster
	for i := range 2 {
		t.Run(fmt.Sprint("db", i), func(t *testing.T) {
			db := pgtest.Shared(t)
			if cluster != nil && db.Cluster != cluster {
				t.Errorf("second Shared call started another cluster")
			}
			cluster = db.Cluster
			names = append(names, db.Name)
			conn := pgtest.Connect(t, db.DSN())
			var got string
			if err := conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != db.Name {
				t.Errorf("current_database() = %q, want %q", got, db.Name)
			}
			var n int
			if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_statements").Scan(&n); err != nil {
				t.Errorf("pg_stat_statements in a shared database: %v", err)
			}
		})
	}
	if len(names) != 2 || names[0] == names[1] {
		t.Fatalf("database names = %q, want two different ones", names)
	}
	// The subtests' cleanups dropped their databases.
	conn := pgtest.Connect(t, cluster.DSN("postgres"))
	var left int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = ANY($1)", names).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d of the databases %q survived their tests", left, names)
	}
}

// fakeTB records how a helper ends a test. Fatal* and Skip* end the calling
// goroutine, as the real ones do.
type fakeTB struct {
	testing.TB
	mu      sync.Mutex
	fatal   string
	skipped bool
}

func (f *fakeTB) Helper()        {}
func (f *fakeTB) Cleanup(func()) {}
func (f *fakeTB) Fatalf(s string, a ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(s, a...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Skipf(string, ...any) { f.skip() }
func (f *fakeTB) Skip(...any)          { f.skip() }
func (f *fakeTB) SkipNow()             { f.skip() }
func (f *fakeTB) skip() {
	f.mu.Lock()
	f.skipped = true
	f.mu.Unlock()
	runtime.Goexit()
}

func TestStartFailsWithoutBinaries(t *testing.T) {
	t.Setenv(pgcluster.EnvBinDir, filepath.Join(t.TempDir(), "no-postgres-here"))
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pgtest.Start(f)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("pgtest.Start did not return")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.skipped {
		t.Fatal("pgtest.Start skipped the test; it must fail it")
	}
	for _, want := range []string{"apt-get install -y postgresql", pgcluster.EnvBinDir} {
		if !strings.Contains(f.fatal, want) {
			t.Errorf("Fatalf message %q does not mention %q", f.fatal, want)
		}
	}
}
