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

	mu      sync.Mutex
	size    int // Database.PoolSize; changed by a reload
	minSize int
	reserve int
	idle    []*serverConn // most recently used last
	active  map[*serverConn]struct{}
	total   int // idle + active + logging in
	login   int // logging in
	waiters []*waiter
	params  map[string]string // ParameterStatus of the first server
	closed  bool
	retired bool // replaced by a reload: connections close on release
	paused  bool // PAUSE or KILL: no new links until RESUME
	filling bool // a background fill to the minimum runs (maintain.go)
	// changed is closed and replaced whenever a connection is released
	// or closed, for PAUSE to wait on; only while watched, so that the
	// hot path does not allocate a channel per transaction.
	changed chan struct{}
	watched bool

	stats poolStats
	prep  preparedState // prepared statements in transaction mode (prepared.go)
}

type poolStats struct {
	xacts, queries, recv, sent, waitUs, xactUs atomic.Int64
	// waits counts acquires; waitHist their wait time (waitBuckets).
	waits    atomic.Int64
	waitHist [len(waitBuckets) + 1]atomic.Int64
	// reserveUsed counts connections opened from the reserve pool.
	reserveUsed atomic.Int64
}

// waitBuckets are the upper bounds, in seconds, of the client wait-time
// histogram.
var waitBuckets = [...]float64{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120}

func (st *poolStats) observeWait(d time.Duration) {
	st.waits.Add(1)
	st.waitUs.Add(d.Microseconds())
	s := d.Seconds()
	i := 0
	for i < len(waitBuckets) && s > waitBuckets[i] {
		i++
	}
	st.waitHist[i].Add(1)
}

// A waiter is either a goroutine blocked in acquire (ch) or a queued
// client (c), whose goroutine goes on reading while it waits: whoever
// frees a server connection then sends the client's queued messages and
// pumps the replies itself (adopt), so a hand-off wakes no goroutine.
type waiter struct {
	ch    chan acquired
	c     *client
	since time.Time
}

// waitState is what a goroutine needs to wait in acquire.
type waitState struct {
	w              waiter
	timer, reserve *time.Timer
}

func newWaitState() *waitState {
	ws := &waitState{w: waiter{ch: make(chan acquired, 1)}}
	ws.timer = time.NewTimer(time.Hour)
	ws.timer.Stop()
	ws.reserve = time.NewTimer(time.Hour)
	ws.reserve.Stop()
	return ws
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
		size: db.PoolSize, minSize: db.MinPoolSize, reserve: db.ReservePoolSize,
		active: map[*serverConn]struct{}{}, changed: make(chan struct{}),
	}
}

// take links an idle connection to c or opens a new one if the pool has
// room. wait says neither was possible; p.mu is then still held, so that
// the caller queues atomically.
func (p *pool) take(ctx context.Context, c *client) (sc *serverConn, wait bool, err error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, false, errPoolClosed
	}
	for !p.paused && len(p.idle) > 0 {
		n := len(p.idle)
		sc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.linkLocked(sc, c)
		p.mu.Unlock()
		if sc.alive() {
			return sc, false, nil
		}
		// Terminated or closed while idle (the server said goodbye).
		p.release(sc, false)
		p.mu.Lock()
	}
	if !p.paused && p.total < p.size {
		p.total++
		p.login++
		p.mu.Unlock()
		sc, err := p.dialServer(ctx)
		p.mu.Lock()
		defer p.mu.Unlock()
		p.login--
		if err != nil {
			p.total--
			p.notifyLocked()
			return nil, false, err
		}
		p.params0Locked(sc)
		if p.closed {
			p.total--
			sc.close()
			return nil, false, errPoolClosed
		}
		p.linkLocked(sc, c)
		return sc, false, nil
	}
	return nil, true, nil
}

// acquire returns a server connection, waiting up to the query wait
// timeout. One that waited the reserve pool timeout may get a connection
// beyond the pool size, up to the reserve. Clients queue instead
// (acquireOrQueue).
func (p *pool) acquire(ctx context.Context) (*serverConn, error) {
	start := time.Now()
	defer func() { p.stats.observeWait(time.Since(start)) }()
	lv := p.srv.conf()
	sc, wait, err := p.take(ctx, nil)
	if !wait {
		return sc, err
	}
	ws := newWaitState()
	w := &ws.w
	w.since = start
	p.waiters = append(p.waiters, w)
	reserve := p.reserve > 0
	p.mu.Unlock()

	timer := ws.timer
	timer.Reset(lv.cfg.QueryWaitTimeout)
	defer timer.Stop()
	var reserveC <-chan time.Time
	if reserve {
		ws.reserve.Reset(lv.cfg.ReservePoolTimeout)
		defer ws.reserve.Stop()
		reserveC = ws.reserve.C
	}
wait:
	for {
		select {
		case a := <-w.ch:
			return a.sc, a.err
		case <-reserveC:
			reserveC = nil
			p.reserveDial(w)
		case <-timer.C:
			err = errWaitTimeout
			p.srv.errs.add(errWaitTimeoutKind)
			break wait
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		}
	}
	p.mu.Lock()
	if p.removeWaiterLocked(w) {
		p.mu.Unlock()
		return nil, err
	}
	p.mu.Unlock()
	// A connection was handed to us while we gave up; take it anyway.
	a := <-w.ch
	return a.sc, a.err
}

// acquireOrQueue returns a server connection linked to c, or nil after
// queueing c, whose goroutine then goes on reading: a connection freed
// later is handed to c by whoever frees it (adopt). The wait is bounded
// by the query wait timeout and may take a reserve connection, as in
// acquire (checkQueue).
func (p *pool) acquireOrQueue(ctx context.Context, c *client, start time.Time) (*serverConn, error) {
	sc, wait, err := p.take(ctx, c)
	if !wait {
		p.stats.observeWait(time.Since(start))
		return sc, err
	}
	w := &c.qw
	w.c = c
	w.since = start
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	return nil, nil
}

// reserveDial opens a reserve connection for w if it still waits and
// the reserve has room.
func (p *pool) reserveDial(w *waiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reserveRoomLocked() && p.removeWaiterLocked(w) {
		p.openReserveLocked(w)
	}
}

// reserveRoomLocked reports whether a reserve connection may open now.
func (p *pool) reserveRoomLocked() bool {
	return !p.paused && !p.closed && p.total < p.size+p.reserve
}

// openReserveLocked opens a reserve connection for w, off the queue.
func (p *pool) openReserveLocked(w *waiter) {
	p.stats.reserveUsed.Add(1)
	p.dialForLocked(w)
}

func (p *pool) removeWaiterLocked(w *waiter) bool {
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return true
		}
	}
	return false
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

// notifyLocked wakes whoever waits for a change (PAUSE).
func (p *pool) notifyLocked() {
	if !p.watched {
		return
	}
	close(p.changed)
	p.changed = make(chan struct{})
	p.watched = false
}

// changedLocked returns a channel closed at the next change.
func (p *pool) changedLocked() <-chan struct{} {
	p.watched = true
	return p.changed
}

// release gives sc back. reusable says the connection is at a safe point
// (ReadyForQuery idle, reset done where needed); otherwise it is closed.
// A connection past its lifetime, marked by RECONNECT, of a retired pool,
// or beyond the pool size (a reserve connection) with nobody waiting is
// closed too.
func (p *pool) release(sc *serverConn, reusable bool) {
	if c := p.releaseNext(sc, reusable, time.Now()); c != nil {
		go servePumps(c, sc)
	}
}

// releaseNext is release at now, except that a queued client the
// connection is handed to is returned, for the caller to serve
// (servePumps).
func (p *pool) releaseNext(sc *serverConn, reusable bool, now time.Time) *client {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.notifyLocked()
	sc.owner = nil
	sc.lastUsed = now
	if lt := p.srv.conf().cfg.ServerLifetime; lt > 0 && now.Sub(sc.created) > lt {
		reusable = false
	}
	if sc.closeNeeded {
		reusable = false
	}
	if (p.retired || p.total > p.size) && (len(p.waiters) == 0 || p.paused) {
		reusable = false
	}
	if !reusable || p.closed {
		delete(p.active, sc)
		sc.close()
		p.total--
		p.serveWaitersLocked()
		return nil
	}
	if len(p.waiters) > 0 && !p.paused {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		return p.handLocked(sc, w) // sc stays active
	}
	delete(p.active, sc)
	p.idle = append(p.idle, sc)
	return nil
}

// handLocked gives the active connection sc to waiter w: a goroutine in
// acquire gets it on its channel; a queued client is returned, for the
// caller to serve.
func (p *pool) handLocked(sc *serverConn, w *waiter) *client {
	sc.owner = w.c
	if w.c == nil {
		w.ch <- acquired{sc: sc}
		return nil
	}
	return w.c
}

// serveWaitersLocked hands idle connections to waiters and opens new
// ones while the pool has room (after a release, a resize or RESUME).
func (p *pool) serveWaitersLocked() {
	for len(p.waiters) > 0 && !p.paused && !p.closed {
		if n := len(p.idle); n > 0 {
			sc := p.idle[n-1]
			p.idle = p.idle[:n-1]
			if !sc.alive() {
				sc.close()
				p.total--
				continue
			}
			w := p.waiters[0]
			p.waiters = p.waiters[1:]
			p.active[sc] = struct{}{}
			sc.lastUsed = time.Now()
			if c := p.handLocked(sc, w); c != nil {
				go servePumps(c, sc)
			}
			continue
		}
		if p.total >= p.size {
			return
		}
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.dialForLocked(w)
	}
}

// dialForLocked opens a connection for w in the background.
func (p *pool) dialForLocked(w *waiter) {
	p.total++
	p.login++
	go func() {
		sc, err := p.dialServer(context.Background())
		p.mu.Lock()
		p.login--
		var c *client
		if err != nil {
			p.total--
			p.notifyLocked()
		} else {
			p.params0Locked(sc)
			p.active[sc] = struct{}{}
			if w.c != nil {
				c = p.handLocked(sc, w)
			}
		}
		p.mu.Unlock()
		switch {
		case w.c == nil:
			w.ch <- acquired{sc: sc, err: err}
		case err != nil:
			w.c.failQueued(err)
		default:
			servePumps(c, sc)
		}
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
	sc, err := p.acquire(ctx)
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

// resize applies a reloaded database entry of the same target and mode.
func (p *pool) resize(db Database) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.size, p.minSize, p.reserve = db.PoolSize, db.MinPoolSize, db.ReservePoolSize
	p.db.Password = db.Password
	// Extra idle connections beyond a smaller size close now; busy ones
	// when they are released.
	for p.total > p.size && len(p.idle) > 0 {
		p.idle[0].close()
		p.idle = p.idle[1:]
		p.total--
	}
	p.serveWaitersLocked()
	p.notifyLocked()
}

// closeIdleLocked closes every idle connection.
func (p *pool) closeIdleLocked() {
	p.dropIdleLocked(func(*serverConn) bool { return true })
}

// dropIdleLocked closes the idle connections for which drop says so,
// oldest first, and keeps the others in order.
func (p *pool) dropIdleLocked(drop func(*serverConn) bool) {
	kept := p.idle[:0]
	for i, sc := range p.idle {
		if drop(sc) {
			sc.close()
			p.total--
			continue
		}
		kept = append(kept, p.idle[i])
	}
	clear(p.idle[len(kept):])
	p.idle = kept
}

// retire marks a pool replaced by a reload: idle connections close now,
// busy ones when released; waiters are still served.
func (p *pool) retire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retired = true
	p.closeIdleLocked()
	p.notifyLocked()
}

// drained reports whether a retired pool holds nothing any more.
func (p *pool) drained() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total == 0 && len(p.waiters) == 0
}

// close closes idle connections and fails waiters; active connections
// close when their clients release them.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.closeIdleLocked()
	for _, w := range p.waiters {
		if w.c != nil {
			go w.c.failQueued(errPoolClosed)
			continue
		}
		w.ch <- acquired{err: errPoolClosed}
	}
	p.waiters = nil
	p.notifyLocked()
}
