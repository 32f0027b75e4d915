package pool

import (
	"sort"
	"strings"

	"holdfast/internal/pgwire"
)

// Session state in transaction mode (issue 6): what a client sets must
// not leak to the next client of a server connection, and must not be
// lost when the client moves to another one. Per case:
//
//   - SET name … / RESET name / RESET ALL / DISCARD ALL, as a simple
//     Query of one statement or an extended-protocol Execute, outside a
//     transaction block: recorded as the client's settings. Each server
//     connection remembers whose settings it has; when a client lands on
//     one holding other settings, the pooler first sends
//     "RESET ALL; SET …" (the client's own, in order), its replies
//     dropped. A client without settings on a clean connection costs
//     nothing.
//   - SET LOCAL, SET TRANSACTION: end with the transaction; nothing to do.
//   - A SET inside a transaction block, in a multi-statement Query, SET
//     ROLE/SESSION AUTHORIZATION, set_config(): not replayed; the server
//     connection is marked unknown, so the next client landing on it (the
//     same one included) gets RESET ALL first. Such a setting lasts until
//     the client's link ends.
//   - LISTEN, CREATE TEMP TABLE, DECLARE … WITH HOLD, session advisory
//     locks (pg_advisory_lock and friends): bound to the server session,
//     so the client is pinned: it keeps its server connection until it
//     disconnects (counted as pins in SHOW PREPARED_STATEMENTS). When it
//     leaves, the connection is reset with server_reset_query (DISCARD
//     ALL: temp tables, LISTEN, advisory locks, WITH HOLD cursors,
//     settings and prepared statements all go) before anyone else gets
//     it; if it leaves mid-transaction the connection is closed, which
//     rolls the transaction back.
//   - Startup parameters (application_name, search_path, DateStyle,
//     TimeZone…, and "-c name=value" in options) become the client's base
//     settings, replayed as above; RESET name and RESET ALL go back to
//     them (the server connection is marked unknown, since PostgreSQL's
//     own RESET goes back to the pooler login's defaults). The client's
//     first ParameterStatus values are its own where it gave them.

// sessUnknown marks a server connection whose settings the pooler cannot
// name: the next link resets it.
const sessUnknown = "\x00unknown"

type setting struct{ name, sql string }

// startupSettings are the startup parameters carried as settings
// (lower case); others are ignored, as before. Settings given with -c in
// options are all carried.
var startupSettings = map[string]bool{
	"application_name": true, "search_path": true, "datestyle": true, "timezone": true,
	"intervalstyle": true, "client_encoding": true, "extra_float_digits": true,
	"statement_timeout": true, "lock_timeout": true, "idle_in_transaction_session_timeout": true,
	"work_mem": true, "default_transaction_isolation": true, "default_transaction_read_only": true,
	"bytea_output": true, "standard_conforming_strings": true, "role": false,
}

// startupSettingsLocked turns the client's startup parameters into its
// base settings.
func (c *client) startupSettingsLocked() {
	var base []setting
	names := make([]string, 0, len(c.params))
	for k := range c.params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if startupSettings[strings.ToLower(k)] {
			base = append(base, setSQL(k, c.params[k]))
		}
	}
	for _, kv := range optionSettings(c.params["options"]) {
		base = append(base, setSQL(kv[0], kv[1]))
	}
	c.base = base
	c.settings = append([]setting(nil), base...)
	c.sessKey = settingsKey(c.settings)
}

// setSQL sets name to value as the startup packet does (set_config
// takes the value as one string, so lists such as search_path keep their
// meaning).
func setSQL(name, value string) setting {
	n := strings.ToLower(name)
	return setting{n, "SELECT pg_catalog.set_config(" + quoteLiteral(n) + ", " + quoteLiteral(value) + ", false)"}
}

func quoteLiteral(s string) string {
	if strings.Contains(s, `\`) {
		return "E'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// optionSettings reads "-c name=value" and "--name=value" pairs of the
// options startup parameter (backslash escapes a space, as libpq sends).
func optionSettings(opts string) [][2]string {
	var words []string
	var b strings.Builder
	for i := 0; i < len(opts); i++ {
		switch c := opts[i]; {
		case c == '\\' && i+1 < len(opts):
			i++
			b.WriteByte(opts[i])
		case c == ' ' || c == '\t':
			if b.Len() > 0 {
				words = append(words, b.String())
				b.Reset()
			}
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() > 0 {
		words = append(words, b.String())
	}
	var out [][2]string
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "-c" && i+1 < len(words):
			i++
			w = words[i]
		case strings.HasPrefix(w, "-c"):
			w = w[2:]
		case strings.HasPrefix(w, "--"):
			w = w[2:]
		default:
			continue
		}
		if k, v, ok := strings.Cut(w, "="); ok && k != "" {
			out = append(out, [2]string{strings.ReplaceAll(k, "-", "_"), v})
		}
	}
	return out
}

// reportedParams are the settings PostgreSQL reports with ParameterStatus.
var reportedParams = map[string]string{
	"application_name": "application_name", "datestyle": "DateStyle", "timezone": "TimeZone",
	"intervalstyle": "IntervalStyle", "client_encoding": "client_encoding",
	"standard_conforming_strings": "standard_conforming_strings", "search_path": "search_path",
}

// welcomeParams is the server's ParameterStatus set with the client's own
// startup values in place of the pooler login's.
func (c *client) welcomeParams(server map[string]string) map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.base) == 0 {
		return server
	}
	out := make(map[string]string, len(server))
	for k, v := range server {
		out[k] = v
	}
	for k, v := range c.params {
		if name, ok := reportedParams[strings.ToLower(k)]; ok {
			if _, known := server[name]; known {
				out[name] = v
			}
		}
	}
	return out
}

func settingsKey(settings []setting) string {
	var b strings.Builder
	for _, st := range settings {
		b.WriteString(st.sql)
		b.WriteString(";")
	}
	return b.String()
}

// sessUndo restores the client's settings when the SET failed.
type sessUndo struct {
	settings []setting
	key      string
	server   string
}

// syncSessionLocked, at the start of a link, brings the server
// connection's settings to the client's.
func (c *client) syncSessionLocked(out []byte) []byte {
	s := c.sstmts
	if s.session == c.sessKey {
		return out
	}
	q := c.sessKey
	if s.session != "" {
		q = "RESET ALL;" + q
	}
	s.session = c.sessKey
	c.pool.prep.stats.Replays.Add(1)
	c.q.push(entry{act: actSkip, ans: ansQuery, replay: true})
	return pgwire.AppendQuery(out, q)
}

// noteSessionLocked records what statement text sql does to the session
// (it is being sent to the server now) and returns the undo for a
// failure, if any.
func (c *client) noteSessionLocked(sql string, sc pgwire.SessionCommand) *sessUndo {
	switch sc.Kind {
	case pgwire.SessOther, pgwire.SessLocal:
		return nil
	case pgwire.SessPin:
		if !c.pinned {
			c.pinned = true
			c.pool.prep.stats.Pins.Add(1)
		}
		return nil
	case pgwire.SessUntracked:
		c.sstmts.session = sessUnknown
		return nil
	}
	if !sc.Single || c.txStatus != pgwire.TxIdle {
		c.sstmts.session = sessUnknown
		return nil
	}
	u := &sessUndo{settings: c.settings, key: c.sessKey, server: c.sstmts.session}
	var next []setting
	backToBase := false
	if sc.Kind == pgwire.SessResetAll {
		next = append(next, c.base...)
		backToBase = len(c.base) > 0
	} else {
		for _, st := range c.settings {
			if st.name != sc.Name {
				next = append(next, st)
			}
		}
		switch sc.Kind {
		case pgwire.SessSet:
			next = append(next, setting{sc.Name, strings.TrimRight(strings.TrimSpace(sql), "; \t\n")})
		case pgwire.SessReset:
			for _, st := range c.base {
				if st.name == sc.Name {
					next = append(next, st)
					backToBase = true
				}
			}
		}
	}
	c.settings = next
	c.sessKey = settingsKey(next)
	c.sstmts.session = c.sessKey
	if backToBase {
		// The server's RESET goes to the pooler login's defaults, not to
		// the client's startup values: set them again on the next link.
		c.sstmts.session = sessUnknown
	}
	return u
}

// undoSessionLocked takes back a failed SET/RESET.
func (c *client) undoSessionLocked(u *sessUndo) {
	c.settings, c.sessKey = u.settings, u.key
	if c.sstmts != nil {
		c.sstmts.session = u.server
	}
}
