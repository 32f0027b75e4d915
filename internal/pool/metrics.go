package pool

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PoolStats is one pool's figures at one moment.
type PoolStats struct {
	Database, User string
	Mode           Mode
	PoolSize       int
	// Clients: active (linked to a server connection or idle between
	// transactions, PgBouncer's cl_active), waiting for a server
	// connection, and in use (linked right now).
	ClientsActive, ClientsWaiting, ClientsInUse int
	// Server connections: active (linked), idle, logging in.
	ServersActive, ServersIdle, ServersLogin int
	MaxWait                                  time.Duration
	Transactions, Queries                    int64
	BytesReceived, BytesSent                 int64
	// Waits is how many times a client asked for a server connection;
	// WaitTotal their summed wait; WaitBuckets the cumulative counts at
	// each of WaitBucketBounds (the last is +Inf).
	Waits       int64
	WaitTotal   time.Duration
	WaitBuckets []uint64
	// ReserveOpened counts connections opened from the reserve pool.
	ReserveOpened int64
	Paused        bool
}

// Stats is the whole pooler's figures.
type Stats struct {
	Pools   []PoolStats
	Clients int // client connections, admin console included
	// Errors counts failures by kind (ErrorKinds).
	Errors map[string]int64
}

// WaitBucketBounds are the upper bounds, in seconds, of the wait-time
// histogram buckets.
func WaitBucketBounds() []float64 { return append([]float64(nil), waitBuckets[:]...) }

// ErrorKinds are the keys of Stats.Errors.
func ErrorKinds() []string { return append([]string(nil), errorKindNames[1:]...) }

// Stats returns the pooler's figures now.
func (s *Server) Stats() Stats {
	type counts struct{ active, waiting, inUse int }
	byPool := map[poolKey]*counts{}
	clients := s.clientList()
	for _, c := range clients {
		c.mu.Lock()
		if c.pool != nil {
			k := poolKey{c.pool.dbName, c.pool.user}
			n := byPool[k]
			if n == nil {
				n = &counts{}
				byPool[k] = n
			}
			switch {
			case c.waiting:
				n.waiting++
			case c.server != nil:
				n.active++
				n.inUse++
			default:
				n.active++
			}
		}
		c.mu.Unlock()
	}
	st := Stats{Clients: len(clients), Errors: map[string]int64{}}
	for k := errLoginFailedKind; k < errKindCount; k++ {
		st.Errors[errorKindNames[k]] = s.errs.get(k)
	}
	for _, p := range s.snapshots() {
		ps := PoolStats{
			Database: p.database, User: p.user, Mode: p.mode, PoolSize: p.size,
			ServersActive: p.svActive, ServersIdle: p.svIdle, ServersLogin: p.svLogin,
			MaxWait: p.maxWait, Transactions: p.xacts, Queries: p.queries,
			BytesReceived: p.recv, BytesSent: p.sent,
			Waits: p.waits, WaitTotal: time.Duration(p.waitUs) * time.Microsecond,
			ReserveOpened: p.reserveUsed, Paused: p.paused,
		}
		if n := byPool[poolKey{p.database, p.user}]; n != nil {
			ps.ClientsActive, ps.ClientsWaiting, ps.ClientsInUse = n.active, n.waiting, n.inUse
		}
		var cum uint64
		for _, v := range p.waitHist {
			cum += uint64(v)
			ps.WaitBuckets = append(ps.WaitBuckets, cum)
		}
		st.Pools = append(st.Pools, ps)
	}
	return st
}

// Prometheus descriptions, named after pgbouncer_exporter's under
// holdfast_pooler_.
var (
	poolLabels        = []string{"database", "user"}
	descClientActive  = prometheus.NewDesc("holdfast_pooler_pools_client_active_connections", "Client connections linked to a server connection or idle between transactions (cl_active).", poolLabels, nil)
	descClientWaiting = prometheus.NewDesc("holdfast_pooler_pools_client_waiting_connections", "Client connections waiting for a server connection (cl_waiting).", poolLabels, nil)
	descServerActive  = prometheus.NewDesc("holdfast_pooler_pools_server_active_connections", "Server connections linked to a client (sv_active).", poolLabels, nil)
	descServerIdle    = prometheus.NewDesc("holdfast_pooler_pools_server_idle_connections", "Server connections idle in the pool (sv_idle).", poolLabels, nil)
	descServerLogin   = prometheus.NewDesc("holdfast_pooler_pools_server_login_connections", "Server connections logging in (sv_login).", poolLabels, nil)
	descMaxWait       = prometheus.NewDesc("holdfast_pooler_pools_client_maxwait_seconds", "Age of the oldest waiting client.", poolLabels, nil)
	descPoolSize      = prometheus.NewDesc("holdfast_pooler_pools_size", "Configured pool size.", poolLabels, nil)
	descPaused        = prometheus.NewDesc("holdfast_pooler_pools_paused", "1 while the pool is paused or killed from the admin console.", poolLabels, nil)
	descXacts         = prometheus.NewDesc("holdfast_pooler_stats_sql_transactions_pooled_total", "Transactions pooled.", poolLabels, nil)
	descQueries       = prometheus.NewDesc("holdfast_pooler_stats_queries_pooled_total", "Requests (Query or Sync) pooled.", poolLabels, nil)
	descRecv          = prometheus.NewDesc("holdfast_pooler_stats_received_bytes_total", "Bytes received from clients.", poolLabels, nil)
	descSent          = prometheus.NewDesc("holdfast_pooler_stats_sent_bytes_total", "Bytes sent to clients.", poolLabels, nil)
	descReserve       = prometheus.NewDesc("holdfast_pooler_reserve_connections_opened_total", "Server connections opened from the reserve pool.", poolLabels, nil)
	descWait          = prometheus.NewDesc("holdfast_pooler_client_wait_seconds", "Time clients waited for a server connection.", poolLabels, nil)
	descClients       = prometheus.NewDesc("holdfast_pooler_client_connections", "Client connections, admin console included.", nil, nil)
	descErrors        = prometheus.NewDesc("holdfast_pooler_errors_total", "Pooler-level failures by kind.", []string{"kind"}, nil)
)

// Collector exposes Stats on a Prometheus registry.
func (s *Server) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Server }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descClientActive, descClientWaiting, descServerActive, descServerIdle,
		descServerLogin, descMaxWait, descPoolSize, descPaused, descXacts, descQueries, descRecv, descSent,
		descReserve, descWait, descClients, descErrors} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, p := range st.Pools {
		l := []string{p.Database, p.User}
		gauge(descClientActive, float64(p.ClientsActive), l...)
		gauge(descClientWaiting, float64(p.ClientsWaiting), l...)
		gauge(descServerActive, float64(p.ServersActive), l...)
		gauge(descServerIdle, float64(p.ServersIdle), l...)
		gauge(descServerLogin, float64(p.ServersLogin), l...)
		gauge(descMaxWait, p.MaxWait.Seconds(), l...)
		gauge(descPoolSize, float64(p.PoolSize), l...)
		paused := 0.0
		if p.Paused {
			paused = 1
		}
		gauge(descPaused, paused, l...)
		counter(descXacts, float64(p.Transactions), l...)
		counter(descQueries, float64(p.Queries), l...)
		counter(descRecv, float64(p.BytesReceived), l...)
		counter(descSent, float64(p.BytesSent), l...)
		counter(descReserve, float64(p.ReserveOpened), l...)
		buckets := map[float64]uint64{}
		for i, b := range waitBuckets {
			buckets[b] = p.WaitBuckets[i]
		}
		ch <- prometheus.MustNewConstHistogram(descWait, p.WaitBuckets[len(p.WaitBuckets)-1], p.WaitTotal.Seconds(), buckets, l...)
	}
	gauge(descClients, float64(st.Clients))
	for k, v := range st.Errors {
		counter(descErrors, float64(v), k)
	}
}
