package pool

import (
	"encoding/binary"
	"io"
	"time"

	"holdfast/internal/pgwire"
)

// Queued clients. A client whose request finds no free server connection
// is queued in the pool (acquireOrQueue) and its goroutine goes on
// reading, keeping the messages in pending. Whoever frees a connection
// next (a pump at a safe point, a background dial, RESUME) hands it to
// the first queued client: adopt links them and sends the pending
// messages, and the same goroutine pumps the replies. A hand-off thus
// costs no goroutine wake-up or start, as PgBouncer's single loop
// activates a waiting client with no context switch.
//
// Lock order: a hand-off takes the client off the queue under the pool's
// lock and links it under the client's, never both at once; the client
// marks itself gone before it leaves, so a hand-off in flight passes the
// connection on.

// adopt links queued client c to sc, which the pool handed it, and sends
// the messages it queued. It returns the number of the pump to run (see
// pump); ok is false if c has left.
func (c *client) adopt(sc *serverConn) (pump uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || c.server != nil {
		return 0, false
	}
	c.queued = false
	c.waiting = false
	c.adopted++
	c.pool.stats.observeWait(time.Since(c.request))
	c.linkLocked(sc)
	out := c.adoptOut[:0]
	if c.track {
		out = c.syncSessionLocked(out)
	}
	var err error
	for p := c.pending; len(p) > 0 && err == nil; {
		n := 1 + int(binary.BigEndian.Uint32(p[1:5]))
		out, err = c.processLocked(pgwire.Message{Raw: p[:n]}, out)
		p = p[n:]
	}
	c.pending = c.pending[:0]
	pump = c.newPumpLocked()
	c.unstallLocked()
	if err != nil {
		// As the client goroutine does with a bad message: the client
		// is told and dropped; its exit closes the connection, which
		// holds requests never sent.
		c.fail(err)
		_ = c.conn.Close()
		out = out[:0]
	}
	if len(out) > 0 {
		c.swmu.Lock()
		_, werr := sc.conn.Write(out)
		c.swmu.Unlock()
		c.pool.stats.recv.Add(int64(len(out)))
		if werr != nil {
			c.fail(pgwire.Fatal(pgwire.CodeConnectionFailure, "server connection failed"))
			_ = c.conn.Close()
		}
	}
	if cap(out) <= flushAt*2 {
		c.adoptOut = out[:0]
	}
	return pump, true
}

// checkQueue fails the queued clients that waited query_wait_timeout
// and opens reserve connections, while the reserve has room, for those
// that waited reserve_pool_timeout, oldest first. It runs with the other
// timeouts (maintain), within a quarter of a second of their values.
func (p *pool) checkQueue(now time.Time, waitTimeout, reserveAfter time.Duration) {
	var expired []*waiter
	p.mu.Lock()
	kept := p.waiters[:0]
	for _, w := range p.waiters {
		switch {
		case w.c == nil: // a goroutine in acquire keeps its own timers
		case now.Sub(w.since) >= waitTimeout:
			expired = append(expired, w)
			continue
		case p.reserve > 0 && now.Sub(w.since) >= reserveAfter && p.reserveRoomLocked():
			p.openReserveLocked(w)
			continue
		}
		kept = append(kept, w)
	}
	clear(p.waiters[len(kept):])
	p.waiters = kept
	p.mu.Unlock()
	for _, w := range expired {
		p.stats.observeWait(now.Sub(w.since))
		p.srv.errs.add(errWaitTimeoutKind)
		w.c.failQueued(errWaitTimeout)
	}
}

// failQueued tells a client taken off the queue why it got no
// connection and drops it.
func (c *client) failQueued(err error) {
	c.mu.Lock()
	c.queued = false
	c.waiting = false
	c.dropped = true
	c.pending = c.pending[:0]
	c.unstallLocked()
	c.mu.Unlock()
	c.fail(err)
	// The error, then end of stream; the client goroutine reads and
	// drops what the client still sends (drain), for a bounded time: a
	// close with unread input would reset the connection, and the client
	// could lose the error.
	if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		_ = c.conn.SetReadDeadline(time.Now().Add(drainTime))
		return
	}
	_ = c.conn.Close()
}

// drainTime bounds how long a dropped client's input is drained.
const drainTime = time.Second

// drain reads and drops what a dropped client still sends, until it
// closes or the deadline failQueued set passes.
func (c *client) drain() {
	_, _ = io.Copy(io.Discard, c.conn)
}

// dequeue takes a leaving client off the queue. If a hand-off has
// already taken it, adopt sees the client gone and passes the connection
// on.
func (c *client) dequeue() {
	p := c.pool
	p.mu.Lock()
	p.removeWaiterLocked(&c.qw)
	p.mu.Unlock()
	c.mu.Lock()
	c.unstallLocked()
	c.mu.Unlock()
}

// stallLocked makes the client goroutine stop reading (awaitLink) until
// the queued messages are sent: a client may not queue without bound.
func (c *client) stallLocked() {
	if c.wake == nil {
		c.wake = make(chan struct{}, 1)
	}
	c.stalled = true
}

func (c *client) unstallLocked() {
	if c.stalled {
		c.stalled = false
		c.wake <- struct{}{}
	}
}

// awaitLink waits until a stalled client's queued messages are sent;
// false if it was dropped instead (its input is drained then).
func (c *client) awaitLink() bool {
	<-c.wake
	c.mu.Lock()
	dropped := c.dropped
	c.mu.Unlock()
	if dropped {
		c.drain()
	}
	return !dropped
}
