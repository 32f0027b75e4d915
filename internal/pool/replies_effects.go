package pool

import (
	"bytes"

	"holdfast/internal/pgwire"
)

// onServerErrorLocked handles an ErrorResponse answering e (a forwarded
// extended-protocol message) and returns the bytes to send instead, or
// nil to forward it as received.
func (c *client) onServerErrorLocked(e *entry, m pgwire.Message) []byte {
	if e.srvUse == nil || c.sstmts == nil {
		return nil
	}
	switch pgwire.ErrorCode(m.Body()) {
	case codeInvalidPStatement:
		// The server no longer has it (an earlier Parse in the pipeline
		// failed, or SQL DEALLOCATE dropped it): prepare it again next
		// time, and name the client's statement in the error.
		c.sstmts.remove(e.srvUse)
		er, err := pgwire.ErrorResponse(m)
		if err != nil {
			return nil
		}
		name := e.cName
		if name == "" {
			// Bind and Describe do not keep the client's name (it would
			// cost an allocation per message); find it on this rare path.
			for n, st := range c.stmts {
				if st == e.srvUse.stmt {
					name = n
					break
				}
			}
		}
		if name == "" {
			return nil
		}
		er.Message = "prepared statement \"" + name + "\" does not exist"
		return pgwire.Encode(nil, er)
	case codeCachedPlanChanged:
		// "cached plan must not change result type" after a schema
		// change: close it and prepare it again next time.
		if c.sstmts.byStmt[e.srvUse.stmt] == e.srvUse {
			c.sstmts.remove(e.srvUse)
			c.sstmts.toClose = append(c.sstmts.toClose, e.srvUse.name)
			c.pool.prep.stats.Reprepares.Add(1)
		}
		if e.retry && c.rstate == captured {
			// Hold the error: if the request turns out to have been outside
			// a transaction, it is retried at its ReadyForQuery instead.
			c.retryHeld = append([]byte(nil), m.Raw...)
			return noBytes
		}
	}
	return nil
}

// noBytes replaces a server message with nothing.
var noBytes = []byte{}

var (
	tagDeallocateAll = []byte("DEALLOCATE ALL")
	tagDiscardAll    = []byte("DISCARD ALL")
)

// onCommandCompleteLocked notices commands that drop every prepared
// statement of the session: the server connection lost them all, and
// the client's names are gone as PostgreSQL would have them gone.
func (c *client) onCommandCompleteLocked(m pgwire.Message) {
	tag := pgwire.CommandTag(m.Body())
	if !bytes.Equal(tag, tagDeallocateAll) && !bytes.Equal(tag, tagDiscardAll) {
		return
	}
	clear(c.stmts)
	if c.sstmts != nil {
		c.sstmts.clear()
		c.sstmts.toClose = c.sstmts.toClose[:0]
	}
}
