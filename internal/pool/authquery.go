package pool

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"

	"holdfast/internal/pgwire"
)

// authQueries keeps one connection per database for auth_query, logged in
// as the auth user, used by one login at a time.
type authQueries struct {
	mu    sync.Mutex
	conns map[string]*authConn
}

type authConn struct {
	mu sync.Mutex
	pc *pgconn.PgConn
}

func (a *authQueries) get(database string) *authConn {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conns == nil {
		a.conns = map[string]*authConn{}
	}
	ac := a.conns[database]
	if ac == nil {
		ac = &authConn{}
		a.conns[database] = ac
	}
	return ac
}

func (a *authQueries) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ac := range a.conns {
		ac.mu.Lock()
		if ac.pc != nil {
			_ = ac.pc.Close(context.Background())
			ac.pc = nil
		}
		ac.mu.Unlock()
	}
}

// authQuery looks up user's password verifier with the auth query on the
// client's database. A user the query does not find, or finds without a
// password, gets a nil secret (the login then fails like a wrong
// password); a failure to run the query is an error the client sees.
func (s *Server) authQuery(database, user string) (*secret, error) {
	lv := s.conf()
	db, ok := lv.cfg.Databases[database]
	if !ok {
		return nil, nil // the unknown database is reported after login
	}
	ac := s.authq.get(database)
	ac.mu.Lock()
	defer ac.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, lv.cfg.ServerConnectTimeout)
	defer cancel()
	var res *pgconn.Result
	for attempt := 0; attempt < 2; attempt++ {
		if ac.pc == nil || ac.pc.IsClosed() {
			pc, err := s.authConnect(ctx, lv, db)
			if err != nil {
				s.log.Warn("pooler auth_query: connect", logKeyDatabase, database, logKeyError, err)
				return nil, pgwire.Fatal(pgwire.CodeConnectionFailure, "authentication lookup failed: could not reach the database")
			}
			ac.pc = pc
		}
		res = ac.pc.ExecParams(ctx, lv.cfg.AuthQuery, [][]byte{[]byte(user)}, nil, nil, nil).Read()
		if res.Err == nil || !ac.pc.IsClosed() {
			break
		}
		ac.pc = nil // the connection died: reconnect once
	}
	if res.Err != nil {
		s.log.Warn("pooler auth_query", logKeyDatabase, database, logKeyError, res.Err)
		return nil, pgwire.Fatal(pgwire.CodeInvalidAuthSpec, "authentication lookup failed")
	}
	if len(res.Rows) == 0 || len(res.Rows[0]) < 2 || res.Rows[0][1] == nil {
		return nil, nil
	}
	sec, err := parseSecret(user, string(res.Rows[0][1]))
	if err != nil || sec.plain != "" {
		// A plaintext value in the catalog is not a verifier; refuse it
		// rather than compare passwords in the clear.
		return nil, nil
	}
	return sec, nil
}

func (s *Server) authConnect(ctx context.Context, lv *live, db Database) (*pgconn.PgConn, error) {
	sec := lv.secrets[lv.cfg.AuthUser]
	if sec == nil || sec.plain == "" {
		return nil, fmt.Errorf("auth_user %q has no password", lv.cfg.AuthUser)
	}
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s user=%s sslmode=disable",
		quoteDSN(db.Host), db.Port, quoteDSN(db.DBName), quoteDSN(lv.cfg.AuthUser)))
	if err != nil {
		return nil, fmt.Errorf("auth_query config: %w", err)
	}
	cfg.Password = sec.plain
	cfg.RuntimeParams = map[string]string{"application_name": "holdfast-auth"}
	cfg.Fallbacks = nil
	return pgconn.ConnectConfig(ctx, cfg)
}
