// Package pgtest gives tests a real PostgreSQL server, started from the
// machine's binaries by internal/pgcluster (scram-sha-256 auth,
// pg_stat_statements loaded, a free port on 127.0.0.1).
//
// Two ways to get one:
//
//   - Start(t) starts a cluster of the test's own and stops it in
//     t.Cleanup. Use it when the test changes server-wide state: roles,
//     settings, or stopping the server to see what breaks. About a second
//     each.
//
//   - Shared(t) gives the test a fresh database on one cluster shared by
//     the whole test binary, dropped in t.Cleanup. It is the fast path for
//     tests that only need a database of their own. The package must stop
//     the shared cluster after its tests, by declaring
//
//     func TestMain(m *testing.M) { pgtest.Main(m) }
//
//     Shared fails the test with that instruction when TestMain is missing.
//
// Missing server binaries fail the test with the install instruction
// (`apt-get install -y postgresql`); they never skip it, because a test
// skipped in CI is a test that does not exist.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"holdfast/internal/pgcluster"
)

// logLinesOnFailure is how much of the server log a failed test prints.
const logLinesOnFailure = 40

// Start starts a cluster for this test and stops it in tb.Cleanup (after
// printing the end of the server log if the test failed). opts, at most
// one, configure the cluster; the default is pgcluster's.
func Start(tb testing.TB, opts ...pgcluster.Options) *pgcluster.Cluster {
	tb.Helper()
	var o pgcluster.Options
	switch len(opts) {
	case 0:
	case 1:
		o = opts[0]
	default:
		tb.Fatalf("pgtest.Start: got %d Options, want at most 1", len(opts))
	}
	c, err := pgcluster.Start(context.Background(), o)
	if err != nil {
		tb.Fatalf("pgtest.Start: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			logServerTail(tb, c)
		}
		if err := c.Stop(); err != nil {
			tb.Errorf("pgtest: stop cluster: %v", err)
		}
	})
	return c
}

// Connect opens a pgx connection to dsn, closed in tb.Cleanup.
func Connect(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("pgtest.Connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Pool opens a pgxpool pool on dsn, closed in tb.Cleanup.
func Pool(tb testing.TB, dsn string) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("pgtest.Pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

func logServerTail(tb testing.TB, c *pgcluster.Cluster) {
	b, err := os.ReadFile(c.LogPath())
	if err != nil {
		tb.Logf("pgtest: cannot read server log: %v", err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > logLinesOnFailure {
		lines = lines[len(lines)-logLinesOnFailure:]
	}
	tb.Logf("pgtest: end of server log %s:\n%s", c.LogPath(), strings.Join(lines, "\n"))
}

// dbName turns a test name into a unique, valid database name.
func dbName(seq int64, testName string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "t%d_", seq)
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 63 { // NAMEDATALEN-1
			break
		}
	}
	return b.String()
}
