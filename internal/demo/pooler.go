package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"holdfast/examples/orders"
	"holdfast/internal/daemon"
	"holdfast/internal/pgcluster"
)

// The demo puts the orders service's postgres backend behind holdfast's
// pooler: the service connects to the daemon's pooler (transaction mode,
// a pool of 4 server connections), which connects to PostgreSQL.
// poolerDB is the database name the orders service connects to.
const poolerDB = "orders"

type pooled struct {
	dir      string
	pg       *pgcluster.Cluster
	addr     atomic.Value // the pooler's address once the daemon runs
	adminPW  string
	clientPW string
}

// openPooledBackend migrates the schema directly (migrations bypass the
// pooler, as they usually do), then returns a backend whose connections
// go to the pooler. The pool dials lazily, so it can be built before the
// daemon that runs the pooler has started.
//
// pgx keeps its default mode: a statement cache of named prepared
// statements, which the pooler tracks in transaction mode.
func (r *run) openPooledBackend(ctx context.Context, pg *pgcluster.Cluster, work string) (orders.Backend, func(), error) {
	_, release, err := orders.OpenBackend(ctx, "postgres", pg.DSN(pg.Database()))
	if err != nil {
		return nil, nil, err
	}
	release()
	p := &pooled{dir: work, pg: pg, adminPW: randomHex(), clientPW: randomHex()}
	for name, v := range map[string]string{"orders.pw": p.clientPW, "admin.pw": p.adminPW, "server.pw": pg.Password()} {
		if err := os.WriteFile(filepath.Join(work, name), []byte(v+"\n"), 0o600); err != nil {
			return nil, nil, err
		}
	}
	cfg, err := pgxpool.ParseConfig(fmt.Sprintf("postgres://orders:%s@127.0.0.1:1/%s?sslmode=disable&pool_max_conns=8",
		p.clientPW, poolerDB))
	if err != nil {
		return nil, nil, fmt.Errorf("pooled backend: %w", err)
	}
	var d net.Dialer
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, _ string) (net.Conn, error) {
		addr, _ := p.addr.Load().(string)
		if addr == "" {
			return nil, fmt.Errorf("the pooler is not running yet")
		}
		return d.DialContext(ctx, network, addr)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("pooled backend: %w", err)
	}
	r.pooler = p
	return orders.NewPostgres(pool, nil), pool.Close, nil
}

// poolerYAML is the daemon config's pooler section ("" without one).
func (r *run) poolerYAML() string {
	p := r.pooler
	if p == nil {
		return ""
	}
	return fmt.Sprintf(`pooler:
  listen: 127.0.0.1:0
  admin_users: [admin]
  users:
    - name: orders
      password_file: %s
    - name: admin
      password_file: %s
  databases:
    %s:
      port: %d
      dbname: %s
      user: %s
      password_file: %s
  pool_mode: transaction
  default_pool_size: 4
`, filepath.Join(p.dir, "orders.pw"), filepath.Join(p.dir, "admin.pw"), poolerDB, p.pg.Port(), p.pg.Database(), p.pg.User(), filepath.Join(p.dir, "server.pw"))
}

// poolerStarted points the backend at the daemon's pooler and, when the
// demo ends, prints what the pooler's admin console says.
func (r *run) poolerStarted(d *daemon.Daemon) {
	p := r.pooler
	if p == nil || d.PoolerAddr() == "" {
		return
	}
	p.addr.Store(d.PoolerAddr())
	r.say("started holdfast's pooler on %s: the orders service's queries (pgx, cached named prepared statements) go through it in transaction mode on 4 server connections", d.PoolerAddr())
	r.defer_(func() {
		if line, err := p.summary(); err == nil {
			r.say("")
			r.say("the pooler (psql -d pgbouncer -c 'SHOW STATS'): %s", line)
		}
	})
}

// summary reads SHOW STATS and SHOW POOLS on the admin console.
func (p *pooled) summary() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addr, _ := p.addr.Load().(string)
	host, port, _ := net.SplitHostPort(addr)
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=admin password=%s dbname=pgbouncer sslmode=disable default_query_exec_mode=simple_protocol", host, port, p.adminPW))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var xacts, queries, waitUs int64
	var db string
	rows, err := conn.Query(ctx, "SHOW STATS")
	if err != nil {
		return "", err
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return "", err
		}
		if db, _ = vals[0].(string); db == poolerDB {
			xacts, queries, waitUs = vals[1].(int64), vals[2].(int64), vals[7].(int64)
		}
	}
	rows.Close()
	var servers int64
	if err := conn.QueryRow(ctx, "SHOW POOLS").Scan(new(string), new(string), new(int64), new(int64), new(int64), new(int64),
		new(int64), new(int64), new(int64), &servers, new(int64), new(int64), new(int64), new(int64), new(int64), new(string)); err != nil {
		return "", err
	}
	return strings.TrimSpace(fmt.Sprintf("%d transactions, %d queries, %.1f ms total client wait, %d idle server connections now",
		xacts, queries, float64(waitUs)/1000, servers)), nil
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
