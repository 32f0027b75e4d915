package pool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"holdfast/internal/pgwire"
	"holdfast/internal/rawconn"
)

// serverConn is one authenticated connection to PostgreSQL, driven as
// raw protocol after pgconn did the login.
type serverConn struct {
	id      int64
	conn    net.Conn
	r       *pgwire.Reader
	addr    string // host:port, for cancel requests
	pid     uint32
	secret  []byte
	params  map[string]string
	created time.Time
	pool    *pool

	// owner is the client currently linked (nil when idle); guarded by
	// pool.mu.
	owner *client
	// lastUsed is guarded by pool.mu.
	lastUsed time.Time
	// closeNeeded (RECONNECT) closes the connection at its release;
	// guarded by pool.mu.
	closeNeeded bool
	// stmts are the prepared statements on it (prepared.go), guarded by
	// the mu of the client linked to it.
	stmts *serverStmts
}

var serverIDs atomic.Int64

// dialServer logs in to the pool's database with pgconn and hijacks the
// connection.
func (p *pool) dialServer(ctx context.Context) (*serverConn, error) {
	login, password, err := p.srv.serverLogin(p.dbName, p.db, p.user)
	if err != nil {
		p.srv.errs.add(errServerLoginKind)
		return nil, err
	}
	dsn := fmt.Sprintf("host=%s port=%d dbname=%s user=%s sslmode=disable",
		quoteDSN(p.db.Host), p.db.Port, quoteDSN(p.db.DBName), quoteDSN(login))
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("server config: %w", err)
	}
	cfg.Password = password
	timeout := p.srv.conf().cfg.ServerConnectTimeout
	cfg.ConnectTimeout = timeout
	cfg.RuntimeParams = map[string]string{"application_name": "holdfast"}
	cfg.Fallbacks = nil
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		p.srv.errs.add(errServerLoginKind)
		return nil, serverLoginError(err)
	}
	// pgconn may still be reading in the background (its slow-write
	// guard); SyncConn stops that so no reply is swallowed after Hijack.
	if err := pc.SyncConn(ctx); err != nil {
		pc.Close(context.Background())
		return nil, fmt.Errorf("sync server connection: %w", err)
	}
	hj, err := pc.Hijack()
	if err != nil {
		pc.Close(context.Background())
		return nil, fmt.Errorf("hijack server connection: %w", err)
	}
	now := time.Now()
	conn := rawconn.Wrap(hj.Conn)
	return &serverConn{
		id:       serverIDs.Add(1),
		conn:     conn,
		r:        pgwire.NewReader(conn, 1<<30),
		addr:     net.JoinHostPort(p.db.Host, strconv.Itoa(p.db.Port)),
		pid:      hj.PID,
		secret:   hj.SecretKey,
		params:   hj.ParameterStatuses,
		created:  now,
		lastUsed: now,
		pool:     p,
	}, nil
}

// serverLoginError turns a login failure into the error the client sees:
// the server's own SQLSTATE and message where it gave one.
func serverLoginError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return &pgwire.Error{Severity: pgwire.SeverityFatal, Code: pe.Code, Message: pe.Message, Detail: pe.Detail, Hint: pe.Hint}
	}
	return &pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeConnectionFailure,
		Message: "could not connect to the database server", Detail: err.Error()}
}

func quoteDSN(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// reset runs the server reset query and reports whether the connection is
// clean (ReadyForQuery idle, no error).
func (s *serverConn) reset(query string, timeout time.Duration) bool {
	_ = s.conn.SetDeadline(time.Now().Add(timeout))
	defer func() { _ = s.conn.SetDeadline(time.Time{}) }()
	if _, err := s.conn.Write(pgwire.Encode(nil, &pgproto3.Query{String: query})); err != nil {
		return false
	}
	ok := true
	for {
		m, err := s.r.Next()
		if err != nil {
			return false
		}
		switch m.Type() {
		case pgwire.MsgErrorResponse:
			ok = false
		case pgwire.MsgReadyForQuery:
			st, err := pgwire.TxStatus(m)
			return ok && err == nil && st == pgwire.TxIdle
		}
	}
}

// cancel sends a CancelRequest for this connection's backend.
func (s *serverConn) cancel(timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", s.addr, timeout)
	if err != nil {
		return fmt.Errorf("dial for cancel: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	msg := pgwire.Encode(nil, &pgproto3.CancelRequest{ProcessID: s.pid, SecretKey: s.secret})
	if _, err := conn.Write(msg); err != nil {
		return fmt.Errorf("send cancel: %w", err)
	}
	return nil
}

func (s *serverConn) close() { _ = s.conn.Close() }
