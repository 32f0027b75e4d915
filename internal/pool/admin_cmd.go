package pool

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"holdfast/internal/pgwire"
)

// adminCommand runs one of the console's commands that change state, as
// PgBouncer names them: PAUSE [db], RESUME [db], KILL db, RECONNECT [db],
// RELOAD, SHUTDOWN. It returns the command tag; an empty tag means the
// pooler is shutting down and nothing more is sent.
func (c *client) adminCommand(q string) (string, error) {
	words := strings.Fields(strings.TrimRight(strings.TrimSpace(q), "; \t\n"))
	if len(words) == 0 {
		return "", errAdminSyntax(q)
	}
	verb := strings.ToUpper(words[0])
	switch verb {
	case "PAUSE", "RESUME", "KILL", "RECONNECT", "RELOAD", "SHUTDOWN":
	default:
		return "", errAdminSyntax(q)
	}
	var db string
	switch len(words) {
	case 1:
	case 2:
		db = strings.Trim(words[1], `"`)
		if !c.srv.hasDatabase(db) {
			return "", pgwire.Errorf(pgwire.CodeInvalidCatalogName, "no such database: %s", db)
		}
	default:
		return "", errAdminSyntax(q)
	}
	s := c.srv
	switch verb {
	case "PAUSE":
		if err := s.Pause(s.ctx, db); err != nil {
			return "", pgwire.Errorf(pgwire.CodeAdminShutdown, "PAUSE interrupted: %v", err)
		}
		return "PAUSE", nil
	case "RESUME":
		s.Resume(db)
		return "RESUME", nil
	case "KILL":
		if db == "" {
			return "", pgwire.Errorf(pgwire.CodeSyntaxError, "KILL needs a database name")
		}
		s.Kill(db)
		return "KILL", nil
	case "RECONNECT":
		s.Reconnect(db)
		return "RECONNECT", nil
	case "RELOAD", "SHUTDOWN":
		if db != "" {
			return "", errAdminSyntax(q)
		}
		if verb == "SHUTDOWN" {
			s.log.Info("pooler: SHUTDOWN from the admin console", logKeyUser, c.user)
			if f := s.conf().cfg.OnShutdown; f != nil {
				go f()
			} else {
				go s.Close()
			}
			return "", nil
		}
		f := s.conf().cfg.OnReload
		if f == nil {
			return "", pgwire.Errorf(pgwire.CodeFeatureNotSupported, "RELOAD is not available here; reload the daemon (holdfast reload)")
		}
		// The reload runs on its own goroutine so that a pooler being
		// closed (by the same daemon, say) does not wait for it.
		done := make(chan error, 1)
		go func() { done <- f(s.ctx) }()
		var err error
		select {
		case err = <-done:
		case <-s.ctx.Done():
			err = errors.New("the pooler is shutting down")
		}
		if err != nil {
			var pe *pgwire.Error
			if errors.As(err, &pe) {
				return "", pe
			}
			return "", pgwire.Errorf(codeConfigFileError, "reload failed: %v", err)
		}
		return "RELOAD", nil
	}
	return "", errAdminSyntax(q)
}

// codeConfigFileError is PostgreSQL's config_file_error SQLSTATE.
const codeConfigFileError = "F0000"

func errAdminSyntax(q string) error {
	return pgwire.Errorf(pgwire.CodeSyntaxError, "invalid command %q; supported: SHOW POOLS|STATS|CLIENTS|SERVERS|DATABASES|CONFIG|LISTS|PREPARED_STATEMENTS|VERSION, PAUSE [db], RESUME [db], KILL db, RECONNECT [db], RELOAD, SHUTDOWN", q)
}

func (s *Server) hasDatabase(db string) bool {
	_, ok := s.conf().cfg.Databases[db]
	return ok
}

// poolsOf returns the pools of db, or all pools when db is empty.
func (s *Server) poolsOf(db string) []*pool {
	var out []*pool
	for _, p := range s.allPools() {
		if db == "" || p.dbName == db {
			out = append(out, p)
		}
	}
	return out
}

func (s *Server) setPaused(db string, paused bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name := range s.conf().cfg.Databases {
		if db == "" || name == db {
			if paused {
				s.paused[name] = true
			} else {
				delete(s.paused, name)
			}
		}
	}
}

// Pause stops handing out server connections for db (all databases when
// empty), waits until every server connection is back, then closes them,
// as PgBouncer's PAUSE. Clients stay connected; their next requests wait
// (within query_wait_timeout) until Resume.
func (s *Server) Pause(ctx context.Context, db string) error {
	s.setPaused(db, true)
	pools := s.poolsOf(db)
	for _, p := range pools {
		p.mu.Lock()
		p.paused = true
		p.mu.Unlock()
	}
	for _, p := range pools {
		for {
			p.mu.Lock()
			busy := len(p.active) + p.login
			ch := p.changedLocked()
			if busy == 0 {
				p.closeIdleLocked()
				p.mu.Unlock()
				break
			}
			p.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// Resume lets paused or killed pools of db (all when empty) serve again.
func (s *Server) Resume(db string) {
	s.setPaused(db, false)
	for _, p := range s.poolsOf(db) {
		p.mu.Lock()
		p.paused = false
		p.serveWaitersLocked()
		p.mu.Unlock()
	}
}

// Kill drops every client and server connection of db at once; new
// requests on it wait until Resume, as PgBouncer's KILL.
func (s *Server) Kill(db string) {
	s.setPaused(db, true)
	for _, p := range s.poolsOf(db) {
		p.mu.Lock()
		p.paused = true
		for sc := range p.active {
			sc.close() // the client's pump sees it and releases it
		}
		p.closeIdleLocked()
		p.notifyLocked()
		p.mu.Unlock()
	}
	for _, c := range s.clientList() {
		c.mu.Lock()
		mine := c.pool != nil && c.pool.dbName == db
		c.mu.Unlock()
		if mine {
			c.fail(pgwire.Fatal(pgwire.CodeAdminShutdown, "database %s was killed by the admin console (KILL)", db))
			_ = c.conn.Close()
		}
	}
}

// Reconnect closes the server connections of db (all when empty): idle
// ones now, busy ones when their clients release them.
func (s *Server) Reconnect(db string) {
	for _, p := range s.poolsOf(db) {
		p.mu.Lock()
		for sc := range p.active {
			sc.closeNeeded = true
		}
		p.closeIdleLocked()
		p.notifyLocked()
		p.mu.Unlock()
	}
}

func boolInt(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// showConfig lists the settings under PgBouncer's names, with PgBouncer's
// columns (key, value, default, changeable).
func (s *Server) showConfig() *table {
	lv := s.conf()
	c := lv.cfg
	d := Config{Databases: map[string]Database{}}.withDefaults()
	t := &table{cols: []string{"key", "value", "default", "changeable"}}
	add := func(key, value, def string, changeable bool) {
		ch := "yes"
		if !changeable {
			ch = "no"
		}
		t.rows = append(t.rows, []string{key, value, def, ch})
	}
	admins := strings.Join(c.AdminUsers, ",")
	add("admin_users", admins, "", true)
	add("auth_query", c.AuthQuery, DefaultAuthQuery, true)
	add("auth_type", c.AuthType, d.AuthType, true)
	add("auth_user", c.AuthUser, "", true)
	add("client_login_timeout", secs(s.cfg.AuthTimeout), secs(d.AuthTimeout), false)
	add("client_tls_sslmode", tlsMode(s.cfg), "disable", false)
	add("default_pool_size", strconv.Itoa(c.DefaultPoolSize), strconv.Itoa(d.DefaultPoolSize), true)
	add("idle_transaction_timeout", secs(c.IdleTransactionTimeout), "0", true)
	add("listen_addr", s.cfg.Listen, "", false)
	add("max_client_conn", strconv.Itoa(c.MaxClientConn), strconv.Itoa(d.MaxClientConn), true)
	add("max_packet_size", strconv.Itoa(s.cfg.MaxMessageLen), strconv.Itoa(d.MaxMessageLen), false)
	add("max_prepared_statements", strconv.Itoa(s.cacheSize()), strconv.Itoa(defaultPreparedCacheSize), false)
	add("min_pool_size", strconv.Itoa(c.MinPoolSize), "0", true)
	add("pool_mode", string(c.PoolMode), string(d.PoolMode), true)
	add("query_timeout", secs(c.QueryTimeout), "0", true)
	add("query_wait_timeout", secs(c.QueryWaitTimeout), secs(d.QueryWaitTimeout), true)
	add("reserve_pool_size", strconv.Itoa(c.ReservePoolSize), "0", true)
	add("reserve_pool_timeout", secs(c.ReservePoolTimeout), secs(d.ReservePoolTimeout), true)
	add("server_connect_timeout", secs(c.ServerConnectTimeout), secs(d.ServerConnectTimeout), true)
	add("server_idle_timeout", secs(c.ServerIdleTimeout), secs(d.ServerIdleTimeout), true)
	add("server_lifetime", secs(c.ServerLifetime), secs(d.ServerLifetime), true)
	add("server_reset_query", s.cfg.ServerResetQuery, d.ServerResetQuery, false)
	return t
}

func tlsMode(c Config) string {
	if c.TLS == nil {
		return "disable"
	}
	return c.ClientTLSMode
}

// showLists counts the pooler's objects, with PgBouncer's rows.
func (s *Server) showLists() *table {
	lv := s.conf()
	snaps := s.snapshots()
	servers := 0
	for _, p := range snaps {
		servers += p.svActive + p.svIdle + p.svLogin
	}
	clients := len(s.clientList())
	t := &table{cols: []string{"list", "items"}, ints: intCols(1)}
	for _, r := range []struct {
		name string
		n    int
	}{
		{"databases", len(lv.cfg.Databases) + 1}, {"users", len(lv.cfg.Users)}, {"pools", len(snaps)},
		{"free_clients", 0}, {"used_clients", clients}, {"login_clients", 0},
		{"free_servers", 0}, {"used_servers", servers},
		{"dns_names", 0}, {"dns_zones", 0}, {"dns_queries", 0}, {"dns_pending", 0},
	} {
		t.rows = append(t.rows, []string{r.name, strconv.Itoa(r.n)})
	}
	return t
}
