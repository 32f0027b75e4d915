package pool_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"holdfast/internal/pgtest"
	"holdfast/internal/pool"
)

func backendPID(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	var pid int
	if err := conn.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatalf("pg_backend_pid: %v", err)
	}
	return pid
}

func poolStats(t *testing.T, h *harness) pool.PoolStats {
	t.Helper()
	for _, p := range h.srv.Stats().Pools {
		if p.Database == appDB && p.User == appUser {
			return p
		}
	}
	t.Fatalf("no pool %s/%s in Stats", appDB, appUser)
	return pool.PoolStats{}
}

// The pool-size knobs, each with its own pooler on one cluster: reserve
// pool, minimum, idle timeout, lifetime and connect timeout.
func TestPoolSizing(t *testing.T) {
	cluster := pgtest.Start(t)
	ctx := context.Background()
	direct := pgtest.Connect(t, cluster.DSN(cluster.Database()))

	t.Run("reserve pool opens past the size after the reserve timeout and closes again", func(t *testing.T) {
		h := startPooler(t, cluster, func(c *pool.Config) {
			c.DefaultPoolSize = 1
			c.ReservePoolSize = 1
			c.ReservePoolTimeout = 200 * time.Millisecond
			c.QueryWaitTimeout = 20 * time.Second
		})
		holder := h.connect(t, "default_query_exec_mode=simple_protocol")
		if _, err := holder.Exec(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		other := h.connect(t, "default_query_exec_mode=simple_protocol")
		start := time.Now()
		var n int
		if err := other.QueryRow(ctx, "SELECT 7").Scan(&n); err != nil || n != 7 {
			t.Fatalf("query while the only connection is held: %d, %v", n, err)
		}
		if waited := time.Since(start); waited < 200*time.Millisecond {
			t.Errorf("served after %v, before the reserve timeout", waited)
		}
		if got := poolStats(t, h).ReserveOpened; got != 1 {
			t.Errorf("ReserveOpened = %d, want 1", got)
		}
		// The reserve connection is closed at its release; PostgreSQL
		// notices the closed socket a moment later.
		eventually(t, 10*time.Second, "the reserve connection to close", func() bool { return serverConns(t, direct) == 1 })
		if _, err := holder.Exec(ctx, "COMMIT"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("min_pool_size keeps connections open once the pool is used", func(t *testing.T) {
		h := startPooler(t, cluster, func(c *pool.Config) {
			c.DefaultPoolSize = 5
			c.MinPoolSize = 3
		})
		conn := h.connect(t, "default_query_exec_mode=simple_protocol")
		if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "3 server connections", func() bool { return serverConns(t, direct) == 3 })
	})

	t.Run("server_idle_timeout closes idle connections", func(t *testing.T) {
		h := startPooler(t, cluster, func(c *pool.Config) {
			c.DefaultPoolSize = 2
			c.ServerIdleTimeout = 300 * time.Millisecond
		})
		conn := h.connect(t, "default_query_exec_mode=simple_protocol")
		if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "idle server connection to close", func() bool { return serverConns(t, direct) == 0 })
		if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatalf("query after the idle connection closed: %v", err)
		}
	})

	t.Run("server_lifetime replaces old connections", func(t *testing.T) {
		h := startPooler(t, cluster, func(c *pool.Config) {
			c.DefaultPoolSize = 1
			c.ServerLifetime = 300 * time.Millisecond
		})
		conn := h.connect(t, "default_query_exec_mode=simple_protocol")
		first := backendPID(t, conn)
		eventually(t, 10*time.Second, "a new server connection", func() bool { return backendPID(t, conn) != first })
	})

	t.Run("server_connect_timeout bounds a login to a server that never answers", func(t *testing.T) {
		mute, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mute.Close() })
		go func() {
			for {
				c, err := mute.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
			}
		}()
		h := startPooler(t, cluster, func(c *pool.Config) {
			d := c.Databases[appDB]
			d.Port = mute.Addr().(*net.TCPAddr).Port
			c.Databases[appDB] = d
			c.ServerConnectTimeout = 300 * time.Millisecond
		})
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		_, err = pgx.Connect(cctx, h.dsn(appUser, appPass, appDB, ""))
		if got := pgCode(err); got != "08006" {
			t.Fatalf("connect: %v (SQLSTATE %q), want 08006", err, got)
		}
		if got := h.srv.Stats().Errors["server_login_failed"]; got < 1 {
			t.Errorf("server_login_failed = %d, want >= 1", got)
		}
	})
}

// query_timeout and idle_transaction_timeout disconnect the client with
// PgBouncer's messages, and the server connection's work is undone.
func TestClientTimeouts(t *testing.T) {
	cluster := pgtest.Start(t)
	ctx := context.Background()
	direct := pgtest.Connect(t, cluster.DSN(cluster.Database()))
	if _, err := direct.Exec(ctx, "CREATE TABLE tx (v int)"); err != nil {
		t.Fatal(err)
	}
	h := startPooler(t, cluster, func(c *pool.Config) {
		c.DefaultPoolSize = 2
		c.QueryTimeout = 500 * time.Millisecond
		c.IdleTransactionTimeout = 500 * time.Millisecond
	})

	slow := h.connect(t, "default_query_exec_mode=simple_protocol")
	_, err := slow.Exec(ctx, "SELECT pg_sleep(20)")
	if got := pgCode(err); got != "57014" || !strings.Contains(err.Error(), "query_timeout") {
		t.Fatalf("slow query: %v (SQLSTATE %q), want 57014 query_timeout", err, got)
	}
	eventually(t, 10*time.Second, "the sleeping backend to go", func() bool {
		var n int
		_ = direct.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(20)'").Scan(&n)
		return n == 0
	})

	idle := h.connect(t, "default_query_exec_mode=simple_protocol")
	if _, err := idle.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := idle.Exec(ctx, "INSERT INTO tx VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the idle transaction to be ended", func() bool {
		return h.srv.Stats().Errors["idle_transaction_timeout"] == 1
	})
	if _, err := idle.Exec(ctx, "COMMIT"); err == nil {
		t.Fatal("COMMIT after the idle-transaction timeout succeeded")
	}
	var rows int
	if err := direct.QueryRow(ctx, "SELECT count(*) FROM tx").Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("rows after the timeout = %d, %v; want 0 (rolled back)", rows, err)
	}
	// A quick client is untouched by either timeout.
	quick := h.connect(t, "default_query_exec_mode=simple_protocol")
	for range 3 {
		if _, err := quick.Exec(ctx, "SELECT pg_sleep(0.1)"); err != nil {
			t.Fatalf("quick client: %v", err)
		}
	}
	if got := h.srv.Stats().Errors["query_timeout"]; got != 1 {
		t.Errorf("query_timeout errors = %d, want 1", got)
	}
}

// auth_query: a user who is not in the pooler's list logs in with the
// verifier PostgreSQL holds for it, and nothing else does.
func TestAuthQuery(t *testing.T) {
	cluster := pgtest.Start(t)
	ctx := context.Background()
	direct := pgtest.Connect(t, cluster.DSN(cluster.Database()))
	if _, err := direct.Exec(ctx, "SET password_encryption = 'scram-sha-256'; CREATE ROLE bob LOGIN PASSWORD 'bob-secret'; CREATE ROLE nopass LOGIN"); err != nil {
		t.Fatal(err)
	}
	h := startPooler(t, cluster, func(c *pool.Config) {
		c.Users = append(c.Users, pool.User{Name: cluster.User(), Password: cluster.Password()})
		c.AuthUser = cluster.User()
	})
	conn := pgtestConnect(t, h.dsn("bob", "bob-secret", appDB, "default_query_exec_mode=simple_protocol"))
	var n int
	if err := conn.QueryRow(ctx, "SELECT 41 + 1").Scan(&n); err != nil || n != 42 {
		t.Fatalf("query as bob: %d, %v", n, err)
	}
	for _, tt := range []struct{ user, password string }{{"bob", "wrong"}, {"nobody", "x"}, {"nopass", ""}} {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		c, err := pgx.Connect(cctx, h.dsn(tt.user, tt.password, appDB, ""))
		cancel()
		if err == nil {
			c.Close(ctx)
			t.Fatalf("login as %s/%q succeeded", tt.user, tt.password)
		}
		if got := pgCode(err); got != "28P01" {
			t.Errorf("login as %s: %v (SQLSTATE %q), want 28P01", tt.user, err, got)
		}
	}
	if got := h.srv.Stats().Errors["client_login_failed"]; got != 3 {
		t.Errorf("client_login_failed = %d, want 3", got)
	}
}
