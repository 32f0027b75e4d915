package pool

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"holdfast/internal/pgwire"
)

// client is one client connection.
type client struct {
	srv      *Server
	conn     net.Conn
	r        *pgwire.Reader
	wmu      sync.Mutex // serialises writes to conn
	swmu     sync.Mutex // serialises writes to the linked server connection
	user     string
	database string
	appName  string
	params   map[string]string
	since    time.Time

	// Set once after login, guarded by mu for the admin console's reads.
	key   cancelKey
	pool  *pool
	admin bool
	tls   bool

	// Link state, guarded by mu (see forward.go).
	mu       sync.Mutex
	server   *serverConn
	dirty    bool // messages sent after the last request end
	txStatus byte
	waiting  bool
	request  time.Time
	// reqStart is when the client sent a message while nothing was
	// outstanding; lastReady when the last ReadyForQuery came (timeouts).
	reqStart, lastReady time.Time
	// Pumps of this client, counted: the n-th (from 0) starts writing
	// only when pumpsEnded reaches n, so replies keep their order;
	// pumpWake, made on demand, is closed when one ends.
	pumpsStarted, pumpsEnded uint64
	pumpWake                 chan struct{}
	pumpOut                  []byte // the pumps' output buffer, passed from one to the next

	// Queueing for a server connection (queue.go), guarded by mu except
	// qw, which the pool guards.
	queued   bool   // in the pool's wait queue
	gone     bool   // the client goroutine has left: hand-offs pass it by
	dropped  bool   // taken off the queue with an error: read no more
	adopted  uint64 // hand-offs so far (adopt)
	pending  []byte // messages read while queued, sent by adopt
	adoptOut []byte // adopt's output buffer
	stalled  bool   // the client goroutine waits on wake (pending is full)
	wake     chan struct{}
	qw       waiter

	// Reply queue and prepared statements (prepared.go, replies.go),
	// guarded by mu.
	q        replyQueue
	pumpIdle bool                 // the pump waits on the server with nothing to write
	track    bool                 // named statements are rewritten (transaction mode)
	cacheN   int                  // server connections' LRU size
	stmts    map[string]*stmtInfo // the client's named statements
	sstmts   *serverStmts         // the linked server connection's statements

	// A request that may be retried after a schema change (retry.go).
	rbuf      []byte
	rstate    captureState
	retryHeld []byte // the held "cached plan must not change result type" error
	inRetry   bool

	// Session state (sessionstate.go), guarded by mu.
	settings    []setting
	base        []setting // from the startup parameters
	sessKey     string
	pinned      bool
	unnamedSess pgwire.SessionCommand // of the unnamed statement
	// The last unnamed statement's text and what it does to the session.
	lastUnnamed     []byte
	lastUnnamedSess pgwire.SessionCommand
	unnamedSQL      string
	portalSess      pgwire.SessionCommand // of the unnamed portal
	portalSQL       string
}

// maxNegotiations bounds SSLRequest/GSSENCRequest rounds before startup.
const maxNegotiations = 2

func (s *Server) serve(conn net.Conn) {
	defer conn.Close()
	c := &client{srv: s, conn: conn, since: time.Now(), txStatus: pgwire.TxIdle}
	_ = conn.SetDeadline(time.Now().Add(s.cfg.AuthTimeout))
	sm, err := c.readStartup()
	if err != nil {
		var pe *pgwire.Error
		if errors.As(err, &pe) {
			c.fail(pe)
		} else if !errors.Is(err, io.EOF) {
			s.log.Debug("pooler startup", logKeyRemote, conn.RemoteAddr().String(), logKeyError, err)
		}
		return
	}
	if sm == nil {
		return // a CancelRequest, handled
	}
	if n := s.nclients.Add(1); n > int64(s.conf().cfg.MaxClientConn) {
		s.nclients.Add(-1)
		s.errs.add(errMaxClientsKind)
		c.fail(pgwire.Fatal(pgwire.CodeTooManyConnections, "no more connections allowed (max_client_conn)"))
		return
	}
	defer s.nclients.Add(-1)
	c.params = sm.Parameters
	c.user = sm.Parameters["user"]
	c.database = sm.Parameters["database"]
	c.appName = sm.Parameters["application_name"]
	if c.database == "" {
		c.database = c.user
	}
	if !s.addClient(c) {
		c.fail(errPoolClosed)
		return
	}
	defer s.removeClient(c)
	if c.user == "" {
		c.fail(pgwire.Fatal(pgwire.CodeInvalidAuthSpec, "no PostgreSQL user name specified in startup packet"))
		return
	}
	c.r = pgwire.NewReader(c.conn, preAuthMaxMessageLen)
	if err := c.authenticate(c.user); err != nil {
		c.fail(err)
		return
	}
	if err := c.send(&pgproto3.AuthenticationOk{}); err != nil {
		return
	}
	if err := s.register(c); err != nil {
		c.fail(err)
		return
	}
	c.r.SetMaxBodyLen(s.cfg.MaxMessageLen)

	if isAdminDB(c.database) {
		if !s.conf().admins[c.user] {
			c.fail(pgwire.Fatal(pgwire.CodeInsufficientPrivilege, "user %q is not allowed on the admin console; list it in admin_users", c.user))
			return
		}
		c.mu.Lock()
		c.admin = true
		c.mu.Unlock()
		_ = c.conn.SetDeadline(time.Time{})
		c.serveAdmin()
		return
	}
	p, err := s.poolFor(c.database, c.user)
	if err != nil {
		c.fail(err)
		return
	}
	c.mu.Lock()
	c.pool = p
	c.cacheN = s.cacheSize()
	c.track = p.mode == ModeTransaction && c.cacheN > 0
	c.stmts = map[string]*stmtInfo{}
	if c.track {
		c.startupSettingsLocked()
	}
	c.mu.Unlock()
	params, err := p.startupParams(s.ctx)
	if err != nil {
		c.fail(err)
		return
	}
	params = c.welcomeParams(params)
	_ = c.conn.SetDeadline(time.Time{})
	if err := c.sendWelcome(params); err != nil {
		return
	}
	c.forward()
}

// readStartup negotiates encryption (refusing it: TLS is not configured
// in this slice) and returns the StartupMessage, or nil after serving a
// CancelRequest.
func (c *client) readStartup() (*pgproto3.StartupMessage, error) {
	for range maxNegotiations + 1 {
		msg, err := pgwire.ReadStartup(c.conn)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, err
			}
			return nil, pgwire.Fatal(pgwire.CodeProtocolViolation, "invalid startup packet: %v", err)
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if c.srv.cfg.TLS == nil || c.tls {
				if _, err := c.conn.Write([]byte{'N'}); err != nil {
					return nil, err
				}
				continue
			}
			// ReadStartup reads exactly one packet, so no plaintext the
			// client sent after SSLRequest can leak into the TLS session.
			if _, err := c.conn.Write([]byte{'S'}); err != nil {
				return nil, err
			}
			tc := tls.Server(c.conn, c.srv.cfg.TLS)
			if err := tc.Handshake(); err != nil {
				return nil, fmt.Errorf("TLS handshake: %w", err)
			}
			c.conn = tc
			c.tls = true
		case *pgproto3.GSSEncRequest:
			if _, err := c.conn.Write([]byte{'N'}); err != nil {
				return nil, err
			}
		case *pgproto3.CancelRequest:
			if len(m.SecretKey) == 4 {
				c.srv.cancelFor(cancelKey{m.ProcessID, binary.BigEndian.Uint32(m.SecretKey)})
			}
			return nil, nil
		case *pgproto3.StartupMessage:
			if c.srv.cfg.ClientTLSMode == TLSRequire && !c.tls {
				return nil, pgwire.Fatal(pgwire.CodeInvalidAuthSpec, "SSL required: this pooler refuses unencrypted connections")
			}
			return m, nil
		}
	}
	return nil, pgwire.Fatal(pgwire.CodeProtocolViolation, "too many encryption requests before startup")
}

// sendWelcome sends the server's parameters, the client's fake backend
// key and ReadyForQuery.
func (c *client) sendWelcome(params map[string]string) error {
	var buf []byte
	for k, v := range params {
		buf = pgwire.Encode(buf, &pgproto3.ParameterStatus{Name: k, Value: v})
	}
	var secret [4]byte
	binary.BigEndian.PutUint32(secret[:], c.key.secret)
	buf = pgwire.Encode(buf, &pgproto3.BackendKeyData{ProcessID: c.key.pid, SecretKey: secret[:]})
	buf = pgwire.Encode(buf, &pgproto3.ReadyForQuery{TxStatus: pgwire.TxIdle})
	return c.write(buf)
}

// send writes one message.
func (c *client) send(msg pgproto3.BackendMessage) error {
	return c.write(pgwire.Encode(nil, msg))
}

func (c *client) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.conn.Write(b)
	return err
}

// fail sends err as an ErrorResponse (FATAL unless err says otherwise).
func (c *client) fail(err error) {
	var pe *pgwire.Error
	if !errors.As(err, &pe) {
		// Mostly a client that went away mid-login.
		c.srv.log.Debug("pooler client", logKeyUser, c.user, logKeyDatabase, c.database, logKeyError, err)
		pe = pgwire.AsError(err)
	}
	_ = c.send(pe.Response())
}
