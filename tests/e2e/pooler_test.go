package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"holdfast/internal/pgtest"
)

var poolerRE = regexp.MustCompile(`holdfast: pooler on postgres://(\S+):(\d+)`)

func poolerConfig(dir, dataDir string, pgPort int, pgDB, pgUser string, poolSize int) string {
	return fmt.Sprintf(`data_dir: %s
admin:
  listen: 127.0.0.1:0
listeners:
  - name: public
    listen: 127.0.0.1:0
access_log:
  path: off
upstreams:
  - name: nowhere
    url: http://127.0.0.1:1
routes:
  - name: all
    targets:
      - upstream: nowhere
        weight: 1
pooler:
  listen: 127.0.0.1:0
  admin_users: [ops]
  users:
    - name: app
      password_file: %s
    - name: ops
      password_file: %s
  databases:
    app:
      port: %d
      dbname: %s
      user: %s
      password_file: %s
  default_pool_size: %d
  query_wait_timeout: 30s
`, dataDir, filepath.Join(dir, "app.pw"), filepath.Join(dir, "ops.pw"), pgPort, pgDB, pgUser, filepath.Join(dir, "server.pw"), poolSize)
}

// holdfast serve with a pooler section in front of a real PostgreSQL:
// psql and pgx through it, the admin console, a reload that changes the
// pool size while clients stay connected, /metrics and the metrics store.
func TestServePooler(t *testing.T) {
	pg := pgtest.Start(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	writeFile(t, filepath.Join(dir, "app.pw"), "app-secret\n")
	writeFile(t, filepath.Join(dir, "ops.pw"), "ops-secret\n")
	writeFile(t, filepath.Join(dir, "server.pw"), pg.Password()+"\n")
	cfgPath := filepath.Join(dir, "holdfast.yaml")
	writeFile(t, cfgPath, poolerConfig(dir, dataDir, pg.Port(), pg.Database(), pg.User(), 2))
	d := startDaemon(t, cfgPath, dataDir)
	m := d.waitLine(poolerRE, 10*time.Second)
	host, port := m[1], m[2]
	ctx := context.Background()

	psql := func(user, password, db, sql string) string {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, "psql", "-X", "-A", "-t", "-h", host, "-p", port, "-U", user, "-d", db, "-c", sql)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=20")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("psql %s: %v\n%s", sql, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := psql("app", "app-secret", "app", "SELECT 40 + 2"); got != "42" {
		t.Fatalf("psql through the pooler: %q, want 42", got)
	}
	poolSize := func() string {
		t.Helper()
		for _, line := range strings.Split(psql("ops", "ops-secret", "pgbouncer", "SHOW DATABASES"), "\n") {
			if f := strings.Split(line, "|"); f[0] == "app" {
				return f[5]
			}
		}
		t.Fatal("SHOW DATABASES has no row for app")
		return ""
	}
	if got := poolSize(); got != "2" {
		t.Fatalf("pool_size = %s, want 2", got)
	}

	dsn := fmt.Sprintf("host=%s port=%s user=app password=app-secret dbname=app sslmode=disable default_query_exec_mode=exec", host, port)
	direct := pgtest.Connect(t, pg.DSN(pg.Database()))
	serverConns := func() int {
		var n int
		if err := direct.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'holdfast'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Concurrent pgx clients, more than the pool, in the extended protocol.
	run := func(clients, rounds int) int {
		t.Helper()
		var wg sync.WaitGroup
		var failed atomic.Int64
		var maxSeen atomic.Int64
		for i := range clients {
			conn := pgtest.Connect(t, dsn)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					var got int
					if err := conn.QueryRow(ctx, "SELECT $1::int * 2 FROM pg_sleep(0.005)", i*rounds+r).Scan(&got); err != nil || got != 2*(i*rounds+r) {
						failed.Add(1)
					}
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		for {
			if n := int64(serverConns()); n > maxSeen.Load() {
				maxSeen.Store(n)
			}
			select {
			case <-done:
				if failed.Load() > 0 {
					t.Fatalf("%d queries failed", failed.Load())
				}
				return int(maxSeen.Load())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	if got := run(10, 20); got > 2 {
		t.Fatalf("server connections with pool size 2: %d", got)
	}

	// Reload with pool size 5 while a client sits in a transaction.
	held := pgtest.Connect(t, dsn)
	if _, err := held.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfgPath, poolerConfig(dir, dataDir, pg.Port(), pg.Database(), pg.User(), 5))
	if out, code := d.cli(t, "reload", "--reason", "bigger pool"); code != 0 {
		t.Fatalf("reload: %d %s", code, out)
	}
	if got := poolSize(); got != "5" {
		t.Fatalf("pool_size after reload = %s, want 5", got)
	}
	if _, err := held.Exec(ctx, "COMMIT"); err != nil {
		t.Fatalf("client in a transaction across the reload: %v", err)
	}
	if out, code := d.cli(t, "status"); code != 0 || !regexp.MustCompile(`"pool_size":\s*5`).MatchString(out) {
		t.Fatalf("holdfast status after the reload: %d\n%s", code, out)
	}
	if got := run(10, 20); got > 5 {
		t.Fatalf("server connections with pool size 5: %d", got)
	}

	// A reload that moves the pooler's listener needs a restart.
	moved := strings.Replace(poolerConfig(dir, dataDir, pg.Port(), pg.Database(), pg.User(), 5), "listen: 127.0.0.1:0\n  admin_users", "listen: 127.0.0.1:1\n  admin_users", 1)
	writeFile(t, cfgPath, moved)
	if out, code := d.cli(t, "reload"); code == 0 || !strings.Contains(out, "needs a restart") {
		t.Fatalf("reload moving the pooler: exit %d: %s", code, out)
	}

	// Prometheus exposition and the metrics store.
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", d.admin+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, re := range []string{
		`holdfast_pooler_pools_size\{database="app",user="app"\} 5`,
		`holdfast_pooler_client_wait_seconds_count\{database="app",user="app"\} [1-9]`,
		`holdfast_pooler_stats_sql_transactions_pooled_total\{database="app",user="app"\} [1-9]`,
	} {
		if !regexp.MustCompile(re).Match(body) {
			t.Errorf("/metrics lacks %s", re)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, code := d.cli(t, "metrics", "list", "--namespace", "holdfast/Pooler")
		if code == 0 && strings.Contains(out, "DatabaseConnections") && strings.Contains(out, "QueryRequests") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics list --namespace holdfast/Pooler: %d\n%s", code, out)
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
}

// The pooler's figures reach the metrics store and drive an alarm: a
// client waiting for the only server connection sets off an alarm on
// holdfast/Pooler ClientConnectionsWaiting, which clears when it is served.
func TestPoolerAlarm(t *testing.T) {
	pg := pgtest.Start(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	writeFile(t, filepath.Join(dir, "app.pw"), "app-secret\n")
	writeFile(t, filepath.Join(dir, "ops.pw"), "ops-secret\n")
	writeFile(t, filepath.Join(dir, "server.pw"), pg.Password()+"\n")
	cfgPath := filepath.Join(dir, "holdfast.yaml")
	writeFile(t, cfgPath, poolerConfig(dir, dataDir, pg.Port(), pg.Database(), pg.User(), 1)+`alarms:
  - name: app-clients-waiting
    metric: {namespace: holdfast/Pooler, name: ClientConnectionsWaiting, dimensions: {Database: app}, stat: Maximum}
    period: 1s
    evaluation_periods: 3
    datapoints_to_alarm: 1
    comparison_operator: GreaterThanThreshold
    threshold: 0
    treat_missing_data: notBreaching
`)
	d := startDaemon(t, cfgPath, dataDir)
	m := d.waitLine(poolerRE, 10*time.Second)
	dsn := fmt.Sprintf("host=%s port=%s user=app password=app-secret dbname=app sslmode=disable", m[1], m[2])
	ctx := context.Background()
	holder := pgtest.Connect(t, dsn)
	waiter := pgtest.Connect(t, dsn)
	if _, err := holder.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { _, err := waiter.Exec(ctx, "SELECT 1"); served <- err }()
	state := func() string {
		out, _ := d.cli(t, "alarms", "list")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "app-clients-waiting" {
				return f[1]
			}
		}
		return ""
	}
	waitState := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for state() != want {
			if time.Now().After(deadline) {
				out, _ := d.cli(t, "alarms", "describe", "app-clients-waiting")
				t.Fatalf("alarm not %s within 20s:\n%s", want, out)
			}
			time.Sleep(200 * time.Millisecond) // poll interval
		}
	}
	waitState("ALARM")
	if _, err := holder.Exec(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("waiting client: %v", err)
	}
	waitState("OK")
}
