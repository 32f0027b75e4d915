package pool_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"holdfast/internal/pgcluster"
	"holdfast/internal/pool"
)

const (
	appUser    = "alice"
	appPass    = "alice-secret"
	adminUser  = "admin"
	adminPass  = "admin-secret"
	appDB      = "app"
	serverName = "holdfast" // application_name of pooler server connections
)

type harness struct {
	cluster *pgcluster.Cluster
	srv     *pool.Server
	host    string
	port    int
}

// startPooler starts a pooler in front of cluster with database "app"
// (the cluster's database, logged in as its superuser) and users alice
// and admin; tweak adjusts the config.
func startPooler(t *testing.T, cluster *pgcluster.Cluster, tweak func(*pool.Config)) *harness {
	t.Helper()
	cfg := pool.Config{
		Listen: "127.0.0.1:0",
		Databases: map[string]pool.Database{appDB: {
			Host: cluster.Host(), Port: cluster.Port(), DBName: cluster.Database(),
			User: cluster.User(), Password: cluster.Password(),
		}},
		Users:      []pool.User{{Name: appUser, Password: appPass}, {Name: adminUser, Password: adminPass}},
		AdminUsers: []string{adminUser},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := pool.New(cfg, log)
	if err != nil {
		t.Fatalf("pool.New: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	host, port, _ := net.SplitHostPort(srv.Addr().String())
	p, _ := strconv.Atoi(port)
	return &harness{cluster: cluster, srv: srv, host: host, port: p}
}

func (h *harness) dsn(user, password, db string, extra string) string {
	return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable %s",
		h.host, h.port, user, password, db, extra)
}

func (h *harness) connect(t *testing.T, extra string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, h.dsn(appUser, appPass, appDB, extra))
	if err != nil {
		t.Fatalf("connect through pooler: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// serverConns counts the pooler's connections as PostgreSQL sees them.
func serverConns(t *testing.T, direct *pgx.Conn) int {
	t.Helper()
	var n int
	err := direct.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", serverName).Scan(&n)
	if err != nil {
		t.Fatalf("count server connections: %v", err)
	}
	return n
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a wait for an event
	}
}

func pgtestConnect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect through pooler: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
