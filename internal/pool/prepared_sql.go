package pool

import (
	"strings"

	"holdfast/internal/pgwire"
)

// SQL-level prepared statements (beyond PgBouncer). PREPARE, EXECUTE and
// DEALLOCATE share PostgreSQL's namespace with protocol-level statements,
// so they share the client's map and the server caches too; the pooler
// rewrites names in the SQL text:
//
//   - PREPARE name … AS …: the statement is recorded under its content
//     (the text after the name) and prepared on the server as
//     "PREPARE hf_<n> …"; if the server already has that content the
//     Query is replaced by an empty one whose EmptyQueryResponse is
//     answered as CommandComplete "PREPARE". A name in use gets 42P05.
//   - EXECUTE name(…): the name is rewritten; a server connection missing
//     the statement gets "PREPARE hf_<n> …" first, its replies dropped
//     (an error in it is passed on).
//   - DEALLOCATE [PREPARE] name: the client's name is forgotten and the
//     Query is answered as above (a server statement may be shared); in a
//     failed transaction it goes to the server, which refuses it as
//     PostgreSQL would. DEALLOCATE ALL drops everything (replies_effects.go).
//
// The rewrite applies to a Query holding one statement; a name unknown to
// the pooler, and PREPARE/EXECUTE/DEALLOCATE inside a multi-statement
// Query, are forwarded as written (PostgreSQL then answers for names it
// knows of, which in transaction mode are only the pooler's).

// sqlTagPrefix marks a registry key as a SQL-level statement's text.
const sqlTagPrefix = "\x00sql:"

func (c *client) queryLocked(m pgwire.Message, out []byte) ([]byte, error) {
	body := m.Body()
	if len(body) == 0 || body[len(body)-1] != 0 {
		return nil, malformed(m.Type())
	}
	if pgwire.Plain(body[:len(body)-1]) {
		c.q.push(entry{act: actForward, ans: ansQuery})
		return append(out, m.Raw...), nil
	}
	sql := string(body[:len(body)-1])
	cmd, ok := pgwire.ScanCommand(sql)
	if !ok || !cmd.Single || cmd.Verb == pgwire.VerbDeallocateAll {
		u := c.noteSessionLocked(sql, pgwire.ScanSession(sql))
		c.q.push(entry{act: actForward, ans: ansQuery, sess: u})
		return append(out, m.Raw...), nil
	}
	if c.txStatus == pgwire.TxFailed && c.q.empty() {
		// PostgreSQL refuses every command but ROLLBACK here; let it.
		c.q.push(entry{act: actForward, ans: ansQuery})
		return append(out, m.Raw...), nil
	}
	if c.stmts[cmd.Name] == nil && cmd.Verb != pgwire.VerbPrepare && strings.HasPrefix(cmd.Name, serverNamePrefix) {
		// One of the pooler's own server names, which this client never
		// prepared: it does not exist for this client.
		c.pool.prep.stats.Errors.Add(1)
		c.q.push(entry{act: actReplaceErr, ans: ansQuery,
			err: pgwire.Errorf(codeInvalidPStatement, "prepared statement %q does not exist", cmd.Name)})
		return pgwire.AppendQuery(out, `DEALLOCATE "`+missingStatement+`"`), nil
	}
	switch cmd.Verb {
	case pgwire.VerbPrepare:
		return c.sqlPrepareLocked(m, out, sql, cmd), nil
	case pgwire.VerbExecute:
		st := c.stmts[cmd.Name]
		if st == nil {
			break
		}
		// Outside a transaction with nothing in flight the EXECUTE can be
		// retried after a schema change (retry.go).
		retry := c.q.empty() && c.txStatus == pgwire.TxIdle && c.retryHeld == nil && !c.inRetry
		if retry {
			c.rbuf = append(c.rbuf[:0], m.Raw...)
			c.rstate = captured
		}
		out, e := c.ensureInQueryLocked(out, st)
		c.q.push(entry{act: actForward, ans: ansQuery, srvUse: e, cName: cmd.Name, retry: retry})
		return pgwire.AppendQuery(out, sql[:cmd.NameStart]+e.name+sql[cmd.NameEnd:]), nil
	case pgwire.VerbDeallocate:
		st := c.stmts[cmd.Name]
		if st == nil {
			break
		}
		delete(c.stmts, cmd.Name)
		c.q.push(entry{act: actForward, ans: ansQuery, emptyTag: "DEALLOCATE",
			cUndo: undoClientDel, cName: cmd.Name, cStmt: st})
		return pgwire.AppendQuery(out, ""), nil
	}
	c.q.push(entry{act: actForward, ans: ansQuery})
	return append(out, m.Raw...), nil
}

func (c *client) sqlPrepareLocked(m pgwire.Message, out []byte, sql string, cmd pgwire.Command) []byte {
	if _, dup := c.stmts[cmd.Name]; dup {
		c.pool.prep.stats.Errors.Add(1)
		c.q.push(entry{act: actReplaceErr, ans: ansQuery,
			err: pgwire.Errorf(codeDuplicatePStatement, "prepared statement %q already exists", cmd.Name)})
		return pgwire.AppendQuery(out, `DEALLOCATE "`+missingStatement+`"`)
	}
	st := c.pool.prep.intern([]byte(sqlTagPrefix + sql[cmd.NameEnd:]))
	c.stmts[cmd.Name] = st
	c.pool.prep.stats.ClientParses.Add(1)
	if e := c.sstmts.get(st); e != nil {
		c.pool.prep.stats.Hits.Add(1)
		c.q.push(entry{act: actForward, ans: ansQuery, emptyTag: "PREPARE",
			cUndo: undoClientAdd, cName: cmd.Name, cStmt: st})
		return pgwire.AppendQuery(out, "")
	}
	out = c.makeRoomLocked(out)
	e := &srvStmt{stmt: st, name: newServerName()}
	c.sstmts.add(e)
	c.pool.prep.stats.ServerParses.Add(1)
	c.q.push(entry{act: actForward, ans: ansQuery, cUndo: undoClientAdd, cName: cmd.Name, cStmt: st, srvAdd: e})
	return pgwire.AppendQuery(out, sql[:cmd.NameStart]+e.name+sql[cmd.NameEnd:])
}

// ensureInQueryLocked prepares st on the linked server before a simple
// Query that uses it.
func (c *client) ensureInQueryLocked(out []byte, st *stmtInfo) ([]byte, *srvStmt) {
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
		c.q.push(entry{act: actSkip, ans: ansQuery, srvAdd: e})
		return pgwire.AppendQuery(out, "PREPARE "+e.name+st.sqlText()), e
	}
	// A protocol-level statement EXECUTEd from SQL.
	c.q.push(entry{act: actSkip, ans: ansParse, srvAdd: e})
	out = pgwire.AppendParse(out, e.name, st.tail)
	c.q.push(entry{act: actSkip, ans: ansSync})
	return pgwire.AppendEmpty(out, pgwire.MsgSync), e
}

// isSQL reports whether st came from SQL PREPARE.
func (st *stmtInfo) isSQL() bool {
	return len(st.tail) >= len(sqlTagPrefix) && string(st.tail[:len(sqlTagPrefix)]) == sqlTagPrefix
}

// sqlText is the PREPARE text after the name.
func (st *stmtInfo) sqlText() string { return string(st.tail[len(sqlTagPrefix):]) }

// ensureSQLInPipelineLocked prepares a SQL-level statement on the linked
// server in the middle of an extended-protocol pipeline (a Bind or
// Describe naming it): Parse/Bind/Execute of the PREPARE on the unnamed
// statement and portal, answers dropped.
func (c *client) ensureSQLInPipelineLocked(out []byte, e *srvStmt) []byte {
	out = pgwire.AppendParse(out, "", append(append([]byte("PREPARE "+e.name), e.stmt.sqlText()...), 0, 0, 0))
	c.q.push(entry{act: actSkip, ans: ansParse, srvAdd: e})
	out = append(out, pgwire.MsgBind, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0)
	c.q.push(entry{act: actSkip, ans: ansBind})
	out = append(out, pgwire.MsgExecute, 0, 0, 0, 9, 0, 0, 0, 0, 0)
	c.q.push(entry{act: actSkip, ans: ansExecute})
	return out
}
