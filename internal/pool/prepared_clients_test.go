package pool_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"holdfast/internal/pgtest"
	"holdfast/internal/pool"
)

// pgx's default mode caches statements under names like stmtcache_<hash>
// and prepares each once per connection: through a transaction pooler
// with several server connections it only works when the pooler carries
// the statements across them.
func TestPreparedPgxStatementCache(t *testing.T) {
	cluster := pgtest.Start(t)
	const poolSize, clients, rounds = 3, 12, 25
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = poolSize })
	ctx := context.Background()
	direct := pgtest.Connect(t, cluster.DSN(cluster.Database()))
	if _, err := direct.Exec(ctx, "CREATE TABLE acct (id int PRIMARY KEY, owner text, balance int)"); err != nil {
		t.Fatal(err)
	}
	queries := []string{
		"SELECT balance FROM acct WHERE id = $1",
		"SELECT count(*) FROM acct WHERE owner = $1",
		"SELECT $1::int * 2",
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		conn := h.connect(t, "") // default: QueryExecModeCacheStatement
		if got := conn.Config().DefaultQueryExecMode; got != pgx.QueryExecModeCacheStatement {
			t.Fatalf("exec mode %v, want the default statement cache", got)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := func() error {
				owner := fmt.Sprintf("c%d", i)
				for r := range rounds {
					id := i*1000 + r
					err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
						_, err := tx.Exec(ctx, "INSERT INTO acct (id, owner, balance) VALUES ($1, $2, $3)", id, owner, r)
						return err
					})
					if err != nil {
						return fmt.Errorf("insert: %w", err)
					}
					var bal, n, twice int
					if err := conn.QueryRow(ctx, queries[0], id).Scan(&bal); err != nil || bal != r {
						return fmt.Errorf("balance = %d, %v; want %d", bal, err, r)
					}
					if err := conn.QueryRow(ctx, queries[1], owner).Scan(&n); err != nil || n != r+1 {
						return fmt.Errorf("count = %d, %v; want %d", n, err, r+1)
					}
					if err := conn.QueryRow(ctx, queries[2], r).Scan(&twice); err != nil || twice != 2*r {
						return fmt.Errorf("twice = %d, %v; want %d", twice, err, 2*r)
					}
				}
				return nil
			}()
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c := preparedCounts(t, h)
	// Four distinct statements, prepared at most once per server
	// connection (the cache is large enough that nothing is evicted).
	if c.ServerParses > 4*poolSize {
		t.Errorf("server parses = %d, want <= %d (each statement at most once per server connection)", c.ServerParses, 4*poolSize)
	}
	if c.ServerParses <= 4 {
		t.Errorf("server parses = %d: no statement was prepared on a second server connection, so no client moved", c.ServerParses)
	}
	if c.ClientParses < clients*4 {
		t.Errorf("client parses = %d, want >= %d", c.ClientParses, clients*4)
	}
	if c.Hits == 0 || c.Evictions != 0 || c.Errors != 0 {
		t.Errorf("counters %+v: want hits, no evictions, no errors", c)
	}
	if got := serverConns(t, direct); got > poolSize {
		t.Errorf("server connections = %d, want <= %d", got, poolSize)
	}
	// The admin console shows the same counters.
	admin := pgtestConnect(t, h.dsn(adminUser, adminPass, "pgbouncer", "default_query_exec_mode=simple_protocol"))
	rows, err := admin.Query(ctx, "SHOW PREPARED_STATEMENTS")
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, f := range rows.FieldDescriptions() {
		cols = append(cols, f.Name)
	}
	var found bool
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		if v[0] == appDB && v[1] == appUser {
			found = true
			if v[3].(int64) != c.ServerParses || v[2].(int64) != c.ClientParses {
				t.Errorf("SHOW PREPARED_STATEMENTS row %v, counters %+v", v, c)
			}
		}
	}
	if wantCols := "database,user,client_parses,server_parses,hits,evictions,reprepares,retries,errors,pins,replays"; strings.Join(cols, ",") != wantCols {
		t.Errorf("columns %v, want %s", cols, wantCols)
	}
	if !found {
		t.Error("SHOW PREPARED_STATEMENTS has no row for app/alice")
	}
}

func TestPreparedPgbench(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 3 })
	h.run(t, appPass, "pgbench", "-i", "-s", "1", "-U", appUser, appDB)
	// One thread per client: pgbench prepares with a blocking PQprepare
	// when a statement is first used, inside the transaction, so a thread
	// serving several clients can block on a client waiting for a server
	// connection while its other clients hold them all (it does the same
	// through PgBouncer).
	for _, args := range [][]string{
		{"-c", "8", "-j", "8", "-t", "60", "-M", "prepared"},
		{"-S", "-c", "8", "-j", "8", "-t", "200", "-M", "prepared"},
	} {
		args = append(args, "-U", appUser, appDB)
		out := h.run(t, appPass, "pgbench", args...)
		var want string
		if args[0] == "-S" {
			want = "number of transactions actually processed: 1600/1600"
		} else {
			want = "number of transactions actually processed: 480/480"
		}
		if !strings.Contains(out, want) || !strings.Contains(out, "number of failed transactions: 0") {
			t.Fatalf("pgbench %v:\n%s", args, out)
		}
	}
	c := preparedCounts(t, h)
	if c.ServerParses == 0 || c.Hits == 0 {
		t.Fatalf("counters %+v: pgbench -M prepared went around the statement tracking", c)
	}
}

// pgx batches (one pipeline of many Bind/Execute and a Sync) from many
// clients at once, with a server cache smaller than the statements in
// use: statements are evicted and prepared again all the time, in the
// middle of pipelines, and every answer must still be right.
func TestPreparedBatchesUnderEviction(t *testing.T) {
	cluster := pgtest.Start(t)
	const clients, rounds = 8, 15
	h := startPooler(t, cluster, func(c *pool.Config) {
		c.DefaultPoolSize = 2
		c.PreparedStatementCacheSize = 2
	})
	ctx := context.Background()
	queries := []string{"SELECT $1::int + 1", "SELECT $1::int * 2", "SELECT $1::int - 3", "SELECT $1::int / 4"}
	want := func(q, v int) int {
		return [](func(int) int){
			func(v int) int { return v + 1 }, func(v int) int { return v * 2 },
			func(v int) int { return v - 3 }, func(v int) int { return v / 4 },
		}[q](v)
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		conn := h.connect(t, "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				b := &pgx.Batch{}
				type ask struct{ q, v int }
				var asks []ask
				for k := range 10 {
					a := ask{(i + r + k) % len(queries), i*1000 + r*10 + k}
					asks = append(asks, a)
					b.Queue(queries[a.q], a.v)
				}
				br := conn.SendBatch(ctx, b)
				for _, a := range asks {
					var got int
					if err := br.QueryRow().Scan(&got); err != nil || got != want(a.q, a.v) {
						errs <- fmt.Errorf("client %d round %d: %s with %d = %d, %v; want %d", i, r, queries[a.q], a.v, got, err, want(a.q, a.v))
						_ = br.Close()
						return
					}
				}
				if err := br.Close(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c := preparedCounts(t, h); c.Evictions == 0 || c.Errors != 0 {
		t.Fatalf("counters %+v: want evictions and no pooler errors", c)
	}
}
