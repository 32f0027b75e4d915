package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"holdfast/internal/config"
	"holdfast/internal/pgwire"
	"holdfast/internal/pool"
)

// poolerRunner is the running pooler and what feeds its figures into the
// metrics store.
type poolerRunner struct {
	srv     *pool.Server
	cfg     *config.Pooler
	sampler *poolerSampler
	stop    context.CancelFunc
	done    chan struct{}
}

// poolerConfig turns the YAML section into the pooler's config, reading
// the users' passwords from their env variables or files now; server
// passwords are read by credentials each time a server login needs one.
func poolerConfig(pc *config.Pooler) (pool.Config, error) {
	out := pool.Config{
		Listen:                 pc.Listen,
		AuthType:               pc.AuthType,
		AuthUser:               pc.AuthUser,
		AuthQuery:              pc.AuthQuery,
		AdminUsers:             pc.AdminUsers,
		PoolMode:               pool.Mode(pc.PoolMode),
		DefaultPoolSize:        pc.DefaultPoolSize,
		MinPoolSize:            pc.MinPoolSize,
		ReservePoolSize:        pc.ReservePoolSize,
		ReservePoolTimeout:     pc.ReservePoolTimeout.D(),
		MaxClientConn:          pc.MaxClientConn,
		QueryTimeout:           pc.QueryTimeout.D(),
		QueryWaitTimeout:       pc.QueryWaitTimeout.D(),
		IdleTransactionTimeout: pc.IdleTransactionTimeout.D(),
		ServerIdleTimeout:      offOrDefault(pc.ServerIdleTimeout),
		ServerLifetime:         offOrDefault(pc.ServerLifetime),
		ServerConnectTimeout:   pc.ServerConnectTimeout.D(),
		ServerResetQuery:       pc.ServerResetQuery,
		AuthTimeout:            pc.ClientLoginTimeout.D(),
		MaxMessageLen:          pc.MaxPacketSize,
		Databases:              map[string]pool.Database{},
	}
	if m := pc.MaxPreparedStatements; m != nil {
		out.PreparedStatementCacheSize = *m
		if *m == 0 {
			out.PreparedStatementCacheSize = -1 // off, PgBouncer's 0
		}
	}
	creds := &poolerCredentials{dbs: pc.Databases, users: map[string]config.PoolerUser{}}
	out.Credentials = creds
	for _, u := range pc.Users {
		creds.users[u.Name] = u
		pw := u.Verifier
		if pw == "" {
			v, err := config.ReadSecret(u.PasswordEnv, u.PasswordFile)
			if err != nil {
				return pool.Config{}, fmt.Errorf("pooler.users %s: %w", u.Name, err)
			}
			pw = v
		}
		out.Users = append(out.Users, pool.User{Name: u.Name, Password: pw, PoolMode: pool.Mode(u.PoolMode)})
	}
	for name, d := range pc.Databases {
		out.Databases[name] = pool.Database{
			Host: d.Host, Port: d.Port, DBName: d.DBName, User: d.User,
			PoolSize: d.PoolSize, MinPoolSize: d.MinPoolSize, ReservePoolSize: d.ReservePoolSize,
			PoolMode: pool.Mode(d.PoolMode),
		}
	}
	if t := pc.TLS; t != nil {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return pool.Config{}, fmt.Errorf("pooler.tls: %w", err)
		}
		out.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		out.ClientTLSMode = t.Mode
	}
	if err := out.Validate(); err != nil {
		return pool.Config{}, err
	}
	return out, nil
}

// offOrDefault maps the YAML's "unset" to the pooler's default and 0 to
// off (PgBouncer's meaning of 0 for these timeouts).
func offOrDefault(d *config.Duration) time.Duration {
	switch {
	case d == nil:
		return 0
	case *d == 0:
		return -1
	}
	return d.D()
}

// poolerCredentials is the pooler's credential source for server logins:
// the database's user, else the client's own name, with the password read
// from its env variable or file at each login, so a rotated file is used
// by the next server connection. The rotation issue replaces it.
type poolerCredentials struct {
	dbs   map[string]config.PoolerDatabase
	users map[string]config.PoolerUser
}

var _ pool.Credentials = (*poolerCredentials)(nil)

func (c *poolerCredentials) ServerLogin(database, user string) (string, string, error) {
	if d, ok := c.dbs[database]; ok && d.User != "" {
		pw, err := config.ReadSecret(d.PasswordEnv, d.PasswordFile)
		if err != nil {
			return "", "", pgwire.Fatal(pgwire.CodeInvalidAuthSpec, "no server login for database %q: %v", database, err)
		}
		return d.User, pw, nil
	}
	if u, ok := c.users[user]; ok && u.Verifier == "" {
		pw, err := config.ReadSecret(u.PasswordEnv, u.PasswordFile)
		if err != nil {
			return "", "", pgwire.Fatal(pgwire.CodeInvalidAuthSpec, "no server login for user %q: %v", user, err)
		}
		return user, pw, nil
	}
	return "", "", pgwire.Fatal(pgwire.CodeInvalidAuthSpec,
		"no server login for user %q on database %q; give the database a user with password_env or password_file", user, database)
}

// startPooler starts the pooler when the config has one.
func (d *Daemon) startPooler(cfg *config.Config) error {
	if cfg.Pooler == nil {
		return nil
	}
	r, err := d.newPooler(cfg.Pooler)
	if err != nil {
		return err
	}
	d.pooler.Store(r)
	fmt.Fprintf(d.opts.Out, "holdfast: pooler on postgres://%s\n", r.srv.Addr())
	return nil
}

func (d *Daemon) newPooler(pc *config.Pooler) (*poolerRunner, error) {
	pcfg, err := poolerConfig(pc)
	if err != nil {
		return nil, err
	}
	pcfg.OnReload = func(ctx context.Context) error {
		return d.Reload(ctx, "pooler-admin", "RELOAD from the pooler's admin console")
	}
	srv, err := pool.New(pcfg, d.log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Start(ctx); err != nil {
		cancel()
		return nil, err
	}
	r := &poolerRunner{srv: srv, cfg: pc, sampler: newPoolerSampler(d.metrics), stop: cancel, done: make(chan struct{})}
	go r.run(ctx)
	return r, nil
}

// run feeds the metrics store once a second until stopped.
func (r *poolerRunner) run(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.sampler.sample(now, r.srv.Stats())
		}
	}
}

func (r *poolerRunner) close() {
	r.stop()
	_ = r.srv.Close()
	<-r.done
}

// preparePooler builds what a reload changes in the pooler and returns
// the step that applies it after the rest of the reload succeeded, and
// the one that undoes the preparation if it did not. Settings a running
// listener cannot change need a restart.
func (d *Daemon) preparePooler(next *config.Config) (apply, abort func(), err error) {
	nop := func() {}
	cur := d.pooler.Load()
	switch {
	case cur == nil && next.Pooler == nil:
		return nop, nop, nil
	case cur == nil:
		r, err := d.newPooler(next.Pooler)
		if err != nil {
			return nil, nil, fmt.Errorf("pooler: %w", err)
		}
		return func() {
			d.pooler.Store(r)
			fmt.Fprintf(d.opts.Out, "holdfast: pooler on postgres://%s\n", r.srv.Addr())
		}, r.close, nil
	case next.Pooler == nil:
		return func() {
			d.pooler.Store(nil)
			go cur.close()
		}, nop, nil
	}
	a, b := cur.cfg, next.Pooler
	if a.Listen != b.Listen || !sameTLS(a.TLS, b.TLS) || a.ClientLoginTimeout != b.ClientLoginTimeout ||
		a.MaxPacketSize != b.MaxPacketSize || a.ServerResetQuery != b.ServerResetQuery ||
		!sameIntPtr(a.MaxPreparedStatements, b.MaxPreparedStatements) {
		return nil, nil, fmt.Errorf("%s: pooler.listen, tls, client_login_timeout, max_packet_size, server_reset_query and max_prepared_statements %w; the running config is unchanged", next.File, ErrNeedsRestart)
	}
	pcfg, err := poolerConfig(b)
	if err != nil {
		return nil, nil, fmt.Errorf("pooler: %w", err)
	}
	pcfg.OnReload = func(ctx context.Context) error {
		return d.Reload(ctx, "pooler-admin", "RELOAD from the pooler's admin console")
	}
	return func() {
		if err := cur.srv.Update(pcfg); err != nil {
			// Validated above; Update fails only on what Validate checks.
			d.log.Error("pooler reload", "err", err)
			return
		}
		cur.cfg = b
	}, nop, nil
}

func sameIntPtr(a, b *int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sameTLS(a, b *config.PoolerTLS) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// poolerStatus is the pooler's part of GET /api/v1/status.
func (d *Daemon) poolerStatus() any {
	r := d.pooler.Load()
	if r == nil {
		return nil
	}
	type poolStatus struct {
		Database       string `json:"database"`
		User           string `json:"user"`
		Mode           string `json:"mode"`
		PoolSize       int    `json:"pool_size"`
		ClientsActive  int    `json:"cl_active"`
		ClientsWaiting int    `json:"cl_waiting"`
		ServersActive  int    `json:"sv_active"`
		ServersIdle    int    `json:"sv_idle"`
		Paused         bool   `json:"paused"`
	}
	st := r.srv.Stats()
	pools := make([]poolStatus, 0, len(st.Pools))
	for _, p := range st.Pools {
		pools = append(pools, poolStatus{p.Database, p.User, string(p.Mode), p.PoolSize, p.ClientsActive,
			p.ClientsWaiting, p.ServersActive, p.ServersIdle, p.Paused})
	}
	return map[string]any{"listen": r.srv.Addr().String(), "clients": st.Clients, "pools": pools}
}

// PoolerAddr is the pooler's address, or "" when none runs.
func (d *Daemon) PoolerAddr() string {
	if r := d.pooler.Load(); r != nil {
		return r.srv.Addr().String()
	}
	return ""
}

func (d *Daemon) stopPooler() {
	if r := d.pooler.Swap(nil); r != nil {
		r.close()
	}
}

// poolerCollector exposes the running pooler's figures on /metrics; it
// is registered once and follows reloads.
type poolerCollector struct{ d *Daemon }

func (poolerCollector) Describe(chan<- *prometheus.Desc) {} // unchecked: the pooler may come and go

func (c poolerCollector) Collect(ch chan<- prometheus.Metric) {
	if r := c.d.pooler.Load(); r != nil {
		r.srv.Collector().Collect(ch)
	}
}
