package pool

import (
	"fmt"

	"holdfast/internal/pgwire"
)

// live is the part of the configuration that Update may change while
// clients stay connected: databases, users, pool sizes and timeouts.
type live struct {
	cfg     Config // defaults applied
	secrets map[string]*secret
	admins  map[string]bool
}

func newLive(cfg Config) (*live, error) {
	cfg = cfg.withDefaults()
	lv := &live{cfg: cfg, secrets: map[string]*secret{}, admins: map[string]bool{}}
	for _, u := range cfg.Users {
		sec, err := parseSecret(u.Name, u.Password)
		if err != nil {
			return nil, fmt.Errorf("pooler.users %q: %w", u.Name, err)
		}
		lv.secrets[u.Name] = sec
	}
	for _, a := range cfg.AdminUsers {
		lv.admins[a] = true
	}
	return lv, nil
}

// conf is the current live configuration.
func (s *Server) conf() *live { return s.dyn.Load() }

// Update applies a new configuration without dropping clients: users,
// databases, pool sizes, modes and timeouts. A pool whose server target
// or mode changed is replaced: its clients keep their server connections
// until they leave, new clients get the new pool. Listen, TLS,
// ClientTLSMode, AuthTimeout, MaxMessageLen and ServerResetQuery keep
// their values from New (the daemon refuses to reload a change to them).
func (s *Server) Update(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	lv, err := newLive(cfg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dyn.Store(lv)
	for key, p := range s.pools {
		db, ok := lv.cfg.Databases[key.database]
		if !ok || db.Host != p.db.Host || db.Port != p.db.Port || db.DBName != p.db.DBName ||
			db.User != p.db.User || poolMode(lv, key.user, db) != p.mode {
			delete(s.pools, key)
			p.retire()
			s.retired = append(s.retired, p)
			continue
		}
		p.resize(db)
	}
	return nil
}

func poolMode(lv *live, user string, db Database) Mode {
	for _, u := range lv.cfg.Users {
		if u.Name == user && u.PoolMode != "" {
			return u.PoolMode
		}
	}
	return db.PoolMode
}

// poolFor returns the pool of (database, user), creating it.
func (s *Server) poolFor(database, user string) (*pool, error) {
	lv := s.conf()
	db, ok := lv.cfg.Databases[database]
	if !ok {
		return nil, pgwire.Fatal(pgwire.CodeInvalidCatalogName, "database %q does not exist in the pooler's configuration", database)
	}
	key := poolKey{database, user}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pools[key]; p != nil {
		return p, nil
	}
	p := newPool(s, key, db, poolMode(lv, user, db))
	p.paused = s.paused[database]
	s.pools[key] = p
	return p, nil
}

// serverLogin picks the credentials for server connections.
func (s *Server) serverLogin(dbName string, db Database, user string) (string, string, error) {
	lv := s.conf()
	if lv.cfg.Credentials != nil {
		return lv.cfg.Credentials.ServerLogin(dbName, user)
	}
	if db.User != "" {
		return db.User, db.Password, nil
	}
	if sec := lv.secrets[user]; sec != nil && sec.plain != "" {
		return user, sec.plain, nil
	}
	return "", "", pgwire.Fatal(pgwire.CodeInvalidAuthSpec,
		"no server login for user %q on database %q", user, dbName)
}

// allPools returns the current pools and the retired ones still in use.
func (s *Server) allPools() []*pool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*pool, 0, len(s.pools)+len(s.retired))
	for _, p := range s.pools {
		out = append(out, p)
	}
	kept := s.retired[:0]
	for _, p := range s.retired {
		if !p.drained() {
			kept = append(kept, p)
			out = append(out, p)
		}
	}
	clear(s.retired[len(kept):])
	s.retired = kept
	return out
}
