package pool_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"holdfast/internal/pgtest"
	"holdfast/internal/pool"
)

// PostgreSQL restarts under traffic: SIGKILL of one of the pooler's
// backends makes the postmaster end every session and reinitialise (crash
// recovery, as after any backend crash). Clients in flight get errors;
// the pool opens new server connections by itself and every client,
// reconnecting where its connection was closed, is served again —
// named prepared statements included.
func TestPostgresRestartDuringTraffic(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) {
		c.DefaultPoolSize = 3
		c.QueryWaitTimeout = 20 * time.Second
	})
	ctx := context.Background()
	const clients = 6
	var (
		killed   atomic.Bool
		failures atomic.Int64
		wg       sync.WaitGroup
	)
	okAfter := make([]atomic.Int64, clients)
	deadline := time.Now().Add(60 * time.Second)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conn *pgx.Conn
			defer func() {
				if conn != nil {
					conn.Close(ctx)
				}
			}()
			// Bounded: stops after 20 good rounds past the restart, or at
			// the deadline.
			for okAfter[i].Load() < 20 && time.Now().Before(deadline) {
				if conn == nil || conn.IsClosed() {
					var err error
					cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					conn, err = pgx.Connect(cctx, h.dsn(appUser, appPass, appDB, "")) // default: named statements
					cancel()
					if err != nil {
						failures.Add(1)
						conn = nil
						continue
					}
				}
				qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				var got int
				err := conn.QueryRow(qctx, "SELECT $1::int * 3", i).Scan(&got)
				cancel()
				switch {
				case err != nil:
					failures.Add(1)
				case got != i*3:
					t.Errorf("client %d: got %d", i, got)
					return
				case killed.Load():
					okAfter[i].Add(1)
				}
			}
		}()
	}
	// Let traffic run, then kill one of the pooler's backends.
	eventually(t, 20*time.Second, "pooler server connections", func() bool {
		direct := pgtest.Connect(t, cluster.DSN(cluster.Database()))
		return serverConns(t, direct) > 0
	})
	direct := pgtest.Connect(t, cluster.DSN(cluster.Database()))
	var pid int
	if err := direct.QueryRow(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1 LIMIT 1", serverName).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	before := fmt.Sprint(cluster.PID())
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill backend %d: %v", pid, err)
	}
	killed.Store(true)
	wg.Wait()
	// Every session ended: the restart really happened.
	if _, err := direct.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("a session opened before the kill survived it: PostgreSQL did not restart")
	}
	for i := range clients {
		if n := okAfter[i].Load(); n < 20 {
			t.Errorf("client %d: %d good rounds after the restart, want 20 (failures overall: %d)", i, n, failures.Load())
		}
	}
	if got := fmt.Sprint(cluster.PID()); got != before {
		t.Fatalf("postmaster changed: %s -> %s", before, got)
	}
	t.Logf("failed attempts during the restart: %d", failures.Load())
}
