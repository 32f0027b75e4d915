package pool_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"holdfast/internal/pgtest"
	"holdfast/internal/pool"
)

func (h *harness) admin(t *testing.T) *pgx.Conn {
	t.Helper()
	return pgtestConnect(t, h.dsn(adminUser, adminPass, "pgbouncer", "default_query_exec_mode=simple_protocol"))
}

// showRows runs a SHOW command and returns its columns and rows as text.
func showRows(t *testing.T, admin *pgx.Conn, cmd string) ([]string, [][]string) {
	t.Helper()
	rows, err := admin.Query(context.Background(), cmd, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	defer rows.Close()
	var cols []string
	for _, f := range rows.FieldDescriptions() {
		cols = append(cols, f.Name)
	}
	var out [][]string
	for rows.Next() {
		raw := rows.RawValues()
		row := make([]string, len(raw))
		for i, v := range raw {
			row[i] = string(v)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return cols, out
}

func TestShowConfigAndLists(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) {
		c.DefaultPoolSize = 7
		c.QueryTimeout = 1500 * time.Millisecond
	})
	app := h.connect(t, "default_query_exec_mode=simple_protocol")
	if _, err := app.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	admin := h.admin(t)
	cols, rows := showRows(t, admin, "SHOW CONFIG")
	if got, want := strings.Join(cols, ","), "key,value,default,changeable"; got != want {
		t.Errorf("SHOW CONFIG columns = %s, want %s", got, want)
	}
	conf := map[string][]string{}
	for _, r := range rows {
		conf[r[0]] = r[1:]
	}
	for key, want := range map[string]string{"default_pool_size": "7", "query_timeout": "1.5", "pool_mode": "transaction",
		"query_wait_timeout": "120", "admin_users": adminUser, "listen_addr": "127.0.0.1:0"} {
		if got := conf[key]; len(got) == 0 || got[0] != want {
			t.Errorf("SHOW CONFIG %s = %v, want value %q", key, got, want)
		}
	}
	if got := conf["listen_addr"]; len(got) < 3 || got[2] != "no" {
		t.Errorf("listen_addr changeable = %v, want no", got)
	}

	cols, rows = showRows(t, admin, "SHOW LISTS")
	if got, want := strings.Join(cols, ","), "list,items"; got != want {
		t.Errorf("SHOW LISTS columns = %s, want %s", got, want)
	}
	lists := map[string]string{}
	for _, r := range rows {
		lists[r[0]] = r[1]
	}
	for key, want := range map[string]string{"databases": "2", "users": "2", "pools": "1", "used_clients": "2", "used_servers": "1"} {
		if lists[key] != want {
			t.Errorf("SHOW LISTS %s = %q, want %q (all: %v)", key, lists[key], want, lists)
		}
	}
}

// PAUSE waits for the transaction in flight, then holds new requests
// until RESUME; clients stay connected throughout.
func TestPauseResume(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 2 })
	ctx := context.Background()
	direct := pgtest.Connect(t, cluster.DSN(cluster.Database()))
	inTx := h.connect(t, "default_query_exec_mode=simple_protocol")
	later := h.connect(t, "default_query_exec_mode=simple_protocol")
	if _, err := inTx.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	admin := h.admin(t)
	paused := make(chan error, 1)
	go func() { _, err := admin.Exec(ctx, "PAUSE", pgx.QueryExecModeSimpleProtocol); paused <- err }()
	eventually(t, 10*time.Second, "the pool to be paused", func() bool { return poolStats(t, h).Paused })
	select {
	case err := <-paused:
		t.Fatalf("PAUSE returned (%v) while a transaction was open", err)
	default:
	}
	if _, err := inTx.Exec(ctx, "COMMIT"); err != nil {
		t.Fatalf("COMMIT during PAUSE: %v", err)
	}
	if err := <-paused; err != nil {
		t.Fatalf("PAUSE: %v", err)
	}
	eventually(t, 10*time.Second, "PAUSE's closed server connections to go", func() bool { return serverConns(t, direct) == 0 })
	answered := make(chan error, 1)
	go func() { _, err := later.Exec(ctx, "SELECT 1"); answered <- err }()
	eventually(t, 10*time.Second, "the query to wait", func() bool { return poolStats(t, h).ClientsWaiting == 1 })
	admin2 := h.admin(t)
	if _, err := admin2.Exec(ctx, "RESUME", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	if err := <-answered; err != nil {
		t.Fatalf("query after RESUME: %v", err)
	}
}

func TestKillReconnectReload(t *testing.T) {
	cluster := pgtest.Start(t)
	var reloads atomic.Int64
	h := startPooler(t, cluster, func(c *pool.Config) {
		c.DefaultPoolSize = 2
		c.OnReload = func(context.Context) error {
			if reloads.Add(1) == 2 {
				return errors.New("pooler.default_pool_size: must be 1 or more")
			}
			return nil
		}
	})
	ctx := context.Background()
	admin := h.admin(t)
	exec := func(cmd string) error {
		_, err := admin.Exec(ctx, cmd, pgx.QueryExecModeSimpleProtocol)
		return err
	}

	// RECONNECT: the next query runs on a new server connection.
	conn := h.connect(t, "default_query_exec_mode=simple_protocol")
	before := backendPID(t, conn)
	if err := exec("RECONNECT " + appDB); err != nil {
		t.Fatal(err)
	}
	if after := backendPID(t, conn); after == before {
		t.Errorf("backend pid %d unchanged after RECONNECT", after)
	}

	// RELOAD runs the daemon's reload and reports its error.
	if err := exec("RELOAD"); err != nil || reloads.Load() != 1 {
		t.Fatalf("RELOAD: %v (reloads %d)", err, reloads.Load())
	}
	if err := exec("RELOAD"); err == nil || !strings.Contains(err.Error(), "default_pool_size") {
		t.Fatalf("failing RELOAD: %v, want the reload's error", err)
	}

	// KILL drops the database's clients; new requests wait for RESUME.
	if err := exec("KILL " + appDB); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("query on a killed client succeeded")
	}
	fresh := h.connect(t, "default_query_exec_mode=simple_protocol")
	answered := make(chan error, 1)
	go func() { _, err := fresh.Exec(ctx, "SELECT 1"); answered <- err }()
	eventually(t, 10*time.Second, "the query to wait", func() bool { return poolStats(t, h).ClientsWaiting == 1 })
	if err := exec("RESUME " + appDB); err != nil {
		t.Fatal(err)
	}
	if err := <-answered; err != nil {
		t.Fatalf("after RESUME: %v", err)
	}
	for _, bad := range []string{"KILL", "PAUSE nosuchdb", "RESUME a b"} {
		if err := exec(bad); err == nil {
			t.Errorf("%s: succeeded, want an error", bad)
		}
	}

	// SHUTDOWN stops the pooler.
	if err := exec("SHUTDOWN"); err == nil {
		// The server closes the connection without an answer.
		t.Log("SHUTDOWN answered before closing")
	}
	eventually(t, 10*time.Second, "the pooler to refuse connections", func() bool {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		c, err := pgx.Connect(cctx, h.dsn(appUser, appPass, appDB, ""))
		if err == nil {
			c.Close(ctx)
		}
		return err != nil
	})
}

// Update changes the pool size under running clients: waiters are served
// by the new connections and nobody is disconnected.
func TestUpdateResizesWithoutDroppingClients(t *testing.T) {
	cluster := pgtest.Start(t)
	var cfg pool.Config
	h := startPooler(t, cluster, func(c *pool.Config) {
		c.DefaultPoolSize = 1
		c.QueryWaitTimeout = 30 * time.Second
		cfg = *c
	})
	ctx := context.Background()
	holder := h.connect(t, "default_query_exec_mode=simple_protocol")
	if _, err := holder.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	waiter := h.connect(t, "default_query_exec_mode=simple_protocol")
	answered := make(chan error, 1)
	go func() { _, err := waiter.Exec(ctx, "SELECT 1"); answered <- err }()
	eventually(t, 10*time.Second, "the second client to wait", func() bool { return poolStats(t, h).ClientsWaiting == 1 })

	d := cfg.Databases[appDB]
	d.PoolSize = 3
	cfg.Databases = map[string]pool.Database{appDB: d}
	if err := h.srv.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if err := <-answered; err != nil {
		t.Fatalf("waiting client after the resize: %v", err)
	}
	if got := poolStats(t, h).PoolSize; got != 3 {
		t.Errorf("pool size = %d, want 3", got)
	}
	if _, err := holder.Exec(ctx, "COMMIT"); err != nil {
		t.Fatalf("holder after the resize: %v", err)
	}
	bad := cfg
	bad.DefaultPoolSize = -1
	if err := h.srv.Update(bad); err == nil {
		t.Fatal("Update with a negative pool size succeeded")
	}
}

func TestCollector(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, nil)
	conn := h.connect(t, "default_query_exec_mode=simple_protocol")
	for range 5 {
		if _, err := conn.Exec(context.Background(), "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(h.srv.Collector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch {
			case m.GetHistogram() != nil:
				got[f.GetName()] = float64(m.GetHistogram().GetSampleCount())
			case m.GetCounter() != nil:
				got[f.GetName()] += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[f.GetName()] += m.GetGauge().GetValue()
			}
		}
	}
	for name, min := range map[string]float64{
		"holdfast_pooler_client_wait_seconds":                 5,
		"holdfast_pooler_stats_sql_transactions_pooled_total": 5,
		"holdfast_pooler_stats_queries_pooled_total":          5,
		"holdfast_pooler_stats_received_bytes_total":          50,
		"holdfast_pooler_stats_sent_bytes_total":              50,
		"holdfast_pooler_pools_client_active_connections":     1,
		"holdfast_pooler_pools_server_idle_connections":       1,
		"holdfast_pooler_client_connections":                  1,
	} {
		if got[name] < min {
			t.Errorf("%s = %v, want >= %v", name, got[name], min)
		}
	}
	if _, ok := got["holdfast_pooler_errors_total"]; !ok {
		t.Error("holdfast_pooler_errors_total missing")
	}
}
