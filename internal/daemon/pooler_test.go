package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"holdfast/internal/config"
	"holdfast/internal/daemon"
	"holdfast/internal/metrics"
	"holdfast/internal/pool"
)

func TestPoolerConfigAndCredentials(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "server.pw")
	if err := os.WriteFile(pwFile, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOLDFAST_TEST_APP_PW", "app-secret")
	zero := 0
	pc := &config.Pooler{
		Listen: "127.0.0.1:0",
		Users: []config.PoolerUser{
			{Name: "app", PasswordEnv: "HOLDFAST_TEST_APP_PW"},
			{Name: "viewer", Verifier: "md5" + strings.Repeat("a", 32)},
		},
		Databases: map[string]config.PoolerDatabase{
			"forced": {User: "owner", PasswordFile: pwFile},
			"own":    {},
		},
		MaxPreparedStatements: &zero,
		ServerIdleTimeout:     new(config.Duration),
	}
	cfg, err := daemon.PoolerConfig(pc)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PreparedStatementCacheSize != -1 || cfg.ServerIdleTimeout != -1 || cfg.ServerLifetime != 0 {
		t.Errorf("max_prepared_statements 0 / server_idle_timeout 0s / unset lifetime = %d, %v, %v; want -1 (off), -1 (off), 0 (default)",
			cfg.PreparedStatementCacheSize, cfg.ServerIdleTimeout, cfg.ServerLifetime)
	}
	if got := cfg.Users[0].Password; got != "app-secret" {
		t.Errorf("app's password from the environment = %q", got)
	}
	login := func(db, user string) (string, string, error) { return cfg.Credentials.ServerLogin(db, user) }
	if u, pw, err := login("forced", "app"); err != nil || u != "owner" || pw != "first" {
		t.Fatalf("forced login = %q %q %v", u, pw, err)
	}
	// A rotated password file is read at the next server login.
	if err := os.WriteFile(pwFile, []byte("second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, pw, _ := login("forced", "app"); pw != "second" {
		t.Errorf("after rotation: password %q, want second", pw)
	}
	if u, pw, err := login("own", "app"); err != nil || u != "app" || pw != "app-secret" {
		t.Errorf("own login = %q %q %v", u, pw, err)
	}
	if _, _, err := login("own", "viewer"); err == nil || !strings.Contains(err.Error(), "no server login") {
		t.Errorf("a verifier-only user logging in as itself: %v, want an error", err)
	}
	os.Remove(pwFile)
	if _, _, err := login("forced", "app"); err == nil || strings.Contains(err.Error(), "second") {
		t.Errorf("missing password file: %v, want an error without the secret", err)
	}
}

func TestPoolerConfigTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writeCert(t, cert, key, "127.0.0.1")
	t.Setenv("HOLDFAST_TEST_APP_PW", "x")
	pc := &config.Pooler{
		Listen:    "127.0.0.1:0",
		Users:     []config.PoolerUser{{Name: "app", PasswordEnv: "HOLDFAST_TEST_APP_PW"}},
		Databases: map[string]config.PoolerDatabase{"app": {}},
		TLS:       &config.PoolerTLS{CertFile: cert, KeyFile: key, Mode: "require"},
	}
	cfg, err := daemon.PoolerConfig(pc)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS == nil || len(cfg.TLS.Certificates) != 1 || cfg.ClientTLSMode != pool.TLSRequire {
		t.Fatalf("TLS = %v, mode %q", cfg.TLS, cfg.ClientTLSMode)
	}
	pc.TLS.KeyFile = filepath.Join(dir, "missing.pem")
	if _, err := daemon.PoolerConfig(pc); err == nil || !strings.Contains(err.Error(), "pooler.tls") {
		t.Fatalf("missing key: %v, want a pooler.tls error", err)
	}
}

func TestPoolerSamplerFeedsTheStore(t *testing.T) {
	st, err := metrics.Open(t.TempDir(), metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sample := daemon.SamplePooler(st)
	now := time.Now().Truncate(time.Second)
	stats := func(queries, waits int64, wait time.Duration) pool.Stats {
		return pool.Stats{Pools: []pool.PoolStats{
			{Database: "app", User: "a", ServersActive: 2, ServersIdle: 1, ClientsActive: 5, ClientsWaiting: 3,
				Queries: queries, Transactions: queries, Waits: waits, WaitTotal: wait},
			{Database: "app", User: "b", ServersIdle: 2, ClientsActive: 1, Queries: 10},
		}}
	}
	sample(now.Add(-2*time.Second), stats(100, 10, 10*time.Millisecond))
	sample(now.Add(-time.Second), stats(130, 20, 30*time.Millisecond))
	get := func(name, stat string) float64 {
		t.Helper()
		id := metrics.MetricID{Namespace: daemon.PoolerNamespace, Name: name, Dimensions: []metrics.Dimension{{Name: "Database", Value: "app"}}}
		ser, err := st.Query(metrics.MetricStatQuery{Metric: id, Period: time.Second, Stat: stat, Start: now.Add(-time.Second), End: now})
		if err != nil || len(ser.Points) != 1 {
			t.Fatalf("%s: %+v, %v", name, ser, err)
		}
		return ser.Points[0].V
	}
	for name, want := range map[string]float64{
		daemon.MetricDatabaseConnections: 5, daemon.MetricDatabaseConnectionsBorrowed: 2, daemon.MetricClientConnections: 9,
		daemon.MetricClientConnectionsWaiting: 3, daemon.MetricQueryRequests: 30, daemon.MetricTransactions: 30,
		daemon.MetricBorrowLatency: 2000, // 20 ms over 10 waits
	} {
		if got := get(name, "Maximum"); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
