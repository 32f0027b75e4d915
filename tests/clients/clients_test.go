// Package clients_test runs real Node.js PostgreSQL clients — node-postgres
// and Prisma 7 with @prisma/adapter-pg — through holdfast's pooler and
// through Debian's PgBouncer, both in transaction mode with a pool of more
// than one server connection and concurrent load, and shows where each
// works and fails. The Node project beside this file pins exact versions;
// scripts/test.sh runs `npm ci` here and installs pgbouncer.
package clients_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"holdfast/internal/pgcluster"
	"holdfast/internal/pgtest"
	"holdfast/internal/pool"
)

const (
	clientUser = "app"
	clientPass = "app-secret"
	poolSize   = 4
)

// requireNode checks the Node toolchain and packages and generates the
// Prisma client (offline: no schema engine download, no telemetry).
func requireNode(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed; Node.js 20.19 or newer is needed (apt-get install -y nodejs npm)")
	}
	if _, err := os.Stat("node_modules/pg/package.json"); err != nil {
		t.Fatal("node packages are missing; run `npm ci` in tests/clients (scripts/test.sh does)")
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PRISMA_SCHEMA_ENGINE_BINARY="+truePath, "CHECKPOINT_DISABLE=1",
		"PRISMA_HIDE_UPDATE_MESSAGE=1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "node_modules/prisma/build/index.js", "generate")
	cmd.Env = append(env, "DATABASE_URL=postgres://unused@127.0.0.1:1/unused")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("prisma generate: %v\n%s", err, out)
	}
	return env
}

// database makes a database with the harness's tables.
func database(t *testing.T, cluster *pgcluster.Cluster, name string) {
	t.Helper()
	ctx := context.Background()
	if err := cluster.CreateDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	schema, err := os.ReadFile("schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	conn := pgtest.Connect(t, cluster.DSN(name))
	if _, err := conn.Exec(ctx, string(schema)); err != nil {
		t.Fatalf("schema: %v", err)
	}
}

func startHoldfast(t *testing.T, cluster *pgcluster.Cluster, dbname string) int {
	t.Helper()
	srv, err := pool.New(pool.Config{
		Listen:          "127.0.0.1:0",
		PoolMode:        pool.ModeTransaction,
		DefaultPoolSize: poolSize,
		MaxClientConn:   500,
		Databases: map[string]pool.Database{dbname: {Host: cluster.Host(), Port: cluster.Port(), DBName: dbname,
			User: cluster.User(), Password: cluster.Password()}},
		Users: []pool.User{{Name: clientUser, Password: clientPass}},
	}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Addr().(*net.TCPAddr).Port
}

// runNode runs one script and returns its last line and whether it passed.
func runNode(t *testing.T, env []string, url string, args ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Env = append(env, "DATABASE_URL="+url)
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	if ctx.Err() != nil {
		t.Fatalf("node %v timed out:\n%s", args, out)
	}
	if err != nil && !strings.HasPrefix(last, "FAIL") {
		t.Fatalf("node %v: %v\n%s", args, err, out)
	}
	return last, err == nil && strings.HasPrefix(last, "ok ")
}

// preparedFailure is how a transaction pooler without prepared-statement
// support breaks named statements.
var preparedFailure = regexp.MustCompile(`prepared statement "[^"]+" (does not exist|already exists)`)

func TestNodeClientsThroughPoolers(t *testing.T) {
	env := requireNode(t)
	cluster := pgtest.Start(t, pgcluster.Options{MaxConnections: 100})
	database(t, cluster, "hf")
	database(t, cluster, "pgb")
	targets := []struct {
		name string
		port int
		db   string
	}{
		{"holdfast", startHoldfast(t, cluster, "hf"), "hf"},
		{"pgbouncer-1.18", startPgBouncer(t, cluster.Host(), cluster.Port(), "pgb", cluster.User(), cluster.Password(), clientUser, clientPass, poolSize), "pgb"},
	}
	cases := []struct {
		script, mode string
		// failsOnPgBouncer: named prepared statements break in PgBouncer
		// 1.18's transaction mode (no max_prepared_statements before 1.21).
		failsOnPgBouncer bool
	}{
		{"pg.js", "simple", false},
		{"pg.js", "unnamed", false},
		{"pg.js", "copy", false},
		{"pg.js", "named", true},
		{"prisma.js", "unnamed", false},
		{"prisma.js", "named", true},
	}
	for _, tg := range targets {
		url := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", clientUser, clientPass, tg.port, tg.db)
		for _, tc := range cases {
			t.Run(tg.name+"/"+strings.TrimSuffix(tc.script, ".js")+"-"+tc.mode, func(t *testing.T) {
				line, ok := runNode(t, env, url, tc.script, tc.mode)
				wantFail := tg.name != "holdfast" && tc.failsOnPgBouncer
				t.Logf("%s: %s", tg.name, line)
				switch {
				case wantFail && ok:
					t.Fatalf("passed through %s, which has no prepared-statement support in transaction mode", tg.name)
				case wantFail && !preparedFailure.MatchString(line):
					t.Fatalf("failed through %s, but not with the prepared-statement error: %s", tg.name, line)
				case !wantFail && !ok:
					t.Fatalf("failed through %s: %s", tg.name, line)
				}
			})
		}
	}
}
