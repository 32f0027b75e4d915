package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"holdfast/internal/pgcluster"
)

// sharedMaxConnections leaves room for many parallel tests with pools.
const sharedMaxConnections = 200

// shared is the cluster of one test binary, started by the first Shared
// call and stopped by Main.
var shared struct {
	mainActive atomic.Bool
	once       sync.Once
	cluster    *pgcluster.Cluster
	err        error
	seq        atomic.Int64
}

// Database is a database of its own on the shared cluster.
type Database struct {
	Cluster *pgcluster.Cluster
	Name    string
}

// DSN is a superuser postgres:// URL for the database.
func (d *Database) DSN() string { return d.Cluster.DSN(d.Name) }

// Shared returns a fresh database on the test binary's shared cluster,
// dropped in tb.Cleanup. The first call starts the cluster; Main stops it,
// so the package needs `func TestMain(m *testing.M) { pgtest.Main(m) }`.
func Shared(tb testing.TB) *Database {
	tb.Helper()
	if !shared.mainActive.Load() {
		tb.Fatalf("pgtest.Shared: this package has no TestMain that stops the shared cluster; add\n\tfunc TestMain(m *testing.M) { pgtest.Main(m) }\nor use pgtest.Start for a cluster of the test's own")
	}
	shared.once.Do(func() {
		shared.cluster, shared.err = pgcluster.Start(context.Background(), pgcluster.Options{MaxConnections: sharedMaxConnections})
	})
	if shared.err != nil {
		tb.Fatalf("pgtest.Shared: %v", shared.err)
	}
	c := shared.cluster
	db := &Database{Cluster: c, Name: dbName(shared.seq.Add(1), tb.Name())}
	if err := c.CreateDatabase(context.Background(), db.Name); err != nil {
		tb.Fatalf("pgtest.Shared: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			logServerTail(tb, c)
		}
		if err := c.DropDatabase(context.Background(), db.Name); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return db
}

// Main runs the tests and then stops the shared cluster, if one was
// started. Call it from TestMain; it does not return.
func Main(m *testing.M) {
	shared.mainActive.Store(true)
	code := m.Run()
	if c := shared.cluster; c != nil {
		if err := c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop shared cluster: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}
