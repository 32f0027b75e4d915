package pool

import (
	"context"
	"time"

	"holdfast/internal/pgwire"
)

// maintainInterval is how often pools are topped up to their minimum,
// idle and old connections are closed, and client timeouts are checked;
// it is the resolution of query_timeout, idle_transaction_timeout and,
// for queued clients, query_wait_timeout and reserve_pool_timeout.
const maintainInterval = 250 * time.Millisecond

func (s *Server) maintainLoop() {
	defer s.wg.Done()
	t := time.NewTicker(maintainInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			s.maintain(now)
		}
	}
}

// maintain runs one round of upkeep at now.
func (s *Server) maintain(now time.Time) {
	cfg := s.conf().cfg
	for _, p := range s.allPools() {
		if cfg.ServerIdleTimeout > 0 {
			p.closeIdle(now.Add(-cfg.ServerIdleTimeout))
		}
		if cfg.ServerLifetime > 0 {
			p.closeOld(now.Add(-cfg.ServerLifetime))
		}
		p.startFillMin(s.ctx)
		p.checkQueue(now, cfg.QueryWaitTimeout, cfg.ReservePoolTimeout)
	}
	if cfg.QueryTimeout > 0 || cfg.IdleTransactionTimeout > 0 {
		for _, c := range s.clientList() {
			c.checkTimeouts(now, cfg.QueryTimeout, cfg.IdleTransactionTimeout)
		}
	}
}

// codeIdleInTransactionTimeout is PostgreSQL's SQLSTATE for
// idle_in_transaction_session_timeout.
const codeIdleInTransactionTimeout = "25P03"

const logKeyReason = "reason"

// Errors sent by the timeouts, with PgBouncer's texts.
var (
	errQueryTimeout  = &pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeQueryCanceled, Message: "query_timeout"}
	errIdleTxTimeout = &pgwire.Error{Severity: pgwire.SeverityFatal, Code: codeIdleInTransactionTimeout,
		Message: "idle transaction timeout"}
)

// checkTimeouts disconnects c if its request has run longer than
// queryTimeout or it sat idle in a transaction longer than idleTx. The
// query is cancelled and the server connection closed, which rolls the
// transaction back.
func (c *client) checkTimeouts(now time.Time, queryTimeout, idleTx time.Duration) {
	c.mu.Lock()
	sc := c.server
	var fail *pgwire.Error
	kind := errorKind(0)
	switch {
	case sc == nil || c.admin:
	case !c.q.empty() && queryTimeout > 0 && now.Sub(later(c.reqStart, c.lastReady)) > queryTimeout:
		fail, kind = errQueryTimeout, errQueryTimeoutKind
	case c.q.empty() && c.txStatus != pgwire.TxIdle && idleTx > 0 && now.Sub(c.lastReady) > idleTx:
		fail, kind = errIdleTxTimeout, errIdleTxKind
	}
	c.mu.Unlock()
	if fail == nil {
		return
	}
	c.srv.errs.add(kind)
	c.srv.log.Info("pooler: disconnecting client", logKeyUser, c.user, logKeyDatabase, c.database, logKeyReason, fail.Message)
	c.fail(fail)
	_ = c.conn.Close()
	if kind == errQueryTimeoutKind {
		// PostgreSQL does not see a closed socket while a query runs; a
		// CancelRequest stops it.
		if err := sc.cancel(c.srv.conf().cfg.ServerConnectTimeout); err != nil {
			c.srv.log.Warn("pooler: cancel timed-out query", logKeyError, err)
		}
	}
	sc.close()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// startFillMin opens connections up to the pool's minimum, in the
// background so that a slow server does not hold up the timeouts, once
// the pool has logged in successfully (so a wrong password is not
// retried forever).
func (p *pool) startFillMin(ctx context.Context) {
	p.mu.Lock()
	need := min(p.minSize, p.size) - p.total
	if p.filling || p.closed || p.retired || p.paused || need <= 0 || p.params == nil {
		p.mu.Unlock()
		return
	}
	p.filling = true
	p.total += need
	p.login += need
	p.mu.Unlock()
	// Called from maintainLoop, which holds a count in the WaitGroup, so
	// Close waits for the fill too.
	p.srv.wg.Add(1)
	go func() {
		defer p.srv.wg.Done()
		p.fillMin(ctx, need)
	}()
}

func (p *pool) fillMin(ctx context.Context, need int) {
	defer func() {
		p.mu.Lock()
		p.filling = false
		p.mu.Unlock()
	}()
	for range need {
		sc, err := p.dialServer(ctx)
		p.mu.Lock()
		p.login--
		if err != nil {
			p.total--
			p.notifyLocked()
			p.mu.Unlock()
			p.srv.log.Warn("pool: open minimum connection", logKeyDatabase, p.dbName, logKeyUser, p.user, logKeyError, err)
			continue
		}
		p.mu.Unlock()
		p.release(sc, true)
	}
}

// closeIdle closes connections idle since before cutoff, keeping the
// pool's minimum.
func (p *pool) closeIdle(cutoff time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	keep := min(p.minSize, p.size)
	// idle is oldest first (acquire takes the newest).
	p.dropIdleLocked(func(sc *serverConn) bool { return p.total > keep && sc.lastUsed.Before(cutoff) })
}

// closeOld closes idle connections created before cutoff (server_lifetime);
// busy ones close when released. fillMin replaces them.
func (p *pool) closeOld(cutoff time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropIdleLocked(func(sc *serverConn) bool { return sc.created.Before(cutoff) })
}
