package pool

// PreparedCounts are one pool's prepared-statement counters since start,
// for the admin console and the metrics wiring.
type PreparedCounts struct {
	Database, User string
	// ClientParses: named Parse messages from clients.
	ClientParses int64
	// ServerParses: statements prepared on server connections (forwarded
	// or injected Parse).
	ServerParses int64
	// Hits: named Parse/Bind/Describe served by a statement the server
	// connection already had.
	Hits int64
	// Evictions: statements closed on a server connection to make room.
	Evictions int64
	// Reprepares: statements prepared again after "cached plan must not
	// change result type"; Retries: Executes retried after it.
	Reprepares, Retries int64
	// Errors: pooler-generated errors for duplicate or unknown names.
	Errors int64
	// Pins: clients pinned to a server connection by session state;
	// Replays: client settings replayed on a server connection.
	Pins, Replays int64
}

// PreparedStatements returns every pool's prepared-statement counters,
// ordered by database and user.
func (s *Server) PreparedStatements() []PreparedCounts {
	pools := s.sortedPools()
	out := make([]PreparedCounts, 0, len(pools))
	for _, p := range pools {
		st := &p.prep.stats
		out = append(out, PreparedCounts{
			Database: p.dbName, User: p.user,
			ClientParses: st.ClientParses.Load(), ServerParses: st.ServerParses.Load(),
			Hits: st.Hits.Load(), Evictions: st.Evictions.Load(),
			Reprepares: st.Reprepares.Load(), Retries: st.Retries.Load(), Errors: st.Errors.Load(),
			Pins: st.Pins.Load(), Replays: st.Replays.Load(),
		})
	}
	return out
}

func (s *Server) sortedPools() []*pool {
	snaps := s.snapshots()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*pool, 0, len(snaps))
	for _, sn := range snaps {
		if p := s.pools[poolKey{sn.database, sn.user}]; p != nil {
			out = append(out, p)
		}
	}
	return out
}

// showPrepared answers SHOW PREPARED_STATEMENTS: one row per pool.
func (s *Server) showPrepared() *table {
	t := &table{
		cols: []string{"database", "user", "client_parses", "server_parses", "hits", "evictions",
			"reprepares", "retries", "errors", "pins", "replays"},
		ints: intCols(2, 3, 4, 5, 6, 7, 8, 9, 10),
	}
	for _, c := range s.PreparedStatements() {
		t.rows = append(t.rows, []string{c.Database, c.User, itoa(c.ClientParses), itoa(c.ServerParses),
			itoa(c.Hits), itoa(c.Evictions), itoa(c.Reprepares), itoa(c.Retries), itoa(c.Errors), itoa(c.Pins), itoa(c.Replays)})
	}
	return t
}
