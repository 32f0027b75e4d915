package pool_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"holdfast/internal/pgtest"
	"holdfast/internal/pool"
)

var tpsRE = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// BenchmarkPgbenchPrepared compares pgbench -S through holdfast with
// -M prepared (named statements the pooler carries across server
// connections) and -M extended (unnamed statements, parsed every time):
// 50 clients, pool of 10, 10 seconds each. Run it with
//
//	go test -run '^$' -bench PgbenchPrepared -benchtime 1x ./internal/pool/
//
// It reports the TPS of both and their ratio; direct-to-PostgreSQL
// figures of both modes are reported for reference.
func BenchmarkPgbenchPrepared(b *testing.B) {
	cluster := pgtest.Start(b)
	cfg := pool.Config{
		Listen: "127.0.0.1:0",
		Databases: map[string]pool.Database{appDB: {
			Host: cluster.Host(), Port: cluster.Port(), DBName: cluster.Database(),
			User: cluster.User(), Password: cluster.Password(), PoolSize: 10,
		}},
		Users:         []pool.User{{Name: appUser, Password: appPass}},
		MaxClientConn: 200,
	}
	srv, err := pool.New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	pgbench := func(port, user, password, db string, args ...string) float64 {
		b.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "pgbench", append(args, "-h", "127.0.0.1", "-p", port, "-U", user, db)...)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+password)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("pgbench %v: %v\n%s", args, err, out)
		}
		m := tpsRE.FindSubmatch(out)
		if m == nil {
			return 0
		}
		tps, _ := strconv.ParseFloat(string(m[1]), 64)
		return tps
	}
	directPort := strconv.Itoa(cluster.Port())
	pgbench(port, appUser, appPass, appDB, "-i", "-s", "10", "-q")
	run := func(p, user, pass, db, mode string) float64 {
		return pgbench(p, user, pass, db, "-S", "-M", mode, "-c", "50", "-j", "2", "-T", "10", "-n")
	}
	b.ResetTimer()
	for range b.N {
		ext := run(port, appUser, appPass, appDB, "extended")
		prep := run(port, appUser, appPass, appDB, "prepared")
		dExt := run(directPort, cluster.User(), cluster.Password(), cluster.Database(), "extended")
		dPrep := run(directPort, cluster.User(), cluster.Password(), cluster.Database(), "prepared")
		b.ReportMetric(ext, "tps-extended")
		b.ReportMetric(prep, "tps-prepared")
		b.ReportMetric(prep/ext, "prepared/extended")
		b.ReportMetric(dExt, "direct-tps-extended")
		b.ReportMetric(dPrep, "direct-tps-prepared")
	}
}
