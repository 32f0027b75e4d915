package pool

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"

	"holdfast/internal/pgwire"
)

// Named prepared statements in transaction mode.
//
// A client's named Parse is recorded in the client's own map (client
// name → *stmtInfo). Statements with the same content (query text and
// parameter types) share one *stmtInfo per pool, interned in the pool's
// registry, so every server connection can key its cache by pointer.
// Each server connection keeps the statements prepared on it under
// pooler-chosen names ("hf_<n>") in an LRU of PreparedStatementCacheSize
// entries; an evicted statement is closed on the server.
//
// When a client's Bind or Describe names a statement the linked server
// connection lacks, the forwarder first sends a Parse of it under a new
// server name and drops the reply; Parse of a statement the server has
// is answered with a synthesised ParseComplete, Close with a synthesised
// CloseComplete (a server statement may be shared, so it is never closed
// for a client). The reply queue (replies.go) puts synthesised replies in
// their place in a pipeline and, when an error makes the server skip the
// rest of a pipeline until Sync, undoes the bookkeeping of every skipped
// message in reverse order, so the maps always say what the server has.
//
// Unnamed statements pass through untouched. In session mode nothing is
// rewritten: the client owns its server connection.

// defaultPreparedCacheSize is the per-server-connection LRU size when
// Config.PreparedStatementCacheSize is 0 (PgBouncer's default for
// max_prepared_statements).
const defaultPreparedCacheSize = 200

// maxRegistry bounds a pool's registry; past it the registry forgets
// its entries (statements in use keep their *stmtInfo through the maps
// that point at them; a forgotten one is prepared again under a new
// name, which costs one Parse).
const maxRegistry = 10000

// stmtInfo is one statement content.
type stmtInfo struct {
	// tail is the Parse body after the name: query, NUL, parameter
	// count and type OIDs; it is what a server Parse sends.
	tail []byte
	// sess is what executing it does to session state (sessionstate.go).
	sess pgwire.SessionCommand
	sql  string // the query text when sess matters
}

// srvStmt is a statement prepared on one server connection.
type srvStmt struct {
	stmt       *stmtInfo
	name       string
	prev, next *srvStmt // LRU list, most recent at head
	cached     bool
}

// serverStmts is a server connection's statement cache. It is touched
// only by the client linked to the connection, under that client's mu.
type serverStmts struct {
	byStmt     map[*stmtInfo]*srvStmt
	head, tail *srvStmt
	// toClose are server names whose statements must be closed on the
	// server before more statements are prepared (stale after a schema
	// change).
	toClose []string
	// session is the settings applied on the connection (sessionstate.go).
	session string
}

func newServerStmts() *serverStmts {
	return &serverStmts{byStmt: map[*stmtInfo]*srvStmt{}}
}

func (s *serverStmts) len() int { return len(s.byStmt) }

// get returns the statement's entry and marks it most recently used.
func (s *serverStmts) get(st *stmtInfo) *srvStmt {
	e := s.byStmt[st]
	if e != nil && s.head != e {
		s.unlink(e)
		s.pushFront(e)
	}
	return e
}

func (s *serverStmts) add(e *srvStmt) {
	if old := s.byStmt[e.stmt]; old != nil {
		s.remove(old)
	}
	s.byStmt[e.stmt] = e
	e.cached = true
	s.pushFront(e)
}

func (s *serverStmts) remove(e *srvStmt) {
	if !e.cached || s.byStmt[e.stmt] != e {
		return
	}
	delete(s.byStmt, e.stmt)
	e.cached = false
	s.unlink(e)
}

// oldest returns the least recently used entry.
func (s *serverStmts) oldest() *srvStmt { return s.tail }

func (s *serverStmts) clear() {
	clear(s.byStmt)
	for e := s.head; e != nil; {
		next := e.next
		e.prev, e.next, e.cached = nil, nil, false
		e = next
	}
	s.head, s.tail = nil, nil
}

func (s *serverStmts) pushFront(e *srvStmt) {
	e.prev, e.next = nil, s.head
	if s.head != nil {
		s.head.prev = e
	}
	s.head = e
	if s.tail == nil {
		s.tail = e
	}
}

func (s *serverStmts) unlink(e *srvStmt) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if s.head == e {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if s.tail == e {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// serverNames numbers server-side statement names process-wide, so a
// name is never reused on a connection.
var serverNames atomic.Uint64

// serverNamePrefix starts every server-side statement name.
const serverNamePrefix = "hf_"

func newServerName() string {
	return serverNamePrefix + strconv.FormatUint(serverNames.Add(1), 10)
}

// preparedState is a pool's registry and counters.
type preparedState struct {
	mu       sync.Mutex
	registry map[string]*stmtInfo

	stats PreparedStats
}

// PreparedStats counts a pool's prepared-statement work.
type PreparedStats struct {
	// ClientParses are named Parse messages from clients.
	ClientParses atomic.Int64
	// ServerParses are statements prepared on a server connection (a
	// client's Parse forwarded, or one injected before a Bind/Describe).
	ServerParses atomic.Int64
	// Hits are named Parse, Bind or Describe messages served by a
	// statement the server connection already had.
	Hits atomic.Int64
	// Evictions are statements closed on a server to make room.
	Evictions atomic.Int64
	// Reprepares are statements prepared again after PostgreSQL said
	// "cached plan must not change result type"; Retries are the
	// Executes retried after it (outside a transaction).
	Reprepares atomic.Int64
	Retries    atomic.Int64
	// Errors are pooler-generated errors for misused names (duplicate
	// Parse, Bind/Describe of an unknown statement).
	Errors atomic.Int64
	// Pins are clients kept on their server connection for session
	// state (sessionstate.go); Replays are settings sent to a server
	// connection a client landed on.
	Pins, Replays atomic.Int64
}

// intern returns the pool's stmtInfo for a Parse tail.
func (ps *preparedState) intern(tail []byte) *stmtInfo {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if st := ps.registry[string(tail)]; st != nil {
		return st
	}
	if ps.registry == nil || len(ps.registry) >= maxRegistry {
		ps.registry = map[string]*stmtInfo{}
	}
	st := &stmtInfo{tail: append([]byte(nil), tail...)}
	if i := bytes.IndexByte(tail, 0); i >= 0 && !st.isSQL() {
		st.sql = string(tail[:i])
		if st.sess = pgwire.ScanSessionBytes(tail[:i]); st.sess.Kind == pgwire.SessOther {
			st.sql = ""
		}
	}
	ps.registry[string(st.tail)] = st
	return st
}

// cacheSize is the per-server-connection LRU size; 0 means statements
// are not tracked (pass-through).
func (s *Server) cacheSize() int {
	n := s.cfg.PreparedStatementCacheSize
	switch {
	case n < 0:
		return 0
	case n == 0:
		return defaultPreparedCacheSize
	}
	return n
}
