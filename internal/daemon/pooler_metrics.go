package daemon

import (
	"time"

	"holdfast/internal/config"
	"holdfast/internal/metrics"
	"holdfast/internal/pool"
)

// The pooler's metrics in the metrics store, per Database, at 1-second
// resolution; the names live in config, which checks alarms against them.
const (
	PoolerNamespace                   = config.PoolerNamespace
	MetricDatabaseConnections         = config.MetricDatabaseConnections
	MetricDatabaseConnectionsBorrowed = config.MetricDatabaseConnectionsBorrowed
	MetricClientConnections           = config.MetricClientConnections
	MetricClientConnectionsWaiting    = config.MetricClientConnectionsWaiting
	MetricQueryRequests               = config.MetricQueryRequests
	MetricTransactions                = config.MetricTransactions
	MetricBorrowLatency               = config.MetricBorrowLatency
)

// poolerSampler turns the pooler's counters into one data point per
// metric and database each time it is given the time.
type poolerSampler struct {
	store   *metrics.Store
	handles map[string]map[string]*metrics.Handle // database -> metric -> handle
	prev    map[string]dbTotals
}

type dbTotals struct {
	queries, xacts, waits int64
	waitTotal             time.Duration
}

func newPoolerSampler(st *metrics.Store) *poolerSampler {
	return &poolerSampler{store: st, handles: map[string]map[string]*metrics.Handle{}, prev: map[string]dbTotals{}}
}

func (s *poolerSampler) handle(db, name string) *metrics.Handle {
	m := s.handles[db]
	if m == nil {
		m = map[string]*metrics.Handle{}
		s.handles[db] = m
	}
	h, ok := m[name]
	if !ok {
		id := metrics.MetricID{Namespace: PoolerNamespace, Name: name, Dimensions: []metrics.Dimension{{Name: "Database", Value: db}}}
		var err error
		if h, err = s.store.Handle(id, 1); err != nil {
			h = nil // refused by the store's series cap: skipped
		}
		m[name] = h
	}
	return h
}

// sample records st as of now.
func (s *poolerSampler) sample(now time.Time, st pool.Stats) {
	if s.store == nil {
		return
	}
	type gauges struct{ servers, borrowed, clients, waiting int }
	g := map[string]*gauges{}
	tot := map[string]dbTotals{}
	for _, p := range st.Pools {
		x := g[p.Database]
		if x == nil {
			x = &gauges{}
			g[p.Database] = x
		}
		x.servers += p.ServersActive + p.ServersIdle + p.ServersLogin
		x.borrowed += p.ServersActive
		x.clients += p.ClientsActive + p.ClientsWaiting
		x.waiting += p.ClientsWaiting
		t := tot[p.Database]
		t.queries += p.Queries
		t.xacts += p.Transactions
		t.waits += p.Waits
		t.waitTotal += p.WaitTotal
		tot[p.Database] = t
	}
	add := func(db, name string, v float64) {
		if h := s.handle(db, name); h != nil {
			_ = h.Add(now, v) // a point the store refuses (closed) is dropped
		}
	}
	for db, x := range g {
		add(db, MetricDatabaseConnections, float64(x.servers))
		add(db, MetricDatabaseConnectionsBorrowed, float64(x.borrowed))
		add(db, MetricClientConnections, float64(x.clients))
		add(db, MetricClientConnectionsWaiting, float64(x.waiting))
		t, p := tot[db], s.prev[db]
		// Counters restart when a reload replaces a pool; never go negative.
		add(db, MetricQueryRequests, float64(max(t.queries-p.queries, 0)))
		add(db, MetricTransactions, float64(max(t.xacts-p.xacts, 0)))
		if n := t.waits - p.waits; n > 0 {
			add(db, MetricBorrowLatency, float64((t.waitTotal-p.waitTotal).Microseconds())/float64(n))
		}
		s.prev[db] = t
	}
}
