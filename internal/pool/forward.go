package pool

import (
	"errors"
	"time"

	"holdfast/internal/pgwire"
)

// Forwarding. The client goroutine (forward) reads client messages and
// writes them, batched, to the linked server connection; a pump goroutine
// per link reads the server's replies and writes them, batched, to the
// client. Neither decodes more than message headers, except the pump
// reading ReadyForQuery's status.
//
// Link rule: a server connection is linked at the first message of a
// request and, in transaction mode, unlinked at a safe point: the
// ReadyForQuery that answers the last Sync/Query sent, with status idle,
// and no other message sent since (a Parse not yet followed by Sync keeps
// the link). In session mode the link lasts until the client leaves.
//
// Ownership: whoever sets c.server to nil under c.mu owns the server
// connection and must release it. Each pump waits for the previous pump
// of the same client to finish writing, so replies keep their order.

// flushAt is the batch size at which output is written even when more
// input is buffered.
const flushAt = 32 << 10

func (c *client) forward() {
	var out []byte
	var outTo *serverConn
	flush := func() bool {
		if len(out) == 0 {
			return true
		}
		c.swmu.Lock()
		_, err := outTo.conn.Write(out)
		c.swmu.Unlock()
		c.pool.stats.recv.Add(int64(len(out)))
		out = out[:0]
		if err != nil {
			c.fail(pgwire.Fatal(pgwire.CodeConnectionFailure, "server connection failed"))
			return false
		}
		return true
	}
	defer c.unlinkOnExit()
	for {
		m, err := c.r.Next()
		if err != nil {
			if pe, ok := asProtocolError(err); ok {
				c.fail(pe)
			}
			return
		}
		t := m.Type()
		if t == pgwire.MsgTerminate {
			return
		}
		c.mu.Lock()
		if c.dropped {
			c.mu.Unlock()
			c.drain()
			return
		}
		var now time.Time
		if c.q.empty() && len(c.pending) == 0 {
			now = time.Now()
			c.reqStart = now
		}
		sc := c.server
		for sc == nil && !c.queued {
			if now.IsZero() {
				now = time.Now()
			}
			c.waiting = true
			c.request = now
			adopted := c.adopted
			c.mu.Unlock()
			sc, err = c.pool.acquireOrQueue(c.srv.ctx, c, now)
			c.mu.Lock()
			if err != nil {
				c.waiting = false
				c.mu.Unlock()
				c.fail(err)
				return
			}
			if sc != nil {
				c.waiting = false
				c.linkLocked(sc)
				if c.track {
					out = c.syncSessionLocked(out[:0])
					outTo = sc
				}
				c.startPumpLocked(sc)
				break
			}
			if c.dropped {
				c.mu.Unlock()
				c.drain()
				return
			}
			if c.adopted == adopted {
				c.queued = true // still in the queue
				break
			}
			// Handed a connection meanwhile (adopt); if that link has
			// already ended (a settings replay alone can end it), queue
			// again.
			sc = c.server
		}
		if sc == nil {
			// Queued: whoever hands us a connection sends this.
			c.pending = append(c.pending, m.Raw...)
			stall := len(c.pending) >= flushAt
			if stall {
				c.stallLocked()
			}
			c.mu.Unlock()
			if stall && !c.awaitLink() {
				return
			}
			continue
		}
		if outTo != sc {
			// Bytes still buffered for an earlier link belong to a server
			// connection that died (a live link is only released with
			// nothing outstanding): drop them.
			out = out[:0]
			outTo = sc
		}
		out, err = c.processLocked(m, out)
		c.mu.Unlock()
		if err != nil {
			c.fail(err)
			return
		}
		if c.r.Buffered() == 0 || len(out) >= flushAt {
			if !flush() {
				return
			}
		}
	}
}

// processLocked accounts for client message m and appends what goes to
// the linked server for it to out.
func (c *client) processLocked(m pgwire.Message, out []byte) ([]byte, error) {
	switch t := m.Type(); {
	case pgwire.EndsRequest(t):
		c.dirty = false
		c.pool.stats.queries.Add(1)
	case pgwire.EndsCopy(t):
		c.dirty = false
	default:
		c.dirty = true
	}
	c.captureLocked(m)
	return c.translateLocked(m, out)
}

// startPumpLocked starts the pump of a link the client goroutine made.
func (c *client) startPumpLocked(sc *serverConn) {
	go c.pumpOn(sc, c.newPumpLocked())
}

// newPumpLocked numbers a new pump of c.
func (c *client) newPumpLocked() uint64 {
	n := c.pumpsStarted
	c.pumpsStarted++
	return n
}

// waitPumps waits until n pumps of c have ended.
func (c *client) waitPumps(n uint64) {
	c.mu.Lock()
	for c.pumpsEnded < n {
		if c.pumpWake == nil {
			c.pumpWake = make(chan struct{})
		}
		w := c.pumpWake
		c.mu.Unlock()
		<-w
		c.mu.Lock()
	}
	c.mu.Unlock()
}

// endPump records the end of one of c's pumps.
func (c *client) endPump() {
	c.mu.Lock()
	c.pumpsEnded++
	if c.pumpWake != nil {
		close(c.pumpWake)
		c.pumpWake = nil
	}
	c.mu.Unlock()
}

// linkLocked makes sc the client's server connection.
func (c *client) linkLocked(sc *serverConn) {
	c.server = sc
	if sc.stmts == nil {
		sc.stmts = newServerStmts()
	}
	c.sstmts = sc.stmts
	c.q.reset()
	c.pumpIdle = false
}

// unlinkLocked forgets the link (the caller releases sc).
func (c *client) unlinkLocked() {
	c.server = nil
	c.sstmts = nil
	c.pumpIdle = false
}

// pumpOn pumps sc's replies to c, then serves the queued clients sc is
// handed to.
func (c *client) pumpOn(sc *serverConn, n uint64) {
	if next := c.pump(sc, n); next != nil {
		servePumps(next, sc)
	}
}

// servePumps serves queued client c on sc, and each queued client sc is
// handed to after it, until a release leaves sc idle or closed.
func servePumps(c *client, sc *serverConn) {
	for c != nil {
		n, ok := c.adopt(sc)
		if !ok {
			// The client left while the connection came: pass it on.
			c = c.pool.releaseNext(sc, true, time.Now())
			continue
		}
		c = c.pump(sc, n)
	}
}

// pump forwards the server's replies to the client until the link ends,
// following the reply queue (replies.go). When it ends at a safe point
// the connection goes back to the pool, and if a queued client gets it,
// pump returns that client for its caller to serve next.
func (c *client) pump(sc *serverConn, n uint64) *client {
	c.waitPumps(n)
	out := c.pumpOut[:0]
	defer func() {
		if cap(out) <= flushAt*2 {
			c.pumpOut = out[:0] // read by the next pump after endPump
		}
		c.endPump()
	}()
	clientOK := true
	flush := func() {
		if len(out) > 0 && clientOK {
			if err := c.write(out); err != nil {
				clientOK = false
				_ = c.conn.Close() // the client goroutine cleans up
			}
			c.pool.stats.sent.Add(int64(len(out)))
		}
		out = out[:0]
	}
	xactStart := time.Now()
	for {
		c.mu.Lock()
		out = c.emitFakesLocked(out)
		if len(out) > 0 && sc.r.Buffered() == 0 {
			c.mu.Unlock()
			flush()
			continue
		}
		// Nothing to write and about to wait for the server: the client
		// goroutine may answer for the pooler directly meanwhile.
		c.pumpIdle = len(out) == 0 && c.server == sc
		c.mu.Unlock()

		m, err := sc.r.Next()
		if err != nil {
			flush()
			c.mu.Lock()
			own := c.server == sc
			if own {
				c.unlinkLocked()
			}
			c.pumpIdle = false
			c.mu.Unlock()
			if own {
				// The server went away or broke the protocol mid-request.
				c.pool.release(sc, false)
				if clientOK {
					c.fail(pgwire.Fatal(pgwire.CodeConnectionFailure, "server connection lost"))
				}
				_ = c.conn.Close()
			}
			return nil
		}
		c.mu.Lock()
		c.pumpIdle = false
		res := c.onReplyLocked(m)
		switch {
		case res.write:
			out = append(out, m.Raw...)
		case res.replace != nil:
			out = append(out, res.replace...)
		}
		if res.requestDone && res.write && c.retryHeld != nil {
			if c.retryLocked(sc, m) {
				out = out[:len(out)-len(m.Raw)] // the ReadyForQuery comes with the retry
				c.mu.Unlock()
				continue
			}
			// No retry: the client gets the error it was owed.
			out = append(out[:len(out)-len(m.Raw)], c.retryHeld...)
			out = append(out, m.Raw...)
			c.retryHeld = nil
		}
		release := false
		var st byte
		var now time.Time
		if m.Type() == pgwire.MsgReadyForQuery {
			now = time.Now()
			st, _ = pgwire.TxStatus(m)
			c.txStatus = st
			c.lastReady = now
			// c.server != sc when the client goroutine took the link on
			// exit; it owns the connection then.
			release = res.requestDone && c.server == sc && c.pool.mode == ModeTransaction &&
				st == pgwire.TxIdle && c.q.empty() && !c.dirty && !c.pinned
			if release {
				c.unlinkLocked()
			}
		}
		c.mu.Unlock()
		if m.Type() == pgwire.MsgReadyForQuery && st == pgwire.TxIdle {
			c.pool.stats.xacts.Add(1)
			c.pool.stats.xactUs.Add(now.Sub(xactStart).Microseconds())
			xactStart = now
		}
		if release {
			// A pump serving this client next waits for this one to
			// end, so it cannot overtake these replies; the next
			// client's are served after this flush and endPump.
			next := c.pool.releaseNext(sc, true, now)
			flush()
			return next
		}
		if len(out) >= flushAt {
			flush()
		}
	}
}

// unlinkOnExit returns the client's server connection when the client
// leaves: reset and kept if at a safe point, else closed (which also
// rolls back an open transaction).
func (c *client) unlinkOnExit() {
	c.mu.Lock()
	c.gone = true
	sc := c.server
	c.unlinkLocked()
	safe := c.q.empty() && !c.dirty && c.txStatus == pgwire.TxIdle
	pumps := c.pumpsStarted // gone: no pump starts after this
	queued := c.queued
	c.queued = false
	c.mu.Unlock()
	if queued {
		c.dequeue()
	}
	if sc == nil {
		c.waitPumps(pumps)
		return
	}
	// Stop the pump: it is blocked reading a server that owes nothing
	// (safe) or is about to be closed anyway.
	_ = sc.conn.SetReadDeadline(time.Now())
	c.waitPumps(pumps)
	_ = sc.conn.SetReadDeadline(time.Time{})
	c.mu.Lock()
	pinned := c.pinned
	c.mu.Unlock()
	if safe && sc.r.Buffered() == 0 && (c.pool.mode == ModeSession || pinned) {
		safe = sc.reset(c.srv.cfg.ServerResetQuery, c.srv.cfg.ServerConnectTimeout)
		if sc.stmts != nil { // DISCARD ALL dropped statements and settings
			sc.stmts.clear()
			sc.stmts.toClose = sc.stmts.toClose[:0]
			sc.stmts.session = ""
		}
	}
	c.pool.release(sc, safe && sc.r.Buffered() == 0)
}

func asProtocolError(err error) (*pgwire.Error, bool) {
	if err == nil {
		return nil, false
	}
	if errors.Is(err, pgwire.ErrMessageTooLong) {
		return pgwire.Fatal(pgwire.CodeProtocolViolation, "%v", err), true
	}
	return nil, false
}
