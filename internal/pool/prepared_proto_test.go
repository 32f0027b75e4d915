package pool_test

import (
	"github.com/jackc/pgx/v5/pgproto3"

	"context"
	"testing"

	"holdfast/internal/pgtest"
	"holdfast/internal/pool"
)

func preparedCounts(t *testing.T, h *harness) pool.PreparedCounts {
	t.Helper()
	for _, c := range h.srv.PreparedStatements() {
		if c.Database == appDB && c.User == appUser {
			return c
		}
	}
	t.Fatal("no prepared-statement counters for app/alice")
	return pool.PreparedCounts{}
}

// With one server connection every client shares it: its statement cache
// and what PostgreSQL holds must agree through errors in pipelines.
func TestPreparedPipelines(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 1 })

	t.Run("prepare bind execute", func(t *testing.T) {
		p := h.proto(t)
		p.expect("parse params rowdesc/1 ready:I", parse("s1", "SELECT $1::int + 1"), describeS("s1"), syncMsg())
		p.expect("bind row:42 cmd:SELECT 1 ready:I", bind("s1", "41"), execute(), syncMsg())
		// Another client preparing the same text under another name gets
		// a synthesised ParseComplete: the server already has it.
		before := preparedCounts(t, h)
		q := h.proto(t)
		q.expect("parse bind row:8 cmd:SELECT 1 ready:I", parse("other", "SELECT $1::int + 1"), bind("other", "7"), execute(), syncMsg())
		after := preparedCounts(t, h)
		if after.ServerParses != before.ServerParses || after.Hits <= before.Hits {
			t.Fatalf("second client's Parse: server parses %d -> %d, hits %d -> %d; want no new server parse, a hit",
				before.ServerParses, after.ServerParses, before.Hits, after.Hits)
		}
		// Close forgets the client's name only.
		q.expect("close ready:I", closeS("other"), syncMsg())
		q.expect("err:26000 ready:I", bind("other", "1"), execute(), syncMsg())
		p.expect("bind row:3 cmd:SELECT 1 ready:I", bind("s1", "2"), execute(), syncMsg())
	})

	t.Run("error in the middle of a pipeline", func(t *testing.T) {
		p := h.proto(t)
		// good Parse, bad Parse, then messages PostgreSQL skips until Sync.
		p.expect("parse err:42601 ready:I",
			parse("good", "SELECT 1"), parse("bad", "SELEC 1"), parse("skipped", "SELECT 2"),
			bind("good"), execute(), closeS("good"), syncMsg())
		p.expect("bind row:1 cmd:SELECT 1 ready:I", bind("good"), execute(), syncMsg())
		p.expect("err:26000 ready:I", bind("bad"), execute(), syncMsg())
		p.expect("err:26000 ready:I", bind("skipped"), execute(), syncMsg())
		// The skipped Close did not close "good".
		p.expect("bind row:1 cmd:SELECT 1 ready:I", bind("good"), execute(), syncMsg())
	})

	t.Run("synthesised replies are dropped after an error", func(t *testing.T) {
		warm := h.proto(t)
		warm.expect("parse ready:I", parse("w", "SELECT 'cached'"), syncMsg())
		p := h.proto(t)
		// "SELECT 'cached'" is on the server: its Parse would be answered
		// by the pooler, but it comes after an error, so nothing is.
		p.expect("err:42601 ready:I", parse("x", "SELEC"), parse("c", "SELECT 'cached'"), syncMsg())
		p.expect("err:26000 ready:I", bind("c"), execute(), syncMsg())
		p.expect("parse bind row:cached cmd:SELECT 1 ready:I", parse("c", "SELECT 'cached'"), bind("c"), execute(), syncMsg())
	})

	t.Run("synthesised replies after Flush", func(t *testing.T) {
		warm := h.proto(t)
		warm.expect("parse ready:I", parse("f", "SELECT 'flushed'"), syncMsg())
		p := h.proto(t)
		// Nothing goes to the server for these: the pooler answers at once.
		p.send(parse("f1", "SELECT 'flushed'"), &pgproto3.Flush{})
		if got := p.read(1); got != "parse" {
			t.Fatalf("after Parse+Flush: %s", got)
		}
		p.send(bind("f1"), execute(), &pgproto3.Flush{})
		if got := p.read(3); got != "bind row:flushed cmd:SELECT 1" {
			t.Fatalf("after Bind+Execute+Flush: %s", got)
		}
		p.send(closeS("f1"), &pgproto3.Flush{})
		if got := p.read(1); got != "close" {
			t.Fatalf("after Close+Flush: %s", got)
		}
		p.expect("ready:I", syncMsg())
		p.expect("err:26000 ready:I", bind("f1"), execute(), syncMsg())
	})

	t.Run("execution error keeps statements", func(t *testing.T) {
		p := h.proto(t)
		p.expect("parse ready:I", parse("div", "SELECT 1 / $1::int"), syncMsg())
		// (the constant parameter is folded at Bind, so Bind fails)
		p.expect("err:22012 ready:I", bind("div", "0"), execute(), bind("div", "1"), execute(), syncMsg())
		p.expect("bind row:1 cmd:SELECT 1 ready:I", bind("div", "1"), execute(), syncMsg())
	})

	t.Run("duplicate and unknown names", func(t *testing.T) {
		p := h.proto(t)
		p.expect("parse ready:I", parse("d", "SELECT 1"), syncMsg())
		p.expect("err:42P05 ready:I", parse("d", "SELECT 2"), parse("later", "SELECT 3"), syncMsg())
		p.expect("err:26000 ready:I", bind("later"), execute(), syncMsg())
		p.expect("err:26000 ready:I", bind("nope"), execute(), syncMsg())
		p.expect("err:26000 ready:I", describeS("nope"), syncMsg())
		// Close of an unknown name is fine, as in PostgreSQL.
		p.expect("close ready:I", closeS("nope"), syncMsg())
		// "d" still means SELECT 1, and the connection is usable.
		p.expect("bind row:1 cmd:SELECT 1 ready:I", bind("d"), execute(), syncMsg())
		// Inside a transaction the error aborts it, as PostgreSQL's would.
		p.expect("cmd:BEGIN ready:T", query("BEGIN"))
		p.expect("err:42P05 ready:E", parse("d", "SELECT 2"), syncMsg())
		p.expect("err:25P02 ready:E", query("SELECT 1"))
		p.expect("cmd:ROLLBACK ready:I", query("ROLLBACK"))
		c := preparedCounts(t, h)
		if c.Errors < 5 {
			t.Fatalf("pooler errors = %d, want >= 5", c.Errors)
		}
	})

	t.Run("deallocate all and discard all", func(t *testing.T) {
		p := h.proto(t)
		p.expect("parse parse ready:I", parse("a1", "SELECT 'a1'"), parse("a2", "SELECT 'a2'"), syncMsg())
		p.expect("cmd:DEALLOCATE ALL ready:I", query("DEALLOCATE ALL"))
		p.expect("err:26000 ready:I", bind("a1"), execute(), syncMsg())
		// The names are free again and the statements are prepared anew.
		p.expect("parse bind row:a1 cmd:SELECT 1 ready:I", parse("a1", "SELECT 'a1'"), bind("a1"), execute(), syncMsg())
		p.expect("cmd:DISCARD ALL ready:I", query("DISCARD ALL"))
		p.expect("parse bind row:a1 cmd:SELECT 1 ready:I", parse("a1", "SELECT 'a1'"), bind("a1"), execute(), syncMsg())
		// Another client's statements, dropped from the server by this
		// DISCARD ALL, are prepared again when used.
		q := h.proto(t)
		q.expect("parse ready:I", parse("q", "SELECT 'q'"), syncMsg())
		p.expect("cmd:DISCARD ALL ready:I", query("DISCARD ALL"))
		q.expect("bind row:q cmd:SELECT 1 ready:I", bind("q"), execute(), syncMsg())
	})
}

// A small LRU evicts statements with Close and prepares them again when
// they are used; the server never holds more than the cache size.
func TestPreparedEviction(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) {
		c.DefaultPoolSize = 1
		c.PreparedStatementCacheSize = 2
	})
	p := h.proto(t)
	p.expect("parse parse parse ready:I",
		parse("e1", "SELECT 'e1'"), parse("e2", "SELECT 'e2'"), parse("e3", "SELECT 'e3'"), syncMsg())
	for range 3 {
		for _, n := range []string{"e1", "e2", "e3"} {
			p.expect("bind row:"+n+" cmd:SELECT 1 ready:I", bind(n), execute(), syncMsg())
		}
	}
	p.expect("rowdesc/1 row:2 cmd:SELECT 1 ready:I", query("SELECT count(*) FROM pg_prepared_statements"))
	c := preparedCounts(t, h)
	if c.Evictions < 9 {
		t.Fatalf("evictions = %d, want >= 9 (every Bind above needed one)", c.Evictions)
	}
	// x fails after its eviction Close ran (that statement is gone); y's
	// eviction Close is skipped by the error (that statement stays). The
	// cache must say exactly what the server has, so the Binds below
	// neither fail on a missing statement nor collide with one.
	p.expect("err:42601 ready:I", parse("x", "SELEC"), parse("y", "SELECT 'y'"), syncMsg())
	p.expect("rowdesc/1 row:1 cmd:SELECT 1 ready:I", query("SELECT count(*) FROM pg_prepared_statements"))
	for _, n := range []string{"e3", "e2", "e1", "e2"} {
		p.expect("bind row:"+n+" cmd:SELECT 1 ready:I", bind(n), execute(), syncMsg())
	}
	p.expect("err:26000 ready:I", bind("y"), execute(), syncMsg())
	p.expect("rowdesc/1 row:2 cmd:SELECT 1 ready:I", query("SELECT count(*) FROM pg_prepared_statements"))
}

// Clients move between server connections and their statements follow.
func TestPreparedAcrossServers(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 2 })
	a := h.proto(t)
	b := h.proto(t)
	a.expect("parse ready:I", parse("s", "SELECT pg_backend_pid() = $1::int"), syncMsg())
	// b holds the server connection a used (the most recently released)
	// in a transaction, so a's next request lands on the other one.
	b.expect("cmd:BEGIN ready:T", query("BEGIN"))
	before := preparedCounts(t, h)
	got := a.do(bind("s", "0"), execute(), syncMsg())
	if got != "bind row:f cmd:SELECT 1 ready:I" {
		t.Fatalf("Bind on another server connection: %s", got)
	}
	after := preparedCounts(t, h)
	if after.ServerParses != before.ServerParses+1 {
		t.Fatalf("server parses %d -> %d, want one injected Parse", before.ServerParses, after.ServerParses)
	}
	b.expect("cmd:COMMIT ready:I", query("COMMIT"))
	_ = context.Background()
}

// After ALTER TABLE changes what a prepared statement returns,
// PostgreSQL refuses the old plan (0A000). Outside a transaction the
// pooler prepares the statement again and retries; inside one the client
// gets the error and the statement is prepared again next time.
func TestPreparedSchemaChange(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 1 })
	p := h.proto(t)
	p.expect("cmd:CREATE TABLE ready:I", query("CREATE TABLE sc (a int)"))
	p.expect("cmd:INSERT 0 1 ready:I", query("INSERT INTO sc VALUES (1)"))
	p.expect("parse ready:I", parse("all", "SELECT * FROM sc"), syncMsg())
	p.expect("bind row:1 cmd:SELECT 1 ready:I", bind("all"), execute(), syncMsg())

	p.expect("cmd:ALTER TABLE ready:I", query("ALTER TABLE sc ADD COLUMN b text DEFAULT 'x'"))
	p.expect("bind row:1,x cmd:SELECT 1 ready:I", bind("all"), execute(), syncMsg())
	c := preparedCounts(t, h)
	if c.Reprepares != 1 || c.Retries != 1 {
		t.Fatalf("reprepares %d, retries %d; want 1, 1", c.Reprepares, c.Retries)
	}
	p.expect("bind row:1,x cmd:SELECT 1 ready:I", bind("all"), execute(), syncMsg())

	// node-postgres and Prisma send Parse with the first Bind: the pooler
	// answers it from the statement the server has, which the ALTER made
	// stale; the request is retried all the same.
	warm := h.proto(t)
	warm.expect("parse ready:I", parse("w", "SELECT a FROM sc"), syncMsg())
	p.expect("cmd:ALTER TABLE ready:I", query("ALTER TABLE sc ALTER COLUMN a TYPE bigint"))
	fresh := h.proto(t)
	fresh.expect("parse bind row:1 cmd:SELECT 1 ready:I", parse("n", "SELECT a FROM sc"), bind("n"), execute(), syncMsg())
	c = preparedCounts(t, h)
	if c.Reprepares != 2 || c.Retries != 2 {
		t.Fatalf("reprepares %d, retries %d; want 2, 2", c.Reprepares, c.Retries)
	}
	p.expect("close parse ready:I", closeS("all"), parse("all", "SELECT * FROM sc"), syncMsg())

	// Inside a transaction: the error, then the statement works again
	// after the transaction.
	p.expect("cmd:ALTER TABLE ready:I", query("ALTER TABLE sc ADD COLUMN c int DEFAULT 7"))
	p.expect("cmd:BEGIN ready:T", query("BEGIN"))
	p.expect("err:0A000 ready:E", bind("all"), execute(), syncMsg())
	p.expect("cmd:ROLLBACK ready:I", query("ROLLBACK"))
	p.expect("bind row:1,x,7 cmd:SELECT 1 ready:I", bind("all"), execute(), syncMsg())
	c = preparedCounts(t, h)
	if c.Reprepares < 3 || c.Retries != 2 {
		t.Fatalf("reprepares %d, retries %d; want >= 3, 2", c.Reprepares, c.Retries)
	}
	// SQL-level EXECUTE is retried the same way.
	p.expect("cmd:PREPARE ready:I", query("PREPARE sqlall AS SELECT * FROM sc"))
	p.expect("rowdesc/3 row:1,x,7 cmd:SELECT 1 ready:I", query("EXECUTE sqlall"))
	p.expect("cmd:ALTER TABLE ready:I", query("ALTER TABLE sc DROP COLUMN c"))
	p.expect("rowdesc/2 row:1,x cmd:SELECT 1 ready:I", query("EXECUTE sqlall"))
	p.expect("cmd:DEALLOCATE ready:I", query("DEALLOCATE sqlall"))
	if c = preparedCounts(t, h); c.Retries != 3 {
		t.Fatalf("retries %d, want 3", c.Retries)
	}
	// The stale statements were closed on the server: one statement per
	// content is left ("SELECT * FROM sc", "SELECT a FROM sc", and the
	// SQL-level one, which DEALLOCATE leaves cached for other clients).
	p.expect("rowdesc/1 row:3 cmd:SELECT 1 ready:I", query("SELECT count(*) FROM pg_prepared_statements"))
}

// SQL-level PREPARE/EXECUTE/DEALLOCATE work across server connections.
func TestPreparedSQLLevel(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 2 })
	a := h.proto(t)
	b := h.proto(t)
	a.expect("cmd:PREPARE ready:I", query("PREPARE Add1(int) AS SELECT $1 + 1"))
	a.expect("rowdesc/1 row:5 cmd:SELECT 1 ready:I", query("execute add1(4);"))
	// b holds the server connection a used; a's EXECUTE moves.
	b.expect("cmd:BEGIN ready:T", query("BEGIN"))
	a.expect("rowdesc/1 row:10 cmd:SELECT 1 ready:I", query("EXECUTE add1(9)"))
	// b may use the same name for something else.
	b.expect("cmd:PREPARE ready:T", query(`PREPARE add1 AS SELECT 'b'`))
	b.expect("rowdesc/1 row:b cmd:SELECT 1 ready:T", query("EXECUTE add1"))
	b.expect("cmd:COMMIT ready:I", query("COMMIT"))
	// Duplicate, unknown, deallocate.
	a.expect("err:42P05 ready:I", query("PREPARE add1 AS SELECT 2"))
	a.expect("err:26000 ready:I", query("EXECUTE nope"))
	a.expect("cmd:DEALLOCATE ready:I", query("DEALLOCATE PREPARE add1"))
	a.expect("err:26000 ready:I", query("EXECUTE add1(1)"))
	a.expect("err:26000 ready:I", query("DEALLOCATE add1"))
	// The pooler's own server names are not reachable from SQL.
	a.expect("err:26000 ready:I", query("EXECUTE hf_1"))
	a.expect("err:26000 ready:I", query("DEALLOCATE hf_1"))
	// A failed PREPARE registers nothing.
	a.expect("err:42P01 ready:I", query("PREPARE t AS SELECT * FROM no_such_table"))
	a.expect("err:26000 ready:I", query("EXECUTE t"))
	// A SQL-level statement can be bound with the extended protocol, on a
	// server connection that never saw it.
	a.expect("cmd:PREPARE ready:I", query(`PREPARE "Mixed" AS SELECT 'm'`))
	b.expect("cmd:BEGIN ready:T", query("BEGIN"))
	a.expect("bind row:m cmd:SELECT 1 ready:I", bind("Mixed"), execute(), syncMsg())
	b.expect("cmd:COMMIT ready:I", query("COMMIT"))
	// And a protocol-level one EXECUTEd from SQL.
	a.expect("parse ready:I", parse("proto", "SELECT 'p'"), syncMsg())
	b.expect("cmd:BEGIN ready:T", query("BEGIN"))
	a.expect("rowdesc/1 row:p cmd:SELECT 1 ready:I", query("EXECUTE proto"))
	b.expect("cmd:COMMIT ready:I", query("COMMIT"))
}

func describeP() *pgproto3.Describe { return &pgproto3.Describe{ObjectType: 'P'} }

// The message sequences of node-postgres ("name:" queries) and of Prisma
// with a statementNameGenerator (BEGIN and COMMIT as named statements too),
// with another client moving them between two server connections.
func TestPreparedDriverSequences(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 2 })
	setup := h.proto(t)
	setup.expect("cmd:CREATE TABLE ready:I", query("CREATE TABLE orders (id int, qty int)"))
	p := h.proto(t)
	other := h.proto(t)
	for i := range 4 {
		if i%2 == 1 {
			other.expect("cmd:BEGIN ready:T", query("BEGIN"))
		}
		// node-postgres: Parse+Bind+Describe(P)+Execute+Sync the first time,
		// then Bind+Describe(P)+Execute+Sync.
		if i == 0 {
			p.expect("parse bind rowdesc/1 row:3 cmd:SELECT 1 ready:I",
				parse("get-sum", "SELECT $1::int + $2::int"), bind("get-sum", "1", "2"), describeP(), execute(), syncMsg())
		} else {
			p.expect("bind rowdesc/1 row:3 cmd:SELECT 1 ready:I",
				bind("get-sum", "1", "2"), describeP(), execute(), syncMsg())
		}
		// Prisma: an interactive transaction of named statements.
		names := []string{"s_begin", "s_insert", "s_commit"}
		texts := []string{"BEGIN", "INSERT INTO orders VALUES ($1, $2)", "COMMIT"}
		wants := []string{"cmd:BEGIN ready:T", "cmd:INSERT 0 1 ready:T", "cmd:COMMIT ready:I"}
		for k, n := range names {
			var args []string
			if k == 1 {
				args = []string{"1", "2"}
			}
			if i == 0 {
				p.expect("parse params nodata ready:"+map[int]string{0: "I", 1: "T", 2: "T"}[k], parse(n, texts[k]), describeS(n), syncMsg())
			}
			p.expect("bind nodata "+wants[k], bind(n, args...), describeP(), execute(), syncMsg())
		}
		if i%2 == 1 {
			other.expect("cmd:COMMIT ready:I", query("COMMIT"))
		}
	}
	p.expect("rowdesc/1 row:4 cmd:SELECT 1 ready:I", query("SELECT count(*) FROM orders"))
}
