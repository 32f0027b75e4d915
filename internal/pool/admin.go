package pool

import (
	"fmt"
	"maps"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"holdfast/internal/pgwire"
)

// Version is what the admin console reports for SHOW VERSION.
const Version = "holdfast pooler 0.1"

// Type OIDs used in admin result sets.
const (
	oidText = 25
	oidInt8 = 20
)

// adminParams are the ParameterStatus values the console reports;
// server_version keeps psql happy.
var adminParams = map[string]string{
	"server_version":              "15.0",
	"server_encoding":             "UTF8",
	"client_encoding":             "UTF8",
	"DateStyle":                   "ISO",
	"integer_datetimes":           "on",
	"standard_conforming_strings": "on",
	"application_name":            "",
}

// table is one admin result set.
type table struct {
	cols []string
	ints map[int]bool // column indexes holding numbers
	rows [][]string
}

func (c *client) serveAdmin() {
	if err := c.sendWelcome(adminParams); err != nil {
		return
	}
	for {
		m, err := c.r.Next()
		if err != nil {
			return
		}
		switch m.Type() {
		case pgwire.MsgTerminate:
			return
		case pgwire.MsgQuery:
			q, err := pgwire.Query(m)
			if err != nil {
				c.fail(pgwire.Fatal(pgwire.CodeProtocolViolation, "invalid Query message"))
				return
			}
			if err := c.adminQuery(q); err != nil {
				return
			}
		default:
			c.fail(pgwire.Fatal(pgwire.CodeFeatureNotSupported,
				"the admin console speaks only the simple query protocol (message type %q)", m.Type()))
			return
		}
	}
}

func (c *client) adminQuery(q string) error {
	cmd := strings.ToUpper(strings.Join(strings.Fields(strings.TrimRight(strings.TrimSpace(q), "; \t\n")), " "))
	var buf []byte
	var t *table
	switch cmd {
	case "":
		buf = pgwire.Encode(buf, &pgproto3.EmptyQueryResponse{})
	case "SHOW POOLS":
		t = c.srv.showPools()
	case "SHOW STATS":
		t = c.srv.showStats()
	case "SHOW CLIENTS":
		t = c.srv.showClients()
	case "SHOW SERVERS":
		t = c.srv.showServers()
	case "SHOW DATABASES":
		t = c.srv.showDatabases()
	case "SHOW PREPARED_STATEMENTS":
		t = c.srv.showPrepared()
	case "SHOW VERSION":
		t = &table{cols: []string{"version"}, rows: [][]string{{Version}}}
	case "SHOW CONFIG":
		t = c.srv.showConfig()
	case "SHOW LISTS":
		t = c.srv.showLists()
	default:
		tag, err := c.adminCommand(q)
		switch {
		case err != nil:
			buf = pgwire.Encode(buf, pgwire.AsError(err).Response())
		case tag == "":
			return nil // SHUTDOWN: the connection is gone
		default:
			buf = pgwire.Encode(buf, &pgproto3.CommandComplete{CommandTag: []byte(tag)})
		}
	}
	if t != nil {
		buf = t.encode(buf)
	}
	buf = pgwire.Encode(buf, &pgproto3.ReadyForQuery{TxStatus: pgwire.TxIdle})
	return c.write(buf)
}

func (t *table) encode(buf []byte) []byte {
	rd := &pgproto3.RowDescription{}
	for i, name := range t.cols {
		oid, size := uint32(oidText), int16(-1)
		if t.ints[i] {
			oid, size = oidInt8, 8
		}
		rd.Fields = append(rd.Fields, pgproto3.FieldDescription{Name: []byte(name), DataTypeOID: oid, DataTypeSize: size, TypeModifier: -1})
	}
	buf = pgwire.Encode(buf, rd)
	for _, row := range t.rows {
		dr := &pgproto3.DataRow{}
		for _, v := range row {
			dr.Values = append(dr.Values, []byte(v))
		}
		buf = pgwire.Encode(buf, dr)
	}
	return pgwire.Encode(buf, &pgproto3.CommandComplete{CommandTag: []byte("SHOW")})
}

func (s *Server) snapshots() []poolSnapshot {
	now := time.Now()
	pools := s.allPools()
	snaps := make([]poolSnapshot, 0, len(pools))
	for _, p := range pools {
		snaps = append(snaps, p.snapshot(now))
	}
	sort.Slice(snaps, func(i, j int) bool {
		if snaps[i].database != snaps[j].database {
			return snaps[i].database < snaps[j].database
		}
		return snaps[i].user < snaps[j].user
	})
	return snaps
}

// clientList returns the connected clients, admin ones included.
func (s *Server) clientList() []*client {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].since.Before(out[j].since) })
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func intCols(idx ...int) map[int]bool {
	m := map[int]bool{}
	for _, i := range idx {
		m[i] = true
	}
	return m
}

func (s *Server) showPools() *table {
	t := &table{
		cols: []string{"database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req", "cl_waiting_cancel_req",
			"sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used", "sv_tested", "sv_login",
			"maxwait", "maxwait_us", "pool_mode"},
		ints: intCols(2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14),
	}
	active := map[poolKey]int{}
	for _, c := range s.clientList() {
		c.mu.Lock()
		if c.pool != nil && !c.waiting {
			active[poolKey{c.database, c.user}]++
		}
		c.mu.Unlock()
	}
	for _, p := range s.snapshots() {
		w := p.maxWait
		t.rows = append(t.rows, []string{p.database, p.user,
			itoa(int64(active[poolKey{p.database, p.user}])), itoa(int64(p.clWaiting)), "0", "0",
			itoa(int64(p.svActive)), "0", "0", itoa(int64(p.svIdle)), "0", "0", itoa(int64(p.svLogin)),
			itoa(int64(w / time.Second)), itoa((w % time.Second).Microseconds()), string(p.mode)})
	}
	return t
}

func (s *Server) showStats() *table {
	t := &table{
		cols: []string{"database", "total_xact_count", "total_query_count", "total_received", "total_sent",
			"total_xact_time", "total_query_time", "total_wait_time",
			"avg_xact_count", "avg_query_count", "avg_recv", "avg_sent", "avg_xact_time", "avg_query_time", "avg_wait_time"},
		ints: intCols(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14),
	}
	// Totals per database, as PgBouncer reports them; averages are per
	// second (counts, bytes) or per transaction (times) since start.
	type agg struct{ xacts, queries, recv, sent, xactUs, waitUs int64 }
	byDB := map[string]*agg{}
	var names []string
	for _, p := range s.snapshots() {
		a := byDB[p.database]
		if a == nil {
			a = &agg{}
			byDB[p.database] = a
			names = append(names, p.database)
		}
		a.xacts += p.xacts
		a.queries += p.queries
		a.recv += p.recv
		a.sent += p.sent
		a.xactUs += p.xactUs
		a.waitUs += p.waitUs
	}
	secs := max(int64(time.Since(s.started)/time.Second), 1)
	per := func(n, d int64) string { return itoa(n / max(d, 1)) }
	for _, name := range names {
		a := byDB[name]
		t.rows = append(t.rows, []string{name,
			itoa(a.xacts), itoa(a.queries), itoa(a.recv), itoa(a.sent), itoa(a.xactUs), itoa(a.xactUs), itoa(a.waitUs),
			per(a.xacts, secs), per(a.queries, secs), per(a.recv, secs), per(a.sent, secs),
			per(a.xactUs, a.xacts), per(a.xactUs, a.queries), per(a.waitUs, a.xacts)})
	}
	return t
}

var connCols = []string{"type", "user", "database", "state", "addr", "port", "local_addr", "local_port",
	"connect_time", "request_time", "wait", "wait_us", "close_needed", "ptr", "link", "remote_pid", "tls",
	"application_name"}

const timeLayout = "2006-01-02 15:04:05 MST"

func splitAddr(a net.Addr) (string, string) {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String(), "0"
	}
	return host, port
}

func (s *Server) showClients() *table {
	t := &table{cols: connCols, ints: intCols(5, 7, 10, 11, 12, 15)}
	now := time.Now()
	for _, c := range s.clientList() {
		c.mu.Lock()
		state, link, req := "idle", "", c.request
		switch {
		case c.waiting:
			state = "waiting"
		case c.server != nil:
			state, link = "active", fmt.Sprintf("S%d", c.server.id)
		case c.admin:
			state = "active"
		}
		pid := c.key.pid
		c.mu.Unlock()
		var wait time.Duration
		if state == "waiting" {
			wait = now.Sub(req)
		}
		if req.IsZero() {
			req = c.since
		}
		host, port := splitAddr(c.conn.RemoteAddr())
		lhost, lport := splitAddr(c.conn.LocalAddr())
		t.rows = append(t.rows, []string{"C", c.user, c.database, state, host, port, lhost, lport,
			c.since.Format(timeLayout), req.Format(timeLayout), itoa(int64(wait / time.Second)),
			itoa((wait % time.Second).Microseconds()), "0", fmt.Sprintf("C%d", pid), link, "0", "", c.appName})
	}
	return t
}

func (s *Server) showServers() *table {
	t := &table{cols: connCols, ints: intCols(5, 7, 10, 11, 12, 15)}
	for _, p := range s.snapshots() {
		sort.Slice(p.servers, func(i, j int) bool { return p.servers[i].id < p.servers[j].id })
		for _, sv := range p.servers {
			host, port, _ := net.SplitHostPort(sv.addr)
			link := ""
			if sv.owner != nil {
				sv.owner.mu.Lock()
				link = fmt.Sprintf("C%d", sv.owner.key.pid)
				sv.owner.mu.Unlock()
			}
			t.rows = append(t.rows, []string{"S", p.user, p.database, sv.state, host, port, "", "0",
				sv.created.Format(timeLayout), sv.lastUsed.Format(timeLayout), "0", "0", boolInt(sv.closeNeeded),
				fmt.Sprintf("S%d", sv.id), link, itoa(int64(sv.pid)), "", "holdfast"})
		}
	}
	return t
}

func (s *Server) showDatabases() *table {
	t := &table{
		cols: []string{"name", "host", "port", "database", "force_user", "pool_size", "min_pool_size", "reserve_pool",
			"pool_mode", "max_connections", "current_connections", "paused", "disabled"},
		ints: intCols(2, 5, 6, 7, 9, 10, 11, 12),
	}
	current := map[string]int{}
	for _, p := range s.snapshots() {
		current[p.database] += p.svActive + p.svIdle + p.svLogin
	}
	dbs := s.conf().cfg.Databases
	names := make([]string, 0, len(dbs))
	for name := range dbs {
		names = append(names, name)
	}
	sort.Strings(names)
	s.mu.Lock()
	paused := maps.Clone(s.paused)
	s.mu.Unlock()
	for _, name := range names {
		d := dbs[name]
		t.rows = append(t.rows, []string{name, d.Host, strconv.Itoa(d.Port), d.DBName, d.User,
			strconv.Itoa(d.PoolSize), strconv.Itoa(d.MinPoolSize), strconv.Itoa(d.ReservePoolSize), string(d.PoolMode), "0",
			strconv.Itoa(current[name]), boolInt(paused[name]), "0"})
	}
	for _, name := range AdminDatabases {
		t.rows = append(t.rows, []string{name, "", "0", name, "", "2", "0", "0", "statement", "0", "0", "0", "0"})
	}
	return t
}
