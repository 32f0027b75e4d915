// Package pool is holdfast's PostgreSQL connection pooler: a listener
// speaking protocol 3.0 that authenticates clients against its own user
// list (SCRAM-SHA-256, or md5 where configured), multiplexes them onto
// pools of server connections per (database, user) in transaction or
// session mode, routes CancelRequests, and answers a PgBouncer-style
// admin console on the virtual database "pgbouncer" (alias "holdfast").
//
// Lifecycle: New(cfg, logger) → Start(ctx) → Close().
package pool

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Mode is a pooling mode.
type Mode string

// Pooling modes. Transaction mode assigns a server connection for one
// transaction; session mode for the client's whole session.
const (
	ModeTransaction Mode = "transaction"
	ModeSession     Mode = "session"
)

// Authentication methods for clients.
const (
	AuthSCRAM = "scram-sha-256"
	AuthMD5   = "md5"
)

// Client TLS modes.
const (
	TLSPrefer  = "prefer"
	TLSRequire = "require"
)

// AdminDatabases are the virtual databases of the admin console.
var AdminDatabases = []string{"pgbouncer", "holdfast"}

// Config is the whole pooler configuration. The zero value of each field
// takes the default named in its comment; Validate reports what is wrong.
type Config struct {
	// Listen is the TCP address to listen on, e.g. "127.0.0.1:6432";
	// port 0 picks a free port (see Server.Addr). Required.
	Listen string
	// Databases maps the name clients connect to onto a server database.
	Databases map[string]Database
	// Users is the pooler's own user list, used to authenticate clients
	// and, when a Database has no User of its own, to log in to the server.
	Users []User
	// AdminUsers may connect to the admin console.
	AdminUsers []string
	// AuthType is how clients authenticate: "scram-sha-256" (default) or
	// "md5". With md5, users whose password is a SCRAM verifier still use
	// SCRAM, as PgBouncer does.
	AuthType string
	// PoolMode is the default mode (default transaction).
	PoolMode Mode
	// DefaultPoolSize is the server connections per pool (default 20).
	DefaultPoolSize int
	// MinPoolSize is the server connections a pool keeps open once used
	// (default 0).
	MinPoolSize int
	// ReservePoolSize is how many connections beyond the pool size a pool
	// may open for clients that waited ReservePoolTimeout (default 0: no
	// reserve), as PgBouncer's reserve_pool_size.
	ReservePoolSize int
	// ReservePoolTimeout is how long a client waits before the reserve
	// may be used (default 5s).
	ReservePoolTimeout time.Duration
	// MaxClientConn is the most client connections at once (default 100);
	// beyond it clients get SQLSTATE 53300.
	MaxClientConn int
	// QueryWaitTimeout is how long a client waits for a server connection
	// before it gets an error and is disconnected (default 120s).
	QueryWaitTimeout time.Duration
	// ServerConnectTimeout bounds one server login (default 15s).
	ServerConnectTimeout time.Duration
	// QueryTimeout cancels a request that has had no answer for this long:
	// the client gets SQLSTATE 57014 "query_timeout" and is disconnected,
	// the server connection closed (default 0: off).
	QueryTimeout time.Duration
	// IdleTransactionTimeout disconnects a client that sits inside a
	// transaction without sending anything for this long; its transaction
	// is rolled back by closing the server connection (default 0: off).
	IdleTransactionTimeout time.Duration
	// ServerIdleTimeout closes server connections idle longer than this,
	// down to MinPoolSize (default 600s; negative disables).
	ServerIdleTimeout time.Duration
	// ServerLifetime closes a server connection at its first release
	// after this age (default 3600s; negative disables).
	ServerLifetime time.Duration
	// ServerResetQuery runs on a server connection when a session-mode
	// client leaves (default "DISCARD ALL"). Not used in transaction mode.
	ServerResetQuery string
	// AuthTimeout bounds the client's startup and authentication
	// (default 60s).
	AuthTimeout time.Duration
	// MaxMessageLen is the largest message body accepted from an
	// authenticated client (default 64 MiB); before authentication the
	// limit is fixed and small.
	MaxMessageLen int
	// TLS, when set, is offered to clients that send SSLRequest (the
	// caller loads the certificate). Without it SSLRequest is answered 'N'.
	TLS *tls.Config
	// ClientTLSMode is "prefer" (default: TLS if the client asks and TLS is
	// set) or "require" (plaintext clients are refused with SQLSTATE 28000).
	ClientTLSMode string
	// Credentials, if set, gives the login for server connections instead
	// of Database.User/Password or the client's own password. The
	// credential-rotation issue plugs in here.
	Credentials Credentials
	// AuthUser and AuthQuery authenticate clients that are not in Users,
	// as PgBouncer does: AuthUser (listed in Users with a password) logs in
	// to the client's database and runs AuthQuery with the client's user
	// name as $1; the second column of the row is the password verifier
	// (SCRAM-SHA-256 or md5). No row, or NULL: the login fails like a
	// wrong password.
	AuthUser  string
	AuthQuery string
	// OnReload runs the admin console's RELOAD; nil answers that reloading
	// is not available.
	OnReload func(ctx context.Context) error
	// OnShutdown runs the admin console's SHUTDOWN; nil closes the pooler.
	OnShutdown func()
	// PreparedStatementCacheSize is how many named prepared statements
	// each server connection keeps in transaction mode (default 200,
	// as PgBouncer's max_prepared_statements); evicted ones are closed on
	// the server. Negative turns the transaction-mode bookkeeping off:
	// named statements and SET then pass through untouched (and break or
	// leak when clients move between server connections).
	PreparedStatementCacheSize int
}

// DefaultAuthQuery is PgBouncer's default auth_query.
const DefaultAuthQuery = "SELECT usename, passwd FROM pg_shadow WHERE usename=$1"

// Database is one database clients may connect to.
type Database struct {
	Host string // default 127.0.0.1
	Port int    // default 5432
	// DBName is the database on the server (default: the name clients use).
	DBName string
	// User and Password, when User is set, are the server login for every
	// client of this database (PgBouncer's force_user).
	User     string
	Password string
	PoolSize int  // default Config.DefaultPoolSize
	PoolMode Mode // default Config.PoolMode
	// MinPoolSize and ReservePoolSize override the Config's when not 0.
	MinPoolSize     int
	ReservePoolSize int
}

// User is one client login.
type User struct {
	Name string
	// Password is the plaintext password, an "md5..." hash (md5 auth
	// only) or a "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>"
	// verifier as in pg_authid. Server logins need the plaintext.
	Password string
	PoolMode Mode // overrides the database's mode when set
}

// Credentials gives the server login for a client user on a database.
type Credentials interface {
	ServerLogin(database, user string) (login, password string, err error)
}

// Defaults.
const (
	defaultPoolSize       = 20
	defaultMaxClientConn  = 100
	defaultQueryWait      = 120 * time.Second
	defaultConnectTimeout = 15 * time.Second
	defaultAuthTimeout    = 60 * time.Second
	defaultResetQuery     = "DISCARD ALL"
	defaultIdleTimeout    = 600 * time.Second
	defaultLifetime       = 3600 * time.Second
	defaultMaxMessageLen  = 64 << 20
	defaultReserveTimeout = 5 * time.Second
	defaultPort           = 5432
	defaultHost           = "127.0.0.1"
	// preAuthMaxMessageLen limits messages before the client is known.
	preAuthMaxMessageLen = 8 << 10
)

func (c Config) withDefaults() Config {
	if c.AuthType == "" {
		c.AuthType = AuthSCRAM
	}
	if c.PoolMode == "" {
		c.PoolMode = ModeTransaction
	}
	if c.ClientTLSMode == "" {
		c.ClientTLSMode = TLSPrefer
	}
	if c.DefaultPoolSize == 0 {
		c.DefaultPoolSize = defaultPoolSize
	}
	if c.MaxClientConn == 0 {
		c.MaxClientConn = defaultMaxClientConn
	}
	if c.QueryWaitTimeout == 0 {
		c.QueryWaitTimeout = defaultQueryWait
	}
	if c.ServerConnectTimeout == 0 {
		c.ServerConnectTimeout = defaultConnectTimeout
	}
	if c.AuthTimeout == 0 {
		c.AuthTimeout = defaultAuthTimeout
	}
	if c.ServerIdleTimeout == 0 {
		c.ServerIdleTimeout = defaultIdleTimeout
	}
	if c.ServerLifetime == 0 {
		c.ServerLifetime = defaultLifetime
	}
	if c.ServerResetQuery == "" {
		c.ServerResetQuery = defaultResetQuery
	}
	if c.MaxMessageLen == 0 {
		c.MaxMessageLen = defaultMaxMessageLen
	}
	if c.ReservePoolTimeout == 0 {
		c.ReservePoolTimeout = defaultReserveTimeout
	}
	if c.AuthUser != "" && c.AuthQuery == "" {
		c.AuthQuery = DefaultAuthQuery
	}
	dbs := make(map[string]Database, len(c.Databases))
	for name, d := range c.Databases {
		if d.Host == "" {
			d.Host = defaultHost
		}
		if d.Port == 0 {
			d.Port = defaultPort
		}
		if d.DBName == "" {
			d.DBName = name
		}
		if d.PoolSize == 0 {
			d.PoolSize = c.DefaultPoolSize
		}
		if d.PoolMode == "" {
			d.PoolMode = c.PoolMode
		}
		if d.MinPoolSize == 0 {
			d.MinPoolSize = c.MinPoolSize
		}
		if d.ReservePoolSize == 0 {
			d.ReservePoolSize = c.ReservePoolSize
		}
		dbs[name] = d
	}
	c.Databases = dbs
	return c
}

// Validate reports every problem in c (after defaults), naming the field.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("pooler.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Listen == "" {
		bad("listen", "missing; give a host:port such as 127.0.0.1:6432")
	}
	if c.AuthType != AuthSCRAM && c.AuthType != AuthMD5 {
		bad("auth_type", "%q is not supported; use %q or %q", c.AuthType, AuthSCRAM, AuthMD5)
	}
	checkMode := func(field string, m Mode) {
		if m != "" && m != ModeTransaction && m != ModeSession {
			bad(field, "%q is not a pool mode; use %q or %q", m, ModeTransaction, ModeSession)
		}
	}
	checkMode("pool_mode", c.PoolMode)
	switch c.ClientTLSMode {
	case TLSPrefer:
	case TLSRequire:
		if c.TLS == nil {
			bad("client_tls_sslmode", "require needs a certificate; set client_tls_cert_file and client_tls_key_file")
		}
	default:
		bad("client_tls_sslmode", "%q is not supported; use %q or %q", c.ClientTLSMode, TLSPrefer, TLSRequire)
	}
	if c.DefaultPoolSize < 1 {
		bad("default_pool_size", "%d; give at least 1", c.DefaultPoolSize)
	}
	if c.MinPoolSize < 0 {
		bad("min_pool_size", "%d is negative", c.MinPoolSize)
	}
	if c.MaxClientConn < 1 {
		bad("max_client_conn", "%d; give at least 1", c.MaxClientConn)
	}
	if c.ReservePoolSize < 0 {
		bad("reserve_pool_size", "%d is negative", c.ReservePoolSize)
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"query_wait_timeout", c.QueryWaitTimeout}, {"server_connect_timeout", c.ServerConnectTimeout},
		{"client_login_timeout", c.AuthTimeout}, {"reserve_pool_timeout", c.ReservePoolTimeout},
		{"query_timeout", c.QueryTimeout}, {"idle_transaction_timeout", c.IdleTransactionTimeout}} {
		if d.v < 0 {
			bad(d.field, "%s is negative", d.v)
		}
	}
	if len(c.Databases) == 0 {
		bad("databases", "none configured; add at least one")
	}
	for name, d := range c.Databases {
		field := "databases." + name
		if isAdminDB(name) {
			bad(field, "%q is the admin console's name; rename the database", name)
		}
		checkMode(field+".pool_mode", d.PoolMode)
		if d.PoolSize < 1 {
			bad(field+".pool_size", "%d; give at least 1", d.PoolSize)
		}
		if d.Port < 1 || d.Port > 65535 {
			bad(field+".port", "%d is not a TCP port", d.Port)
		}
		if d.MinPoolSize < 0 || d.MinPoolSize > d.PoolSize {
			bad(field+".min_pool_size", "%d; give 0 to pool_size (%d)", d.MinPoolSize, d.PoolSize)
		}
		if d.ReservePoolSize < 0 {
			bad(field+".reserve_pool_size", "%d is negative", d.ReservePoolSize)
		}
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		field := fmt.Sprintf("users[%d]", i)
		if u.Name == "" {
			bad(field+".name", "missing")
		}
		if seen[u.Name] {
			bad(field+".name", "%q listed twice", u.Name)
		}
		seen[u.Name] = true
		checkMode(field+".pool_mode", u.PoolMode)
		if _, err := parseSecret(u.Name, u.Password); err != nil {
			bad(field+".password", "%v", err)
		}
	}
	for i, a := range c.AdminUsers {
		if !seen[a] {
			bad(fmt.Sprintf("admin_users[%d]", i), "%q is not in users; add it there with a password", a)
		}
	}
	if c.AuthUser != "" {
		found := false
		for _, u := range c.Users {
			if u.Name == c.AuthUser {
				found = true
				if sec, err := parseSecret(u.Name, u.Password); err == nil && sec.plain == "" {
					bad("auth_user", "%q logs in to the server, so it needs a password, not a verifier", c.AuthUser)
				}
			}
		}
		if !found {
			bad("auth_user", "%q is not in users; add it there with a password", c.AuthUser)
		}
	}
	return errors.Join(errs...)
}

func isAdminDB(name string) bool {
	for _, a := range AdminDatabases {
		if strings.EqualFold(name, a) {
			return true
		}
	}
	return false
}
