package pool_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"holdfast/internal/pgtest"
	"holdfast/internal/pool"
)

func TestTransactionModeMultiplexes(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 2 })
	direct := pgtest.Connect(t, cluster.DSN(cluster.Database()))
	if _, err := direct.Exec(context.Background(), "CREATE TABLE t (client int, i int)"); err != nil {
		t.Fatal(err)
	}

	const clients, rounds = 20, 10
	var maxSeen atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	// Sample the server's view while the clients run, and once more after
	// they finish (the pool keeps its server connections), so a fast run
	// still gets a sample.
	watcher := pgtest.Connect(t, cluster.DSN(cluster.Database()))
	sample := func() {
		if n := int64(serverConns(t, watcher)); n > maxSeen.Load() {
			maxSeen.Store(n)
		}
	}
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			sample()
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		// Half use the simple protocol, half the extended protocol with
		// unnamed statements (pgx "exec" mode).
		mode := "default_query_exec_mode=simple_protocol"
		if i%2 == 1 {
			mode = "default_query_exec_mode=exec"
		}
		conn := h.connect(t, mode)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for r := range rounds {
				err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, "INSERT INTO t VALUES ($1, $2)", i, r)
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				var got int
				if err := conn.QueryRow(ctx, "SELECT $1::int + 1", r).Scan(&got); err != nil || got != r+1 {
					errs <- errors.Join(err, errors.New("wrong answer"))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	sample()
	close(errs)
	for err := range errs {
		t.Errorf("client: %v", err)
	}
	var rows int
	if err := direct.QueryRow(context.Background(), "SELECT count(*) FROM t").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if got, want := rows, clients*rounds; got != want {
		t.Errorf("rows = %d, want %d", got, want)
	}
	if got := maxSeen.Load(); got > 2 || got < 1 {
		t.Errorf("server connections seen = %d, want 1..2", got)
	}
	if got := serverConns(t, direct); got > 2 {
		t.Errorf("server connections after = %d, want <= 2", got)
	}
}

func TestSessionModeKeepsSettings(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) {
		c.PoolMode = pool.ModeSession
		c.DefaultPoolSize = 2
	})
	ctx := context.Background()
	show := func(conn *pgx.Conn) string {
		var v string
		if err := conn.QueryRow(ctx, "SHOW statement_timeout").Scan(&v); err != nil {
			t.Fatalf("SHOW: %v", err)
		}
		return v
	}
	a := h.connect(t, "default_query_exec_mode=simple_protocol")
	b := h.connect(t, "default_query_exec_mode=exec")
	if _, err := a.Exec(ctx, "SET statement_timeout = '1234ms'"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exec(ctx, "SET statement_timeout = '5s'"); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if got, want := show(a), "1234ms"; got != want {
			t.Fatalf("a: statement_timeout = %q, want %q", got, want)
		}
		if got, want := show(b), "5s"; got != want {
			t.Fatalf("b: statement_timeout = %q, want %q", got, want)
		}
	}
	// After a leaves, its server connection is reset (DISCARD ALL) before
	// the next client gets it.
	a.Close(ctx)
	c := h.connect(t, "")
	if got, want := show(c), "0"; got != want {
		t.Fatalf("next client: statement_timeout = %q, want %q (reset not applied)", got, want)
	}
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestLoginErrors(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) {
		c.Databases["ghost"] = pool.Database{Host: cluster.Host(), Port: cluster.Port(),
			DBName: "no_such_db", User: cluster.User(), Password: cluster.Password()}
	})
	tests := []struct {
		name, user, password, db, wantCode string
	}{
		{"wrong password", appUser, "nope", appDB, "28P01"},
		{"unknown user", "mallory", "nope", appDB, "28P01"},
		{"unknown database", appUser, appPass, "nowhere", "3D000"},
		{"database missing on server", appUser, appPass, "ghost", "3D000"},
		{"not an admin", appUser, appPass, "pgbouncer", "42501"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, h.dsn(tt.user, tt.password, tt.db, ""))
			if err == nil {
				conn.Close(ctx)
				t.Fatal("connect succeeded, want error")
			}
			if got := pgCode(err); got != tt.wantCode {
				t.Fatalf("SQLSTATE = %q (%v), want %s", got, err, tt.wantCode)
			}
		})
	}
}

func TestWaitQueueTimeout(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) {
		c.DefaultPoolSize = 1
		c.QueryWaitTimeout = 300 * time.Millisecond
	})
	ctx := context.Background()
	holder := h.connect(t, "default_query_exec_mode=simple_protocol")
	tx, err := holder.Begin(ctx) // holds the only server connection
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	waiter := h.connect(t, "default_query_exec_mode=simple_protocol")
	qctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err = waiter.Exec(qctx, "SELECT 1")
	if err == nil {
		t.Fatal("query while pool exhausted succeeded, want query_wait_timeout")
	}
	if got := pgCode(err); got != "08P01" {
		t.Fatalf("error = %v (SQLSTATE %q), want 08P01 query_wait_timeout", err, got)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("error after %v; want about the 300ms timeout", el)
	}
	// The holder is unaffected and, once done, the pool serves again.
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	next := h.connect(t, "default_query_exec_mode=simple_protocol")
	if _, err := next.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestCancelRequest(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, nil)
	conn := h.connect(t, "default_query_exec_mode=simple_protocol")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := conn.Exec(ctx, "SELECT pg_sleep(30)")
	if err == nil {
		t.Fatal("pg_sleep(30) finished, want it cancelled")
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Fatalf("cancel took %v", el)
	}
	// pgx closes the connection after a cancelled query; the server side
	// must have been cancelled, not just abandoned: a new client works
	// and the backend is not still sleeping.
	direct := pgtest.Connect(t, cluster.DSN(cluster.Database()))
	eventually(t, 10*time.Second, "pg_sleep to stop", func() bool {
		var n int
		_ = direct.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'").Scan(&n)
		return n == 0
	})
}

func TestMD5AndVerifierLogins(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) {
		c.AuthType = pool.AuthMD5
		c.MaxClientConn = 2
	})
	ctx := context.Background()
	conn := h.connect(t, "default_query_exec_mode=simple_protocol") // md5
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	_ = h.connect(t, "")
	// A third client is over max_client_conn.
	_, err := pgx.Connect(ctx, h.dsn(appUser, appPass, appDB, ""))
	if got := pgCode(err); got != "53300" {
		t.Fatalf("third client: %v (SQLSTATE %q), want 53300", err, got)
	}
}
