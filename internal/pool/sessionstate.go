package pool

import (
	"strings"

	"holdfast/internal/pgwire"
)

// Session state in transaction mode (issue 6): what a client sets must
// not leak to the next client of a server connection, and must not be
// lost when the client moves to another one. Per case:
//
//   - SET name … / RESET name / RESET ALL / DISCARD ALL, as a simple
//     Query of one statement or an extended-protocol Execute, outside a
//     transaction block: recorded as the client's settings. Each server
//     connection remembers whose settings it has; when a client lands on
//     one holding other settings, the pooler first sends
//     "RESET ALL; SET …" (the client's own, in order), its replies
//     dropped. A client without settings on a clean connection costs
//     nothing.
//   - SET LOCAL, SET TRANSACTION: end with the transaction; nothing to do.
//   - A SET inside a transaction block, in a multi-statement Query, SET
//     ROLE/SESSION AUTHORIZATION, set_config(): not replayed; the server
//     connection is marked unknown, so the next client landing on it (the
//     same one included) gets RESET ALL first. Such a setting lasts until
//     the client's link ends.
//   - LISTEN, CREATE TEMP TABLE, DECLARE … WITH HOLD, session advisory
//     locks (pg_advisory_lock and friends): bound to the server session,
//     so the client is pinned: it keeps its server connection until it
//     disconnects (counted as pins in SHOW PREPARED_STATEMENTS). When it
//     leaves, the connection is reset with server_reset_query (DISCARD
//     ALL: temp tables, LISTEN, advisory locks, WITH HOLD cursors,
//     settings and prepared statements all go) before anyone else gets
//     it; if it leaves mid-transaction the connection is closed, which
//     rolls the transaction back.
//   - Startup parameters (application_name, search_path, options) stay
//     those of the pooler's server login; clients set what they need
//     with SET, which is replayed as above.

// sessUnknown marks a server connection whose settings the pooler cannot
// name: the next link resets it.
const sessUnknown = "\x00unknown"

type setting struct{ name, sql string }

// sessUndo restores the client's settings when the SET failed.
type sessUndo struct {
	settings []setting
	key      string
	server   string
}

// syncSessionLocked, at the start of a link, brings the server
// connection's settings to the client's.
func (c *client) syncSessionLocked(out []byte) []byte {
	s := c.sstmts
	if s.session == c.sessKey {
		return out
	}
	q := c.sessKey
	if s.session != "" {
		q = "RESET ALL;" + q
	}
	s.session = c.sessKey
	c.pool.prep.stats.Replays.Add(1)
	c.q.push(entry{act: actSkip, ans: ansQuery, replay: true})
	return pgwire.AppendQuery(out, q)
}

// noteSessionLocked records what statement text sql does to the session
// (it is being sent to the server now) and returns the undo for a
// failure, if any.
func (c *client) noteSessionLocked(sql string, sc pgwire.SessionCommand) *sessUndo {
	switch sc.Kind {
	case pgwire.SessOther, pgwire.SessLocal:
		return nil
	case pgwire.SessPin:
		if !c.pinned {
			c.pinned = true
			c.pool.prep.stats.Pins.Add(1)
		}
		return nil
	case pgwire.SessUntracked:
		c.sstmts.session = sessUnknown
		return nil
	}
	if !sc.Single || c.txStatus != pgwire.TxIdle {
		c.sstmts.session = sessUnknown
		return nil
	}
	u := &sessUndo{settings: c.settings, key: c.sessKey, server: c.sstmts.session}
	var next []setting
	for _, st := range c.settings {
		if sc.Kind == pgwire.SessResetAll || st.name == sc.Name {
			continue
		}
		next = append(next, st)
	}
	if sc.Kind == pgwire.SessSet {
		next = append(next, setting{sc.Name, strings.TrimRight(strings.TrimSpace(sql), "; \t\n")})
	}
	c.settings = next
	var b strings.Builder
	for _, st := range next {
		b.WriteString(st.sql)
		b.WriteString(";")
	}
	c.sessKey = b.String()
	c.sstmts.session = c.sessKey
	return u
}

// undoSessionLocked takes back a failed SET/RESET.
func (c *client) undoSessionLocked(u *sessUndo) {
	c.settings, c.sessKey = u.settings, u.key
	if c.sstmts != nil {
		c.sstmts.session = u.server
	}
}
