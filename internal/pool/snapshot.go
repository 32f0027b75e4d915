package pool

import (
	"time"
)

// poolSnapshot is what the admin console and metrics show of a pool.
type poolSnapshot struct {
	database, user        string
	mode                  Mode
	size, minSize         int
	reserve               int
	clActive, clWaiting   int
	svActive, svIdle      int
	svLogin               int
	paused                bool
	maxWait               time.Duration
	servers               []serverSnapshot
	xacts, queries        int64
	recv, sent            int64
	waitUs, xactUs        int64
	waits                 int64
	waitHist              [len(waitBuckets) + 1]int64
	reserveUsed           int64
	host                  string
	port                  int
	serverDB, forcedLogin string
}

type serverSnapshot struct {
	id                int64
	state             string
	pid               uint32
	addr              string
	created, lastUsed time.Time
	owner             *client
	closeNeeded       bool
}

func (p *pool) snapshot(now time.Time) poolSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := poolSnapshot{
		database: p.dbName, user: p.user, mode: p.mode, size: p.size, minSize: p.minSize, reserve: p.reserve,
		svActive: len(p.active), svIdle: len(p.idle), svLogin: p.login, clWaiting: len(p.waiters), paused: p.paused,
		xacts: p.stats.xacts.Load(), queries: p.stats.queries.Load(),
		recv: p.stats.recv.Load(), sent: p.stats.sent.Load(),
		waitUs: p.stats.waitUs.Load(), xactUs: p.stats.xactUs.Load(),
		waits: p.stats.waits.Load(), reserveUsed: p.stats.reserveUsed.Load(),
		host: p.db.Host, port: p.db.Port, serverDB: p.db.DBName, forcedLogin: p.db.User,
	}
	for i := range s.waitHist {
		s.waitHist[i] = p.stats.waitHist[i].Load()
	}
	if len(p.waiters) > 0 {
		s.maxWait = now.Sub(p.waiters[0].since)
	}
	for sc := range p.active {
		s.servers = append(s.servers, serverSnapshot{sc.id, "active", sc.pid, sc.addr, sc.created, sc.lastUsed, sc.owner, sc.closeNeeded})
	}
	for _, sc := range p.idle {
		s.servers = append(s.servers, serverSnapshot{sc.id, "idle", sc.pid, sc.addr, sc.created, sc.lastUsed, nil, sc.closeNeeded})
	}
	return s
}
