package pool_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"holdfast/internal/pgtest"
	"holdfast/internal/pool"
)

func show(t *testing.T, conn *pgx.Conn, name string) string {
	t.Helper()
	var v string
	if err := conn.QueryRow(context.Background(), "SHOW "+name).Scan(&v); err != nil {
		t.Fatalf("SHOW %s: %v", name, err)
	}
	return v
}

func mustExec(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// What a client SETs follows it to every server connection it lands on,
// and never reaches another client.
func TestSessionSettingsFollowTheClient(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 2 })
	ctx := context.Background()
	a := h.connect(t, "default_query_exec_mode=simple_protocol")
	b := h.connect(t, "default_query_exec_mode=exec") // extended protocol, unnamed statements
	d := h.connect(t, "")                             // pgx's default: named, cached statements
	other := h.connect(t, "default_query_exec_mode=simple_protocol")

	mustExec(t, a, "SET statement_timeout = '12345ms'")
	mustExec(t, b, "SET work_mem TO '7MB'")
	mustExec(t, d, "SET enable_seqscan = off")
	for i := range 6 {
		// other holds one server connection in a transaction half the
		// time, so a and b move between the two.
		var tx pgx.Tx
		if i%2 == 0 {
			var err error
			if tx, err = other.Begin(ctx); err != nil {
				t.Fatal(err)
			}
			if got := show(t, other, "statement_timeout"); got != "0" {
				t.Fatalf("round %d: another client sees statement_timeout %q, want 0", i, got)
			}
			if got := show(t, other, "work_mem"); got != "4MB" {
				t.Fatalf("round %d: another client sees work_mem %q, want 4MB", i, got)
			}
			if got := show(t, other, "enable_seqscan"); got != "on" {
				t.Fatalf("round %d: another client sees enable_seqscan %q, want on", i, got)
			}
		}
		if got := show(t, a, "statement_timeout"); got != "12345ms" {
			t.Fatalf("round %d: statement_timeout = %q, want 12345ms", i, got)
		}
		if got := show(t, b, "work_mem"); got != "7MB" {
			t.Fatalf("round %d: work_mem = %q, want 7MB", i, got)
		}
		if got := show(t, d, "enable_seqscan"); got != "off" {
			t.Fatalf("round %d: enable_seqscan = %q, want off", i, got)
		}
		if tx != nil {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := preparedCounts(t, h)
	if c.Replays == 0 {
		t.Fatalf("counters %+v: no settings were replayed", c)
	}
	mustExec(t, a, "RESET statement_timeout")
	for range 3 {
		if got := show(t, a, "statement_timeout"); got != "0" {
			t.Fatalf("after RESET: statement_timeout = %q, want 0", got)
		}
	}
	// A failed SET changes nothing.
	if _, err := a.Exec(ctx, "SET statement_timeout = 'soon'"); pgCode(err) != "22023" {
		t.Fatalf("bad SET: %v, want 22023", err)
	}
	if got := show(t, a, "statement_timeout"); got != "0" {
		t.Fatalf("after a failed SET: statement_timeout = %q, want 0", got)
	}
	// A SET inside a transaction block is not replayed, and does not
	// leak: the server connection is reset before its next client.
	tx, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, a, "SET lock_timeout = '3s'")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if got := show(t, other, "lock_timeout"); got != "0" {
			t.Fatalf("another client sees lock_timeout %q, want 0", got)
		}
	}
}

// The state-leak test: a client SETs, creates a temp table,
// takes a session advisory lock and disconnects mid-transaction; the
// next client on that server connection sees none of it.
func TestSessionStateDoesNotLeak(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 1 })
	ctx := context.Background()
	a := h.connect(t, "default_query_exec_mode=simple_protocol")
	for _, q := range []string{
		"SET work_mem = '9MB'",
		"CREATE TEMP TABLE tmp_a (x int)",
		"SELECT pg_advisory_lock(77)",
		"BEGIN",
		"INSERT INTO tmp_a VALUES (1)",
	} {
		mustExec(t, a, q)
	}
	a.Close(ctx) // Terminate mid-transaction

	b := h.connect(t, "")
	if got := show(t, b, "work_mem"); got != "4MB" {
		t.Errorf("work_mem = %q, want the default 4MB", got)
	}
	var n int
	if err := b.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname = 'tmp_a'").Scan(&n); err != nil || n != 0 {
		t.Errorf("temp tables named tmp_a: %d, %v; want 0", n, err)
	}
	eventually(t, 10*time.Second, "the advisory lock to be free", func() bool {
		var ok bool
		err := b.QueryRow(ctx, "SELECT pg_try_advisory_lock(77)").Scan(&ok)
		if ok {
			mustExec(t, b, "SELECT pg_advisory_unlock(77)")
		}
		return err == nil && ok
	})
}

// LISTEN, temp tables and session advisory locks pin the client to its
// server connection until it leaves; the connection is then reset.
func TestSessionPinning(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 2 })
	ctx := context.Background()
	a := h.connect(t, "default_query_exec_mode=simple_protocol")
	b := h.connect(t, "")
	mustExec(t, a, "CREATE TEMP TABLE pinned (x int)")
	mustExec(t, a, "SELECT pg_advisory_lock(5)")
	mustExec(t, a, "LISTEN news")
	// a keeps its server connection; b still runs on the other one.
	for i := range 5 {
		mustExec(t, a, "INSERT INTO pinned VALUES (1)")
		var n int
		if err := b.QueryRow(ctx, "SELECT $1::int", i).Scan(&n); err != nil || n != i {
			t.Fatalf("b: %d, %v", n, err)
		}
	}
	// Notifications reach the pinned listener.
	mustExec(t, b, "NOTIFY news, 'hello'")
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	note, err := a.WaitForNotification(wctx)
	if err != nil || note.Channel != "news" || note.Payload != "hello" {
		t.Fatalf("notification %+v, %v", note, err)
	}
	if c := preparedCounts(t, h); c.Pins != 1 {
		t.Fatalf("pins = %d, want 1", c.Pins)
	}
	a.Close(ctx)
	// Its connection was reset: the temp table and the lock are gone. The
	// pooler resets after the client has gone, so b may look first.
	eventually(t, 10*time.Second, "the temp table to be dropped", func() bool {
		var n int
		err := b.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname = 'pinned'").Scan(&n)
		return err == nil && n == 0
	})
	var ok bool
	if err := b.QueryRow(ctx, "SELECT pg_try_advisory_lock(5)").Scan(&ok); err != nil || !ok {
		t.Fatalf("advisory lock 5 still held: %v, %v", ok, err)
	}
}

// Notices and ParameterStatus pass through wherever they come.
func TestAsyncMessages(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 2 })
	ctx := context.Background()
	var mu sync.Mutex
	var notices []string
	cfg, err := pgx.ParseConfig(h.dsn(appUser, appPass, appDB, ""))
	if err != nil {
		t.Fatal(err)
	}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		notices = append(notices, n.Message)
		mu.Unlock()
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	mustExec(t, conn, "DO $$ BEGIN RAISE NOTICE 'first'; RAISE NOTICE 'second'; END $$")
	mu.Lock()
	got := strings.Join(notices, ",")
	mu.Unlock()
	if got != "first,second" {
		t.Fatalf("notices %q, want first,second", got)
	}
	mustExec(t, conn, "SET application_name = 'async-test'")
	if got := conn.PgConn().ParameterStatus("application_name"); got != "async-test" {
		t.Fatalf("ParameterStatus application_name = %q", got)
	}
}

// COPY FROM STDIN and COPY TO STDOUT through the pooler, from several
// clients at once.
func TestCopyThroughPooler(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 2 })
	ctx := context.Background()
	setup := h.connect(t, "")
	mustExec(t, setup, "CREATE TABLE cp (client int, i int, s text)")
	const clients, rows = 4, 2000
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		conn := h.connect(t, "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := make([][]any, rows)
			for i := range src {
				src[i] = []any{c, i, strings.Repeat("x", i%50)}
			}
			n, err := conn.CopyFrom(ctx, pgx.Identifier{"cp"}, []string{"client", "i", "s"}, pgx.CopyFromRows(src))
			if err == nil && n != rows {
				t.Errorf("client %d copied %d rows", c, n)
			}
			if err != nil {
				errs <- err
				return
			}
			var buf bytes.Buffer
			tag, err := conn.PgConn().CopyTo(ctx, &buf, "COPY (SELECT i, s FROM cp WHERE client = "+string(rune('0'+c))+" ORDER BY i) TO STDOUT")
			if err != nil {
				errs <- err
				return
			}
			if tag.RowsAffected() != rows || strings.Count(buf.String(), "\n") != rows {
				t.Errorf("client %d: COPY TO gave %d rows, %d lines", c, tag.RowsAffected(), strings.Count(buf.String(), "\n"))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// A COPY that fails midway leaves the connection usable.
	conn := h.connect(t, "")
	_, err := conn.CopyFrom(ctx, pgx.Identifier{"cp"}, []string{"client", "i"}, pgx.CopyFromRows([][]any{{1, "not a number"}}))
	if err == nil {
		t.Fatal("COPY of a bad row succeeded")
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM cp").Scan(&n); err != nil || n != clients*rows {
		t.Fatalf("rows = %d, %v; want %d", n, err, clients*rows)
	}
}

// Startup parameters are the client's base settings: applied wherever it
// lands, what RESET returns to, and reported back as its own.
func TestStartupParameters(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 2 })
	ctx := context.Background()
	setup := h.connect(t, "")
	mustExec(t, setup, "CREATE SCHEMA app_s")
	a := h.connect(t, `application_name=myapp search_path='app_s, public' options='-c statement_timeout=4321'`)
	other := h.connect(t, "default_query_exec_mode=simple_protocol")
	if got := a.PgConn().ParameterStatus("application_name"); got != "myapp" {
		t.Fatalf("ParameterStatus application_name = %q, want myapp", got)
	}
	for i := range 4 {
		var tx pgx.Tx
		if i%2 == 0 {
			var err error
			if tx, err = other.Begin(ctx); err != nil {
				t.Fatal(err)
			}
			if got := show(t, other, "statement_timeout"); got != "0" {
				t.Fatalf("another client sees statement_timeout %q", got)
			}
		}
		if got := show(t, a, "search_path"); got != "app_s, public" {
			t.Fatalf("round %d: search_path = %q", i, got)
		}
		if got := show(t, a, "statement_timeout"); got != "4321ms" {
			t.Fatalf("round %d: statement_timeout = %q", i, got)
		}
		if got := show(t, a, "application_name"); got != "myapp" {
			t.Fatalf("round %d: application_name = %q", i, got)
		}
		if tx != nil {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustExec(t, a, "SET statement_timeout = '9s'")
	if got := show(t, a, "statement_timeout"); got != "9s" {
		t.Fatalf("after SET: %q", got)
	}
	mustExec(t, a, "RESET statement_timeout")
	if got := show(t, a, "statement_timeout"); got != "4321ms" {
		t.Fatalf("after RESET: statement_timeout = %q, want the startup value 4321ms", got)
	}
}
