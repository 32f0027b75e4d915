package pool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"holdfast/internal/pgwire"
)

type poolKey struct{ database, user string }

// pool holds the server connections of one (database, user).
type pool struct {
	srv    *Server
	dbName string // name clients use
	db     Database
	user   string
	mode   Mode
	size   int

	mu      sync.Mutex
	idle    []*serverConn // most recently used last
	active  map[*serverConn]struct{}
	total   int // idle + active + logging in
	login   int // logging in
	waiters []*waiter
	params  map[string]string // ParameterStatus of the first server
	closed  bool

	stats poolStats
	prep  preparedState // prepared statements in transaction mode (prepared.go)
}

type poolStats struct {
	xacts, queries, recv, sent, waitUs, xactUs atomic.Int64
}

type waiter struct {
	ch    chan acquired
	since time.Time
}

type acquired struct {
	sc  *serverConn
	err error
}

// errWaitTimeout is what a client gets when no server connection came in
// time; PgBouncer sends the same text and closes the client.
var errWaitTimeout = pgwire.Fatal(pgwire.CodeProtocolViolation, "query_wait_timeout")

var errPoolClosed = pgwire.Fatal(pgwire.CodeAdminShutdown, "pooler is shutting down")

func newPool(s *Server, key poolKey, db Database, mode Mode) *pool {
	return &pool{
		srv: s, dbName: key.database, db: db, user: key.user, mode: mode,
		size: db.PoolSize, active: map[*serverConn]struct{}{},
	}
}

// acquire returns a server connection linked to c, waiting up to the
// query wait timeout.
func (p *pool) acquire(ctx context.Context, c *client) (*serverConn, error) {
	start := time.Now()
	defer func() { p.stats.waitUs.Add(time.Since(start).Microseconds()) }()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errPoolClosed
	}
	for len(p.idle) > 0 {
		n := len(p.idle)
		sc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.linkLocked(sc, c)
		p.mu.Unlock()
		if sc.alive() {
			return sc, nil
		}
		// Terminated or closed while idle (the server said goodbye).
		p.release(sc, false)
		p.mu.Lock()
	}
	if p.total < p.size {
		p.total++
		p.login++
		p.mu.Unlock()
		sc, err := p.dialServer(ctx)
		p.mu.Lock()
		defer p.mu.Unlock()
		p.login--
		if err != nil {
			p.total--
			return nil, err
		}
		p.params0Locked(sc)
		if p.closed {
			p.total--
			sc.close()
			return nil, errPoolClosed
		}
		p.linkLocked(sc, c)
		return sc, nil
	}
	w := &waiter{ch: make(chan acquired, 1), since: start}
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()

	timer := time.NewTimer(p.srv.cfg.QueryWaitTimeout)
	defer timer.Stop()
	var err error
	select {
	case a := <-w.ch:
		return p.linked(a, c)
	case <-timer.C:
		err = errWaitTimeout
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.mu.Lock()
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			p.mu.Unlock()
			return nil, err
		}
	}
	p.mu.Unlock()
	// A connection was handed to us while we gave up; take it anyway.
	return p.linked(<-w.ch, c)
}

func (p *pool) linked(a acquired, c *client) (*serverConn, error) {
	if a.err != nil {
		return nil, a.err
	}
	p.mu.Lock()
	a.sc.owner = c
	p.mu.Unlock()
	return a.sc, nil
}

func (p *pool) linkLocked(sc *serverConn, c *client) {
	p.active[sc] = struct{}{}
	sc.owner = c
	sc.lastUsed = time.Now()
}

func (p *pool) params0Locked(sc *serverConn) {
	if p.params == nil {
		p.params = sc.params
	}
}

// release gives sc back. reusable says the connection is at a safe point
// (ReadyForQuery idle, reset done where needed); otherwise it is closed.
func (p *pool) release(sc *serverConn, reusable bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.active, sc)
	sc.owner = nil
	sc.lastUsed = time.Now()
	if lt := p.srv.cfg.ServerLifetime; lt > 0 && sc.lastUsed.Sub(sc.created) > lt {
		reusable = false
	}
	if !reusable || p.closed {
		sc.close()
		p.total--
		p.dialForWaiterLocked()
		return
	}
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.active[sc] = struct{}{}
		w.ch <- acquired{sc: sc}
		return
	}
	p.idle = append(p.idle, sc)
}

// dialForWaiterLocked opens a connection for the first waiter when a slot
// became free.
func (p *pool) dialForWaiterLocked() {
	if len(p.waiters) == 0 || p.total >= p.size || p.closed {
		return
	}
	w := p.waiters[0]
	p.waiters = p.waiters[1:]
	p.total++
	p.login++
	go func() {
		sc, err := p.dialServer(context.Background())
		p.mu.Lock()
		p.login--
		if err != nil {
			p.total--
		} else {
			p.params0Locked(sc)
			p.active[sc] = struct{}{}
		}
		p.mu.Unlock()
		w.ch <- acquired{sc: sc, err: err}
	}()
}

// startupParams returns the server's ParameterStatus values, logging in
// once if no server connection was made yet. Its error is the server's
// own (unknown database, bad credentials).
func (p *pool) startupParams(ctx context.Context) (map[string]string, error) {
	p.mu.Lock()
	params := p.params
	p.mu.Unlock()
	if params != nil {
		return params, nil
	}
	sc, err := p.acquire(ctx, nil)
	if err != nil {
		return nil, err
	}
	p.release(sc, true)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.params == nil {
		return nil, errors.New("server sent no parameters")
	}
	return p.params, nil
}

// maintain keeps at least min connections open and closes nothing else;
// it runs from the server's maintenance loop.
func (p *pool) maintain(ctx context.Context, min int) {
	p.mu.Lock()
	need := min - p.total
	if p.closed || need <= 0 || p.params == nil {
		p.mu.Unlock()
		return
	}
	p.total += need
	p.login += need
	p.mu.Unlock()
	for range need {
		sc, err := p.dialServer(ctx)
		p.mu.Lock()
		p.login--
		if err != nil {
			p.total--
			p.mu.Unlock()
			p.srv.log.Warn("pool: open minimum connection", logKeyDatabase, p.dbName, logKeyUser, p.user, logKeyError, err)
			continue
		}
		p.mu.Unlock()
		p.release(sc, true)
	}
}

// closeIdle closes connections idle since before cutoff, keeping at
// least keep connections in the pool.
func (p *pool) closeIdle(cutoff time.Time, keep int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.idle[:0]
	for i, sc := range p.idle {
		// idle is oldest first (acquire takes the newest).
		if p.total > keep && sc.lastUsed.Before(cutoff) {
			sc.close()
			p.total--
			continue
		}
		kept = append(kept, p.idle[i])
	}
	clear(p.idle[len(kept):])
	p.idle = kept
}

// close closes idle connections and fails waiters; active connections
// close when their clients release them.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, sc := range p.idle {
		sc.close()
		p.total--
	}
	p.idle = nil
	for _, w := range p.waiters {
		w.ch <- acquired{err: errPoolClosed}
	}
	p.waiters = nil
}

// poolSnapshot is what the admin console shows of a pool.
type poolSnapshot struct {
	database, user        string
	mode                  Mode
	size                  int
	clActive, clWaiting   int
	svActive, svIdle      int
	svLogin               int
	maxWait               time.Duration
	servers               []serverSnapshot
	xacts, queries        int64
	recv, sent            int64
	waitUs, xactUs        int64
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
}

func (p *pool) snapshot(now time.Time) poolSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := poolSnapshot{
		database: p.dbName, user: p.user, mode: p.mode, size: p.size,
		svActive: len(p.active), svIdle: len(p.idle), svLogin: p.login, clWaiting: len(p.waiters),
		xacts: p.stats.xacts.Load(), queries: p.stats.queries.Load(),
		recv: p.stats.recv.Load(), sent: p.stats.sent.Load(),
		waitUs: p.stats.waitUs.Load(), xactUs: p.stats.xactUs.Load(),
		host: p.db.Host, port: p.db.Port, serverDB: p.db.DBName, forcedLogin: p.db.User,
	}
	if len(p.waiters) > 0 {
		s.maxWait = now.Sub(p.waiters[0].since)
	}
	for sc := range p.active {
		s.servers = append(s.servers, serverSnapshot{sc.id, "active", sc.pid, sc.addr, sc.created, sc.lastUsed, sc.owner})
	}
	for _, sc := range p.idle {
		s.servers = append(s.servers, serverSnapshot{sc.id, "idle", sc.pid, sc.addr, sc.created, sc.lastUsed, nil})
	}
	return s
}
