package config

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Pooler configures holdfast's PostgreSQL pooler (PgBouncer's settings,
// under the same names where PgBouncer has one). Passwords are never
// written here: users give password_env or password_file, or a SCRAM
// verifier; server logins give password_env or password_file.
type Pooler struct {
	// Listen is host:port for PostgreSQL clients, e.g. 127.0.0.1:6432.
	Listen string `yaml:"listen"`
	// TLS, when set, is offered to clients that ask (SSLRequest).
	TLS *PoolerTLS `yaml:"tls"`
	// AuthType is scram-sha-256 (default) or md5.
	AuthType string `yaml:"auth_type"`
	// AuthUser and AuthQuery look up clients that are not in Users on the
	// server, as PgBouncer's auth_user/auth_query.
	AuthUser  string `yaml:"auth_user"`
	AuthQuery string `yaml:"auth_query"`
	// AdminUsers may use the admin console (database pgbouncer or holdfast).
	AdminUsers []string `yaml:"admin_users"`
	// Users are the client logins.
	Users []PoolerUser `yaml:"users"`
	// Databases maps the name clients connect to onto a server database.
	Databases map[string]PoolerDatabase `yaml:"databases"`

	PoolMode               string    `yaml:"pool_mode"`
	DefaultPoolSize        int       `yaml:"default_pool_size"`
	MinPoolSize            int       `yaml:"min_pool_size"`
	ReservePoolSize        int       `yaml:"reserve_pool_size"`
	ReservePoolTimeout     Duration  `yaml:"reserve_pool_timeout"`
	MaxClientConn          int       `yaml:"max_client_conn"`
	QueryTimeout           Duration  `yaml:"query_timeout"`
	QueryWaitTimeout       Duration  `yaml:"query_wait_timeout"`
	IdleTransactionTimeout Duration  `yaml:"idle_transaction_timeout"`
	ServerIdleTimeout      *Duration `yaml:"server_idle_timeout"` // 0 disables
	ServerLifetime         *Duration `yaml:"server_lifetime"`     // 0 disables
	ServerConnectTimeout   Duration  `yaml:"server_connect_timeout"`
	ServerResetQuery       string    `yaml:"server_reset_query"`
	ClientLoginTimeout     Duration  `yaml:"client_login_timeout"`
	MaxPacketSize          int       `yaml:"max_packet_size"`
	// MaxPreparedStatements is how many named prepared statements each
	// server connection keeps in transaction mode (default 200); 0 turns
	// tracking off, as in PgBouncer.
	MaxPreparedStatements *int `yaml:"max_prepared_statements"`
}

// PoolerTLS is the pooler's certificate and client TLS mode.
type PoolerTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Mode is prefer (default) or require (plaintext clients refused).
	Mode string `yaml:"mode"`
}

// PoolerUser is one client login. Exactly one of PasswordEnv,
// PasswordFile and Verifier is set.
type PoolerUser struct {
	Name         string `yaml:"name"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// Verifier is a SCRAM-SHA-256 verifier as in pg_authid
	// ("SCRAM-SHA-256$4096:salt$StoredKey:ServerKey") or an md5 hash
	// ("md5" + 32 hex digits); such a user cannot log in to the server
	// with its own name, so its databases need a user.
	Verifier string `yaml:"verifier"`
	PoolMode string `yaml:"pool_mode"`
}

// PoolerDatabase is one database clients may connect to.
type PoolerDatabase struct {
	Host   string `yaml:"host"`
	Port   int    `yaml:"port"`
	DBName string `yaml:"dbname"`
	// User, with PasswordEnv or PasswordFile, is the server login for
	// every client of this database (PgBouncer's force user). Without it
	// each client logs in to the server as itself with its own password.
	User            string `yaml:"user"`
	PasswordEnv     string `yaml:"password_env"`
	PasswordFile    string `yaml:"password_file"`
	PoolSize        int    `yaml:"pool_size"`
	MinPoolSize     int    `yaml:"min_pool_size"`
	ReservePoolSize int    `yaml:"reserve_pool_size"`
	PoolMode        string `yaml:"pool_mode"`
}

// PoolerNamespace is the metrics-store namespace of the pooler's figures,
// per Database, under RDS Proxy's metric names (the daemon writes them).
const PoolerNamespace = "holdfast/Pooler"

// The pooler's metrics in the metrics store.
const (
	MetricDatabaseConnections         = "DatabaseConnections"                  // server connections open
	MetricDatabaseConnectionsBorrowed = "DatabaseConnectionsCurrentlyBorrowed" // linked to a client
	MetricClientConnections           = "ClientConnections"                    // clients connected
	MetricClientConnectionsWaiting    = "ClientConnectionsWaiting"             // waiting for a server connection
	MetricQueryRequests               = "QueryRequests"                        // requests in the second
	MetricTransactions                = "Transactions"                         // transactions in the second
	MetricBorrowLatency               = "DatabaseConnectionsBorrowLatency"     // mean wait in the second, µs
)

// PoolerMetrics lists the pooler's metric names.
var PoolerMetrics = []string{MetricDatabaseConnections, MetricDatabaseConnectionsBorrowed, MetricClientConnections,
	MetricClientConnectionsWaiting, MetricQueryRequests, MetricTransactions, MetricBorrowLatency}

// checkPoolerAlarmMetric checks an alarm's reference to a pooler metric:
// a known name, and a Database the pooler section declares.
func (l *loader) checkPoolerAlarmMetric(c *Config, p, name string, dims map[string]string) {
	if !contains(PoolerMetrics, name) {
		l.at(p+".name", "unknown metric %q in %s; it has %s", name, PoolerNamespace, strings.Join(PoolerMetrics, ", "))
	}
	db, ok := dims["Database"]
	switch {
	case !ok || len(dims) != 1:
		l.at(p+".dimensions", "pooler metrics are kept per Database alone; name the database, e.g. {Database: app}")
	case c.Pooler == nil:
		l.at(p+".dimensions.Database", "unknown metric: there is no pooler section")
	default:
		if _, ok := c.Pooler.Databases[db]; !ok {
			l.at(p+".dimensions.Database", "unknown metric: no pooler database named %q", db)
		}
	}
}

var (
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	md5HashRE  = regexp.MustCompile(`^md5[0-9a-f]{32}$`)
	scramVerRE = regexp.MustCompile(`^SCRAM-SHA-256\$[0-9]+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$`)
)

// ReadSecret returns the value of an env variable or the first line of a
// file; the config names which. It is used by validation and by the
// daemon each time it needs the value.
func ReadSecret(env, file string) (string, error) {
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set or empty", env)
		}
		return v, nil
	}
	fi, err := os.Stat(file)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", file, err)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		return "", fmt.Errorf("%s is readable by other users (mode %v); chmod o-rwx it", file, fi.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", file, err)
	}
	v, _, _ := strings.Cut(string(b), "\n")
	v = strings.TrimRight(v, "\r")
	if v == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return v, nil
}

// checkSecretSource checks that exactly one source is given (verifier
// counts when allowed) and that it can be read.
func (l *loader) checkSecretSource(p, env, file, verifier string, verifierOK bool) {
	n := 0
	for _, s := range []string{env, file, verifier} {
		if s != "" {
			n++
		}
	}
	switch {
	case n == 0 && verifierOK:
		l.at(p, "no password: give password_env, password_file or verifier (plaintext passwords are not accepted in the config)")
		return
	case n == 0:
		l.at(p, "no password: give password_env or password_file (plaintext passwords are not accepted in the config)")
		return
	case n > 1:
		l.at(p, "give only one of password_env, password_file and verifier")
		return
	}
	switch {
	case env != "":
		if !envNameRE.MatchString(env) {
			l.at(p+".password_env", "%q is not an environment variable name", env)
		} else if _, err := ReadSecret(env, ""); err != nil {
			l.at(p+".password_env", "%v", err)
		}
	case file != "":
		if _, err := ReadSecret("", file); err != nil {
			l.at(p+".password_file", "%v", err)
		}
	case verifier != "":
		if !scramVerRE.MatchString(verifier) && !md5HashRE.MatchString(verifier) {
			l.at(p+".verifier", "want a SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> verifier or an md5 hash (md5 and 32 hex digits)")
		}
	}
}

func (l *loader) checkPoolMode(field, mode string) {
	if mode != "" && mode != "transaction" && mode != "session" {
		l.at(field, "want transaction or session, got %q", mode)
	}
}

// validatePooler checks the pooler section.
func (l *loader) validatePooler(c *Config) {
	pc := c.Pooler
	if pc == nil {
		return
	}
	if _, _, err := net.SplitHostPort(pc.Listen); err != nil {
		l.at("pooler.listen", "want host:port such as 127.0.0.1:6432, got %q", pc.Listen)
	} else if pc.Listen == c.Admin.Listen && !strings.HasSuffix(pc.Listen, ":0") {
		l.at("pooler.listen", "%s is already used by admin.listen", pc.Listen)
	}
	if t := pc.TLS; t != nil {
		if t.CertFile == "" {
			l.at("pooler.tls.cert_file", "required with tls")
		}
		if t.KeyFile == "" {
			l.at("pooler.tls.key_file", "required with tls")
		}
		if t.Mode != "" && t.Mode != "prefer" && t.Mode != "require" {
			l.at("pooler.tls.mode", "want prefer or require, got %q", t.Mode)
		}
	}
	if pc.AuthType != "" && pc.AuthType != "scram-sha-256" && pc.AuthType != "md5" {
		l.at("pooler.auth_type", "want scram-sha-256 or md5, got %q", pc.AuthType)
	}
	l.checkPoolMode("pooler.pool_mode", pc.PoolMode)
	for _, f := range []struct {
		name string
		v    int
	}{{"default_pool_size", pc.DefaultPoolSize}, {"min_pool_size", pc.MinPoolSize},
		{"reserve_pool_size", pc.ReservePoolSize}, {"max_client_conn", pc.MaxClientConn}, {"max_packet_size", pc.MaxPacketSize}} {
		if f.v < 0 {
			l.at("pooler."+f.name, "must be 0 (the default) or more")
		}
	}
	if pc.DefaultPoolSize > 0 && pc.MinPoolSize > pc.DefaultPoolSize {
		l.at("pooler.min_pool_size", "%d is more than default_pool_size (%d)", pc.MinPoolSize, pc.DefaultPoolSize)
	}
	if m := pc.MaxPreparedStatements; m != nil && *m < 0 {
		l.at("pooler.max_prepared_statements", "must be 0 (off) or more")
	}
	if pc.MaxPacketSize > 0 && pc.MaxPacketSize < 8192 {
		l.at("pooler.max_packet_size", "%d is too small; give at least 8192 bytes", pc.MaxPacketSize)
	}

	users := map[string]PoolerUser{}
	for i, u := range pc.Users {
		p := fmt.Sprintf("pooler.users[%d]", i)
		switch {
		case u.Name == "":
			l.at(p+".name", "required")
		case users[u.Name].Name != "":
			l.at(p+".name", "another user is already named %q", u.Name)
		}
		users[u.Name] = u
		l.checkSecretSource(p, u.PasswordEnv, u.PasswordFile, u.Verifier, true)
		l.checkPoolMode(p+".pool_mode", u.PoolMode)
	}
	for i, a := range pc.AdminUsers {
		if _, ok := users[a]; !ok {
			l.at(fmt.Sprintf("pooler.admin_users[%d]", i), "no user named %q in pooler.users", a)
		}
	}
	if pc.AuthQuery != "" && pc.AuthUser == "" {
		l.at("pooler.auth_query", "needs auth_user: the user that runs it")
	}
	if pc.AuthUser != "" {
		if u, ok := users[pc.AuthUser]; !ok {
			l.at("pooler.auth_user", "no user named %q in pooler.users; add it with password_env or password_file", pc.AuthUser)
		} else if u.Verifier != "" {
			l.at("pooler.auth_user", "%q logs in to the server, so it needs password_env or password_file, not a verifier", pc.AuthUser)
		}
	}

	if len(pc.Databases) == 0 {
		l.at("pooler.databases", "none; add one such as {app: {host: 127.0.0.1, port: 5432, dbname: app}}")
	}
	names := make([]string, 0, len(pc.Databases))
	for name := range pc.Databases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		d := pc.Databases[name]
		p := "pooler.databases." + name
		if strings.EqualFold(name, "pgbouncer") || strings.EqualFold(name, "holdfast") {
			l.at(p, "%q is the admin console's name; use another", name)
		}
		if d.Port < 0 || d.Port > 65535 {
			l.at(p+".port", "%d is not a TCP port", d.Port)
		}
		if d.PoolSize < 0 || d.MinPoolSize < 0 || d.ReservePoolSize < 0 {
			l.at(p, "pool_size, min_pool_size and reserve_pool_size must be 0 (the default) or more")
		}
		size := d.PoolSize
		if size == 0 {
			size = pc.DefaultPoolSize
		}
		if size > 0 && d.MinPoolSize > size {
			l.at(p+".min_pool_size", "%d is more than the pool size (%d)", d.MinPoolSize, size)
		}
		l.checkPoolMode(p+".pool_mode", d.PoolMode)
		if d.User != "" {
			l.checkSecretSource(p, d.PasswordEnv, d.PasswordFile, "", false)
		} else if d.PasswordEnv != "" || d.PasswordFile != "" {
			l.at(p+".user", "a server password needs the user it belongs to")
		}
	}
}
