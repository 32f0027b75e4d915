package pool

import (
	"encoding/binary"
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
// the messages it queued. It returns the pump's ordering channels (see
// pump); ok is false if c has left.
func (c *client) adopt(sc *serverConn) (prev, done chan struct{}, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || c.server != nil {
		return nil, nil, false
	}
	c.queued = false
	c.waiting = false
	c.stopQueueTimers()
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
	prev = c.pumpDone
	done = make(chan struct{})
	c.pumpDone = done
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
	return prev, done, true
}

// armQueueTimers starts the timers of a client queueing as w.
func (c *client) armQueueTimers(w *waiter) {
	if c.qTimer == nil {
		c.qTimer = time.AfterFunc(w.timeout, c.onQueueTimeout)
	} else {
		c.qTimer.Reset(w.timeout)
	}
	if w.reserveAfter <= 0 {
		return
	}
	if c.qReserve == nil {
		c.qReserve = time.AfterFunc(w.reserveAfter, c.onReserveTimeout)
	} else {
		c.qReserve.Reset(w.reserveAfter)
	}
}

func (c *client) stopQueueTimers() {
	if c.qTimer != nil {
		c.qTimer.Stop()
	}
	if c.qReserve != nil {
		c.qReserve.Stop()
	}
}

// A timer may fire late, after the client was served and queued again:
// each callback acts only if the client has waited its full time since
// it last queued.

// onQueueTimeout fails a client that waited longer than
// query_wait_timeout, as PgBouncer does.
func (c *client) onQueueTimeout() {
	p := c.pool
	p.mu.Lock()
	w := &c.qw
	if time.Since(w.since) < w.timeout || !p.removeWaiterLocked(w) {
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.stats.observeWait(time.Since(w.since))
	p.srv.errs.add(errWaitTimeoutKind)
	c.failQueued(errWaitTimeout)
}

// onReserveTimeout opens a reserve connection for a client that waited
// reserve_pool_timeout, if the reserve has room.
func (c *client) onReserveTimeout() {
	p := c.pool
	w := &c.qw
	p.mu.Lock()
	late := time.Since(w.since) >= w.reserveAfter
	p.mu.Unlock()
	if late {
		p.reserveDial(w)
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
	c.stopQueueTimers()
	c.unstallLocked()
	c.mu.Unlock()
	c.fail(err)
	_ = c.conn.Close()
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
	c.stopQueueTimers()
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
// false if it was dropped instead.
func (c *client) awaitLink() bool {
	<-c.wake
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.dropped
}
