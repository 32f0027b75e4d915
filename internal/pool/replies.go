package pool

import (
	"github.com/jackc/pgx/v5/pgproto3"

	"holdfast/internal/pgwire"
)

// The reply queue. Every message the forwarder sends to a server that
// the server answers gets an entry, in order, saying what to do with the
// answer: forward it, drop it (a message the pooler injected), or put an
// error of the pooler's own in its place. Messages the pooler answers
// itself (Parse of a statement the server has, Close of a named
// statement) get an entry holding the synthesised reply, so it reaches
// the client between the answers of the messages around it.
//
// After an ErrorResponse to an extended-protocol message PostgreSQL
// skips every message until Sync. The queue does the same: the entries
// up to the Sync are dropped (synthesised replies are not sent) and their
// bookkeeping is undone in reverse order, so the client's map and the
// server's cache again say what PostgreSQL holds.

type action uint8

const (
	actForward    action = iota // forward the server's reply
	actSkip                     // the pooler injected the message: drop the reply (errors still go to the client)
	actFake                     // not sent: the pooler answers with fake
	actReplaceErr               // the server answers with an error; send err instead
)

// answers is the message an entry's reply answers; it decides which
// server message ends the reply.
type answers uint8

const (
	ansNone answers = iota
	ansParse
	ansBind
	ansDescribe
	ansExecute
	ansClose
	ansSync
	ansQuery // simple Query and FunctionCall: ends with ReadyForQuery
)

// undo says how to take back an entry's bookkeeping when the server
// skipped (or failed) its message.
type undo uint8

const (
	undoNone undo = iota
	undoClientAdd
	undoClientDel
)

type entry struct {
	act  action
	ans  answers
	fake byte // actFake: the reply type (ParseComplete, CloseComplete)

	// Client map change made for this message.
	cUndo undo
	cName string
	cStmt *stmtInfo // added statement, or the one a Close removed

	// Server cache change made for this message: srvAdd was added (a
	// Parse), srvDel was removed (a Close).
	srvAdd, srvDel *srvStmt

	// srvUse is the statement a Bind/Describe used, for errors about it.
	srvUse *srvStmt
	err    *pgwire.Error // actReplaceErr
	retry  bool          // a failure of this Bind may be retried (retry.go)
	// emptyTag: the pooler sent an empty Query in place of the client's;
	// its EmptyQueryResponse is answered as CommandComplete emptyTag.
	emptyTag string
	sess     *sessUndo // a SET/RESET to take back if it fails
	replay   bool      // the settings replay: a failure leaves the session unknown
}

// replyQueue is a FIFO of entries, reusing its storage.
type replyQueue struct {
	items []entry
	head  int
}

func (q *replyQueue) push(e entry) { q.items = append(q.items, e) }

func (q *replyQueue) empty() bool { return q.head == len(q.items) }

func (q *replyQueue) front() *entry {
	if q.empty() {
		return nil
	}
	return &q.items[q.head]
}

func (q *replyQueue) pop() {
	q.items[q.head] = entry{}
	q.head++
	if q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
	}
}

func (q *replyQueue) reset() {
	clear(q.items)
	q.items = q.items[:0]
	q.head = 0
}

// ends reports whether a server message of type t ends the reply to a.
func (a answers) ends(t byte) bool {
	switch a {
	case ansParse:
		return t == pgwire.MsgParseComplete || t == pgwire.MsgErrorResponse
	case ansBind:
		return t == pgwire.MsgBindComplete || t == pgwire.MsgErrorResponse
	case ansDescribe:
		return t == pgwire.MsgRowDescription || t == pgwire.MsgNoData || t == pgwire.MsgErrorResponse
	case ansExecute:
		return t == pgwire.MsgCommandComplete || t == pgwire.MsgEmptyQueryResponse ||
			t == pgwire.MsgPortalSuspended || t == pgwire.MsgErrorResponse
	case ansClose:
		return t == pgwire.MsgCloseComplete || t == pgwire.MsgErrorResponse
	case ansSync, ansQuery:
		return t == pgwire.MsgReadyForQuery
	}
	return false
}

// isAsync reports whether t may arrive at any time, outside any reply.
func isAsync(t byte) bool {
	return t == pgwire.MsgNoticeResponse || t == pgwire.MsgNotificationResp || t == pgwire.MsgParameterStatus
}

// emitFakesLocked appends the synthesised replies at the head of the
// queue to out.
func (c *client) emitFakesLocked(out []byte) []byte {
	for e := c.q.front(); e != nil && e.act == actFake; e = c.q.front() {
		out = pgwire.AppendEmpty(out, e.fake)
		c.q.pop()
	}
	return out
}

// undoLocked takes back e's bookkeeping.
func (c *client) undoLocked(e *entry) {
	switch e.cUndo {
	case undoClientAdd:
		if c.stmts[e.cName] == e.cStmt {
			delete(c.stmts, e.cName)
		}
	case undoClientDel:
		if _, taken := c.stmts[e.cName]; !taken && e.cStmt != nil {
			c.stmts[e.cName] = e.cStmt
		}
	}
	if e.srvAdd != nil && c.sstmts != nil {
		c.sstmts.remove(e.srvAdd)
	}
	if e.sess != nil {
		c.undoSessionLocked(e.sess)
		e.sess = nil
	}
	if e.replay && c.sstmts != nil {
		c.sstmts.session = sessUnknown
	}
	if e.srvDel != nil && c.sstmts != nil && c.sstmts.byStmt[e.srvDel.stmt] == nil {
		// The Close was skipped: the statement is still on the server.
		c.sstmts.add(e.srvDel)
	}
}

// skipUntilSyncLocked drops the entries PostgreSQL skips after an error,
// up to (not including) the next Sync, undoing them last first.
func (c *client) skipUntilSyncLocked() {
	end := c.q.head
	for end < len(c.q.items) && c.q.items[end].ans != ansSync {
		end++
	}
	for i := end - 1; i >= c.q.head; i-- {
		c.undoLocked(&c.q.items[i])
	}
	for range end - c.q.head {
		c.q.pop()
	}
}

// replyResult tells the pump what to do with one server message.
type replyResult struct {
	write   bool // forward the message as received
	replace []byte
	// requestDone: a ReadyForQuery ended a request (Sync or Query).
	requestDone bool
}

// onReplyLocked accounts for server message m against the queue.
func (c *client) onReplyLocked(m pgwire.Message) replyResult {
	t := m.Type()
	if isAsync(t) {
		// Notices, notifications and parameter changes go to the client
		// wherever they come.
		return replyResult{write: true}
	}
	e := c.q.front()
	if e == nil {
		// Anything else the server says unasked (a FATAL before it
		// closes) goes to the client too.
		return replyResult{write: true}
	}
	if t == pgwire.MsgCommandComplete && (e.ans == ansQuery || e.ans == ansExecute) {
		c.onCommandCompleteLocked(m)
	}
	if !e.ans.ends(t) {
		switch {
		case t == pgwire.MsgEmptyQueryResponse && e.emptyTag != "":
			return replyResult{replace: pgwire.Encode(nil, &pgproto3.CommandComplete{CommandTag: []byte(e.emptyTag)})}
		case t == pgwire.MsgErrorResponse && e.ans == ansQuery:
			// A simple Query failed: take back what it registered.
			c.undoLocked(e)
			e.cUndo, e.srvAdd, e.srvDel, e.replay = undoNone, nil, nil, false
			if e.act == actReplaceErr {
				return replyResult{replace: pgwire.Encode(nil, e.err.Response())}
			}
			if e.act == actForward && e.srvUse != nil {
				if r := c.onServerErrorLocked(e, m); r != nil {
					return replyResult{replace: r}
				}
			}
		}
		return replyResult{write: e.act != actSkip || t == pgwire.MsgErrorResponse}
	}
	if t == pgwire.MsgErrorResponse {
		// An extended-protocol message failed: PostgreSQL now skips
		// everything until Sync.
		res := replyResult{write: true}
		switch e.act {
		case actReplaceErr:
			res.write = false
			res.replace = pgwire.Encode(nil, e.err.Response())
		case actForward:
			res.replace = c.onServerErrorLocked(e, m)
			res.write = res.replace == nil
		}
		c.undoLocked(e)
		c.q.pop()
		c.skipUntilSyncLocked()
		return res
	}
	res := replyResult{write: e.act == actForward || e.act == actReplaceErr}
	if t == pgwire.MsgReadyForQuery {
		res.requestDone = true
	}
	c.q.pop()
	return res
}
