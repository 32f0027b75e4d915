package pool

import (
	"holdfast/internal/pgwire"
)

// Retry after a schema change. PostgreSQL refuses to run a prepared
// statement whose result type changed since it was prepared ("cached
// plan must not change result type", SQLSTATE 0A000) — after ALTER TABLE
// on a table a shared statement reads. The pooler closes the stale server
// statement and prepares it again next time (replies_effects.go). When
// the failed request was a plain Bind/Describe/Execute…/Sync of a named
// statement (possibly after named Parses, which node-postgres and Prisma
// send the first time and which the pooler may have answered from a
// stale server statement), sent outside a transaction with nothing else
// in flight, nothing of it ran but the Parses, whose answers the client
// already has; so the pooler re-prepares the statement and sends the
// request again without them, once; the client sees only the retried
// answer. A simple Query "EXECUTE name(…)" is retried the same way.
// Inside a transaction (or in a longer pipeline) the error is passed on.

type captureState uint8

const (
	captureNone  captureState = iota
	captureParse              // a request started with named Parses
	captureBind               // a request may start: the next message is a named Bind
	capturing                 // the request is being copied
	captured                  // copied up to its Sync
)

// captureLocked copies the client's request while it can be retried.
func (c *client) captureLocked(m pgwire.Message) {
	if !c.track {
		return
	}
	t := m.Type()
	switch c.rstate {
	case captureNone, captureBind, captured:
		c.rstate = captureNone
		if (t == pgwire.MsgBind || t == pgwire.MsgParse) && c.q.empty() && c.txStatus == pgwire.TxIdle && c.retryHeld == nil {
			c.rbuf = c.rbuf[:0]
			c.captureStartLocked(m)
		}
	case captureParse:
		c.captureStartLocked(m)
	case capturing:
		switch t {
		case pgwire.MsgBind, pgwire.MsgDescribe, pgwire.MsgExecute:
			c.rbuf = append(c.rbuf, m.Raw...)
		case pgwire.MsgSync:
			c.rbuf = append(c.rbuf, m.Raw...)
			c.rstate = captured
		default:
			c.rstate = captureNone
		}
	}
}

// captureStartLocked copies a named Parse or Bind that may start a
// retryable request.
func (c *client) captureStartLocked(m pgwire.Message) {
	c.rstate = captureNone
	switch m.Type() {
	case pgwire.MsgParse:
		if p, err := pgwire.DecodeParse(m.Body()); err == nil && len(p.Name) > 0 {
			c.rbuf = append(c.rbuf, m.Raw...)
			c.rstate = captureParse
		}
	case pgwire.MsgBind:
		if b, err := pgwire.DecodeBind(m.Body()); err == nil && len(b.Statement) > 0 {
			c.rbuf = append(c.rbuf, m.Raw...)
			c.rstate = captureBind // bindLocked marks its entry and moves on
		}
	}
}

// retryLocked runs at the ReadyForQuery m that ends a request whose Bind
// failed with 0A000. It sends the request again and reports true when the
// request was outside a transaction and nothing followed it; m and the
// held error are then dropped.
func (c *client) retryLocked(sc *serverConn, m pgwire.Message) bool {
	st, _ := pgwire.TxStatus(m)
	if st != pgwire.TxIdle || !c.q.empty() || c.rstate != captured || c.server != sc {
		return false
	}
	c.retryHeld = nil
	c.rstate = captureNone
	c.inRetry = true // once: the retried request is not retried again
	defer func() { c.inRetry = false }()
	var out []byte
	for rest := c.rbuf; len(rest) >= 5; {
		n := 1 + int(uint32(rest[1])<<24|uint32(rest[2])<<16|uint32(rest[3])<<8|uint32(rest[4]))
		msg := pgwire.Message{Raw: rest[:n]}
		rest = rest[n:]
		if msg.Type() == pgwire.MsgParse {
			continue // done, and answered, before the Bind failed
		}
		var err error
		if out, err = c.translateLocked(msg, out); err != nil {
			return false
		}
	}
	c.pool.prep.stats.Retries.Add(1)
	c.swmu.Lock()
	_, err := sc.conn.Write(out)
	c.swmu.Unlock()
	return err == nil
}
