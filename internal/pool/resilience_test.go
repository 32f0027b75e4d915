package pool_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"holdfast/internal/pgtest"
	"holdfast/internal/pool"
)

// When PostgreSQL terminates the pooler's server connections, clients in
// a transaction get an error and the pool recovers by itself.
func TestServerConnectionKilled(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 2 })
	ctx := context.Background()
	direct := pgtest.Connect(t, cluster.DSN(cluster.Database()))
	kill := func() {
		t.Helper()
		if _, err := direct.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", serverName); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "server connections to go", func() bool { return serverConns(t, direct) == 0 })
	}

	inTx := h.connect(t, "default_query_exec_mode=simple_protocol")
	idle := h.connect(t, "default_query_exec_mode=simple_protocol")
	if _, err := idle.Exec(ctx, "SELECT 1"); err != nil { // leaves an idle server conn
		t.Fatal(err)
	}
	if _, err := inTx.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	kill()
	if _, err := inTx.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("query on a killed server connection succeeded")
	}
	// The idle pooled connection died too; the next query must not see it.
	var n int
	if err := idle.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
		t.Fatalf("after kill, idle client: %v", err)
	}
	fresh := h.connect(t, "default_query_exec_mode=simple_protocol")
	if err := fresh.QueryRow(ctx, "SELECT 2").Scan(&n); err != nil || n != 2 {
		t.Fatalf("after kill, new client: %d, %v", n, err)
	}
}

// A burst of many more clients than server connections waits in the
// queue and is served, not refused.
func TestBurst(t *testing.T) {
	cluster := pgtest.Start(t)
	const clients, poolSize = 1000, 20
	h := startPooler(t, cluster, func(c *pool.Config) {
		c.DefaultPoolSize = poolSize
		c.MaxClientConn = clients + 10
		c.QueryWaitTimeout = 60 * time.Second
	})
	ctx := context.Background()
	errs := make(chan error, clients)
	for range clients {
		go func() {
			conn, err := pgx.Connect(ctx, h.dsn(appUser, appPass, appDB, "default_query_exec_mode=simple_protocol"))
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close(ctx)
			qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			_, err = conn.Exec(qctx, "SELECT pg_sleep(0.05)")
			errs <- err
		}()
	}
	direct := pgtest.Connect(t, cluster.DSN(cluster.Database()))
	for range clients {
		if err := <-errs; err != nil {
			t.Errorf("client: %v", err)
			admin := pgtestConnect(t, h.dsn(adminUser, adminPass, "pgbouncer", "default_query_exec_mode=simple_protocol"))
			for _, q := range []string{"SHOW POOLS", "SHOW SERVERS"} {
				rows, _ := admin.Query(ctx, q)
				for rows.Next() {
					v, _ := rows.Values()
					t.Logf("%s: %v", q, v)
				}
			}
		}
	}
	if got := serverConns(t, direct); got > poolSize {
		t.Errorf("server connections = %d, want <= %d", got, poolSize)
	}
}

func TestServerIdleTimeoutAndMinPool(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) {
		c.DefaultPoolSize = 4
		c.MinPoolSize = 1
		c.ServerIdleTimeout = 100 * time.Millisecond
	})
	ctx := context.Background()
	direct := pgtest.Connect(t, cluster.DSN(cluster.Database()))
	conns := make([]*pgx.Conn, 3)
	for i := range conns {
		conns[i] = h.connect(t, "default_query_exec_mode=simple_protocol")
	}
	// Three transactions open at once need three server connections.
	var txs []pgx.Tx
	for _, c := range conns {
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
	}
	if got := serverConns(t, direct); got != 3 {
		t.Fatalf("server connections = %d, want 3", got)
	}
	for _, tx := range txs {
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Idle ones close down to min_pool_size, and no further.
	eventually(t, 10*time.Second, "idle server connections to close down to 1", func() bool {
		return serverConns(t, direct) == 1
	})
}
