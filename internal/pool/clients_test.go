package pool_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"holdfast/internal/pgtest"
	"holdfast/internal/pool"
)

// run runs a PostgreSQL client binary against the pooler with the
// password in PGPASSWORD.
func (h *harness) run(t *testing.T, password string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGHOST="+h.host, "PGPORT="+strconv.Itoa(h.port),
		"PGCONNECT_TIMEOUT=20")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func TestPsql(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, nil)
	// psql's default sslmode=prefer sends SSLRequest first; the pooler
	// answers 'N' and psql continues in plaintext.
	out := h.run(t, appPass, "psql", "-X", "-A", "-t", "-U", appUser, "-d", appDB, "-c", "SELECT 40 + 2")
	if got := strings.TrimSpace(out); got != "42" {
		t.Fatalf("psql output %q, want 42", got)
	}
	out = h.run(t, adminPass, "psql", "-X", "-U", adminUser, "-d", "pgbouncer", "-c", "SHOW POOLS")
	for _, want := range []string{"cl_active", "sv_idle", "maxwait_us", "pool_mode", "app", "alice", "transaction"} {
		if !strings.Contains(out, want) {
			t.Errorf("SHOW POOLS output lacks %q:\n%s", want, out)
		}
	}
	for _, cmd := range []string{"SHOW STATS", "SHOW CLIENTS", "SHOW SERVERS", "SHOW DATABASES"} {
		out := h.run(t, adminPass, "psql", "-X", "-U", adminUser, "-d", "holdfast", "-c", cmd)
		if !strings.Contains(out, "row") {
			t.Errorf("%s output:\n%s", cmd, out)
		}
	}
}

func TestAdminConsolePgx(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 3 })
	app := h.connect(t, "default_query_exec_mode=simple_protocol")
	if _, err := app.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	admin := pgtestConnect(t, h.dsn(adminUser, adminPass, "pgbouncer", "default_query_exec_mode=simple_protocol"))
	rows, err := admin.Query(context.Background(), "SHOW POOLS")
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, f := range rows.FieldDescriptions() {
		cols = append(cols, f.Name)
	}
	var found bool
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		if vals[0] == appDB && vals[1] == appUser {
			found = true
			if got := vals[9].(int64); got != 1 { // sv_idle
				t.Errorf("sv_idle = %d, want 1", got)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	wantCols := "database,user,cl_active,cl_waiting,cl_active_cancel_req,cl_waiting_cancel_req,sv_active,sv_active_cancel,sv_being_canceled,sv_idle,sv_used,sv_tested,sv_login,maxwait,maxwait_us,pool_mode"
	if got := strings.Join(cols, ","); got != wantCols {
		t.Errorf("columns = %s\nwant %s", got, wantCols)
	}
	if !found {
		t.Error("no pool row for app/alice")
	}
	if _, err := admin.Exec(context.Background(), "SHOW NONSENSE"); pgCode(err) != "42601" {
		t.Errorf("SHOW NONSENSE: %v, want 42601", err)
	}
	var n int64
	if err := admin.QueryRow(context.Background(), "SHOW STATS").Scan(new(string), &n, new(int64), new(int64), new(int64),
		new(int64), new(int64), new(int64), new(int64), new(int64), new(int64), new(int64), new(int64), new(int64), new(int64)); err != nil {
		t.Fatal(err)
	}
	if n < 1 {
		t.Errorf("total_xact_count = %d, want >= 1", n)
	}
}

func TestPgbench(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 4 })
	h.run(t, appPass, "pgbench", "-i", "-s", "1", "-U", appUser, appDB)
	out := h.run(t, appPass, "pgbench", "-c", "8", "-j", "2", "-t", "50", "-M", "simple", "-U", appUser, appDB)
	if !strings.Contains(out, "number of transactions actually processed: 400/400") {
		t.Fatalf("pgbench simple:\n%s", out)
	}
	out = h.run(t, appPass, "pgbench", "-c", "8", "-j", "2", "-t", "50", "-M", "extended", "-U", appUser, appDB)
	if !strings.Contains(out, "number of transactions actually processed: 400/400") {
		t.Fatalf("pgbench extended:\n%s", out)
	}
}
