package pool

import (
	"bytes"

	"holdfast/internal/pgwire"
)

// translateLocked appends what the server must receive for client
// message m to out and queues what to do with the answer. Only Parse,
// Bind, Describe and Close naming a statement are rewritten (and only
// when statements are tracked, in transaction mode); every other message
// is forwarded as received. c.mu is held.
func (c *client) translateLocked(m pgwire.Message, out []byte) ([]byte, error) {
	t := m.Type()
	if c.track {
		switch t {
		case pgwire.MsgParse:
			return c.parseLocked(m, out)
		case pgwire.MsgBind:
			return c.bindLocked(m, out)
		case pgwire.MsgDescribe, pgwire.MsgClose:
			return c.targetLocked(m, out)
		case pgwire.MsgQuery:
			return c.queryLocked(m, out)
		case pgwire.MsgExecute:
			return c.executeLocked(m, out)
		}
	}
	var ans answers
	switch t {
	case pgwire.MsgParse:
		ans = ansParse
	case pgwire.MsgBind:
		ans = ansBind
	case pgwire.MsgDescribe:
		ans = ansDescribe
	case pgwire.MsgClose:
		ans = ansClose
	case pgwire.MsgExecute:
		ans = ansExecute
	case pgwire.MsgSync:
		ans = ansSync
	case pgwire.MsgQuery, pgwire.MsgFuncCall:
		ans = ansQuery
	default:
		return append(out, m.Raw...), nil // Flush, COPY data: no answer of their own
	}
	c.q.push(entry{act: actForward, ans: ans})
	return append(out, m.Raw...), nil
}

func malformed(t byte) error {
	return pgwire.Fatal(pgwire.CodeProtocolViolation, "invalid %q message", t)
}

func (c *client) parseLocked(m pgwire.Message, out []byte) ([]byte, error) {
	p, err := pgwire.DecodeParse(m.Body())
	if err != nil {
		return nil, malformed(m.Type())
	}
	if len(p.Name) == 0 {
		// Drivers send the same few texts unnamed over and over: scan
		// a text only when it differs from the last one.
		if c.lastUnnamed == nil || !bytes.Equal(p.Query, c.lastUnnamed) {
			c.lastUnnamed = append(c.lastUnnamed[:0], p.Query...)
			c.lastUnnamedSess = pgwire.ScanSessionBytes(p.Query)
		}
		c.unnamedSess, c.unnamedSQL = c.lastUnnamedSess, ""
		if c.unnamedSess.Kind != pgwire.SessOther {
			c.unnamedSQL = string(p.Query)
		}
		c.q.push(entry{act: actForward, ans: ansParse})
		return append(out, m.Raw...), nil
	}
	stats := &c.pool.prep.stats
	stats.ClientParses.Add(1)
	if _, dup := c.stmts[string(p.Name)]; dup {
		return c.injectErrorLocked(out, pgwire.Errorf(codeDuplicatePStatement,
			"prepared statement %q already exists", p.Name)), nil
	}
	st := c.pool.prep.intern(p.Tail)
	name := string(p.Name)
	c.stmts[name] = st
	if e := c.sstmts.get(st); e != nil {
		stats.Hits.Add(1)
		c.pushFakeLocked(entry{act: actFake, fake: pgwire.MsgParseComplete, cUndo: undoClientAdd, cName: name, cStmt: st})
		return out, nil
	}
	out = c.makeRoomLocked(out)
	e := &srvStmt{stmt: st, name: newServerName()}
	c.sstmts.add(e)
	stats.ServerParses.Add(1)
	c.q.push(entry{act: actForward, ans: ansParse, cUndo: undoClientAdd, cName: name, cStmt: st, srvAdd: e})
	return pgwire.AppendParse(out, e.name, st.tail), nil
}

func (c *client) bindLocked(m pgwire.Message, out []byte) ([]byte, error) {
	b, err := pgwire.DecodeBind(m.Body())
	if err != nil {
		return nil, malformed(m.Type())
	}
	if len(b.Statement) == 0 {
		if len(b.Portal) == 0 {
			c.portalSess, c.portalSQL = c.unnamedSess, c.unnamedSQL
		}
		c.q.push(entry{act: actForward, ans: ansBind})
		return append(out, m.Raw...), nil
	}
	st := c.stmts[string(b.Statement)]
	if st == nil {
		return c.injectErrorLocked(out, pgwire.Errorf(codeInvalidPStatement,
			"prepared statement %q does not exist", b.Statement)), nil
	}
	if len(b.Portal) == 0 {
		c.portalSess, c.portalSQL = st.sess, st.sql
	}
	retry := c.rstate == captureBind
	if retry {
		c.rstate = capturing
	}
	out, e := c.ensureLocked(out, st)
	c.q.push(entry{act: actForward, ans: ansBind, srvUse: e, retry: retry})
	return pgwire.AppendBind(out, b, e.name), nil
}

func (c *client) targetLocked(m pgwire.Message, out []byte) ([]byte, error) {
	kind, name, err := pgwire.DecodeTarget(m.Body())
	if err != nil {
		return nil, malformed(m.Type())
	}
	ans := ansDescribe
	if m.Type() == pgwire.MsgClose {
		ans = ansClose
	}
	if kind != pgwire.TargetStatement || len(name) == 0 {
		c.q.push(entry{act: actForward, ans: ans})
		return append(out, m.Raw...), nil
	}
	st := c.stmts[string(name)]
	if ans == ansClose {
		// A server statement may be shared: forget the client's name and
		// answer CloseComplete (also for an unknown name, as PostgreSQL).
		e := entry{act: actFake, fake: pgwire.MsgCloseComplete}
		if st != nil {
			delete(c.stmts, string(name))
			e.cUndo, e.cName, e.cStmt = undoClientDel, string(name), st
		}
		c.pushFakeLocked(e)
		return out, nil
	}
	if st == nil {
		return c.injectErrorLocked(out, pgwire.Errorf(codeInvalidPStatement,
			"prepared statement %q does not exist", name)), nil
	}
	out, e := c.ensureLocked(out, st)
	c.q.push(entry{act: actForward, ans: ansDescribe, srvUse: e})
	return pgwire.AppendTarget(out, pgwire.MsgDescribe, pgwire.TargetStatement, e.name), nil
}

// ensureLocked makes sure st is prepared on the linked server connection,
// injecting a Parse whose answer is dropped if it is not.
func (c *client) ensureLocked(out []byte, st *stmtInfo) ([]byte, *srvStmt) {
	stats := &c.pool.prep.stats
	if e := c.sstmts.get(st); e != nil {
		stats.Hits.Add(1)
		return out, e
	}
	out = c.makeRoomLocked(out)
	e := &srvStmt{stmt: st, name: newServerName()}
	c.sstmts.add(e)
	stats.ServerParses.Add(1)
	if st.isSQL() {
		return c.ensureSQLInPipelineLocked(out, e), e
	}
	c.q.push(entry{act: actSkip, ans: ansParse, srvAdd: e})
	return pgwire.AppendParse(out, e.name, st.tail), e
}

// makeRoomLocked closes stale statements and, when the cache is full, the
// least recently used one, before one more is prepared.
func (c *client) makeRoomLocked(out []byte) []byte {
	s := c.sstmts
	for _, name := range s.toClose {
		out = pgwire.AppendTarget(out, pgwire.MsgClose, pgwire.TargetStatement, name)
		c.q.push(entry{act: actSkip, ans: ansClose})
	}
	s.toClose = s.toClose[:0]
	for s.len() >= c.cacheN {
		old := s.oldest()
		s.remove(old)
		c.pool.prep.stats.Evictions.Add(1)
		out = pgwire.AppendTarget(out, pgwire.MsgClose, pgwire.TargetStatement, old.name)
		c.q.push(entry{act: actSkip, ans: ansClose, srvDel: old})
	}
	return out
}

// missingStatement names a server statement that never exists: Describe
// of it makes PostgreSQL fail the pipeline exactly as the client's own
// misuse would (error, skip until Sync, transaction aborted).
const missingStatement = "holdfast.missing"

// injectErrorLocked makes the server fail this point of the pipeline and
// queues err to be sent in place of the server's error.
func (c *client) injectErrorLocked(out []byte, err *pgwire.Error) []byte {
	c.pool.prep.stats.Errors.Add(1)
	c.q.push(entry{act: actReplaceErr, ans: ansDescribe, err: err})
	return pgwire.AppendTarget(out, pgwire.MsgDescribe, pgwire.TargetStatement, missingStatement)
}

// pushFakeLocked queues a synthesised reply; when nothing is outstanding
// and the pump is waiting on the server, it is written at once (the pump
// would otherwise only notice it with the next server message).
func (c *client) pushFakeLocked(e entry) {
	if c.q.empty() && c.pumpIdle {
		_ = c.write(pgwire.AppendEmpty(nil, e.fake))
		return
	}
	c.q.push(e)
}

// SQLSTATEs of PostgreSQL's own prepared-statement errors.
const (
	codeDuplicatePStatement = "42P05"
	codeInvalidPStatement   = "26000"
	codeCachedPlanChanged   = "0A000"
)

// executeLocked forwards an Execute, noting what it does to session
// state when it runs the unnamed portal.
func (c *client) executeLocked(m pgwire.Message, out []byte) ([]byte, error) {
	var u *sessUndo
	if body := m.Body(); len(body) > 0 && body[0] == 0 && c.portalSess.Kind != pgwire.SessOther {
		u = c.noteSessionLocked(c.portalSQL, c.portalSess)
	}
	c.q.push(entry{act: actForward, ans: ansExecute, sess: u})
	return append(out, m.Raw...), nil
}
