package pgwire

import (
	"bytes"
	"strings"
)

// SQL-level prepared statements. The pooler looks at the first words of
// a simple Query to find PREPARE, EXECUTE and DEALLOCATE; everything
// else is forwarded without looking further than the first word.

// Verbs ScanCommand recognises.
const (
	VerbPrepare       = "prepare"
	VerbExecute       = "execute"
	VerbDeallocate    = "deallocate"
	VerbDeallocateAll = "deallocate all"
)

// Command is a recognised SQL command naming a prepared statement.
type Command struct {
	Verb string
	// Name is the statement name as PostgreSQL sees it (folded to lower
	// case unless quoted); NameStart/NameEnd are its token's bytes in the
	// query text, to be replaced when the name is rewritten.
	Name               string
	NameStart, NameEnd int
	// Single reports that the query holds this one statement only
	// (trailing semicolons, spaces and comments aside).
	Single bool
}

// ScanCommand reports whether sql starts with PREPARE, EXECUTE or
// DEALLOCATE [PREPARE] and returns the statement name.
func ScanCommand(sql string) (Command, bool) {
	i := skipSpace(sql, 0)
	w, j := word(sql, i)
	var cmd Command
	switch strings.ToLower(w) {
	case VerbPrepare:
		cmd.Verb = VerbPrepare
	case VerbExecute:
		cmd.Verb = VerbExecute
	case VerbDeallocate:
		cmd.Verb = VerbDeallocate
	default:
		return Command{}, false
	}
	i = skipSpace(sql, j)
	if cmd.Verb == VerbDeallocate {
		if w, j := word(sql, i); strings.EqualFold(w, "prepare") {
			i = skipSpace(sql, j)
		}
		if w, j := word(sql, i); strings.EqualFold(w, "all") {
			cmd.Verb = VerbDeallocateAll
			cmd.Single = rest(sql, j)
			return cmd, true
		}
	}
	name, j, ok := ident(sql, i)
	if !ok {
		return Command{}, false
	}
	cmd.Name, cmd.NameStart, cmd.NameEnd = name, i, j
	cmd.Single = rest(sql, j)
	return cmd, true
}

// skipSpace skips whitespace and comments from i.
func skipSpace(s string, i int) int {
	for i < len(s) {
		switch {
		case s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f':
			i++
		case strings.HasPrefix(s[i:], "--"):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case strings.HasPrefix(s[i:], "/*"):
			depth := 0
			for i < len(s) {
				if strings.HasPrefix(s[i:], "/*") {
					depth++
					i += 2
				} else if strings.HasPrefix(s[i:], "*/") {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
		default:
			return i
		}
	}
	return i
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c == '$' || (c >= '0' && c <= '9') }

// word returns the unquoted identifier or keyword at i.
func word(s string, i int) (string, int) {
	if i >= len(s) || !isIdentStart(s[i]) {
		return "", i
	}
	j := i + 1
	for j < len(s) && isIdentChar(s[j]) {
		j++
	}
	return s[i:j], j
}

// ident returns the identifier at i as PostgreSQL names it: quoted ones
// as written (with "" unescaped), unquoted ones folded to lower case.
func ident(s string, i int) (string, int, bool) {
	if i < len(s) && s[i] == '"' {
		var b strings.Builder
		j := i + 1
		for j < len(s) {
			if s[j] == '"' {
				if j+1 < len(s) && s[j+1] == '"' {
					b.WriteByte('"')
					j += 2
					continue
				}
				if b.Len() == 0 {
					return "", i, false
				}
				return b.String(), j + 1, true
			}
			b.WriteByte(s[j])
			j++
		}
		return "", i, false
	}
	w, j := word(s, i)
	if w == "" {
		return "", i, false
	}
	return strings.ToLower(w), j, true
}

// rest reports whether s from i holds no other statement: it scans to
// the first semicolon outside quotes and comments, and then allows only
// semicolons, spaces and comments.
func rest(s string, i int) bool {
	i = statementEnd(s, i)
	for i < len(s) {
		i = skipSpace(s, i)
		if i < len(s) && s[i] != ';' {
			return false
		}
		if i < len(s) {
			i++
		}
	}
	return true
}

// skipQuoted skips a '…' or "…" token (doubled quotes escape; E” strings
// also escape with backslash, which is handled conservatively).
func skipQuoted(s string, i int, q byte) int {
	backslash := q == '\'' && i > 0 && (s[i-1] == 'E' || s[i-1] == 'e')
	for j := i + 1; j < len(s); j++ {
		switch {
		case backslash && s[j] == '\\':
			j++
		case s[j] == q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

// skipDollar skips a $tag$…$tag$ string, or a lone $ (a parameter).
func skipDollar(s string, i int) int {
	j := i + 1
	for j < len(s) && s[j] != '$' && isIdentChar(s[j]) {
		j++
	}
	if j >= len(s) || s[j] != '$' {
		return i + 1
	}
	tag := s[i : j+1]
	if k := strings.Index(s[j+1:], tag); k >= 0 {
		return j + 1 + k + len(tag)
	}
	return len(s)
}

// Session-state commands ScanSession recognises.
const (
	SessSet       = "set"       // SET [SESSION] name …
	SessReset     = "reset"     // RESET name
	SessResetAll  = "reset all" // RESET ALL
	SessLocal     = "set local" // SET LOCAL / SET TRANSACTION …: ends with the transaction
	SessPin       = "pin"       // state bound to the server session: LISTEN, temp tables, WITH HOLD, session advisory locks
	SessOther     = ""          // nothing of the session's
	SessUntracked = "untracked" // changes session state the pooler cannot replay
)

// SessionCommand is what one statement does to session state.
type SessionCommand struct {
	Kind string
	// Name is the parameter a SET/RESET names (lower case).
	Name string
	// Single: the query holds this one statement.
	Single bool
}

// ScanSession classifies the first statement of sql, and reports whether
// later statements (of a multi-statement Query) touch session state too,
// as SessUntracked. Only first words and a few function names are read.
func ScanSession(sql string) SessionCommand {
	first := true
	var out SessionCommand
	for i := 0; i < len(sql); {
		i = skipSpace(sql, i)
		if i >= len(sql) {
			break
		}
		if sql[i] == ';' {
			i++
			continue
		}
		start := i
		end := statementEnd(sql, i)
		c := classify(sql[start:end])
		if first {
			out = c
			first = false
		} else {
			out.Single = false
			if c.Kind != SessOther && c.Kind != SessLocal {
				if c.Kind == SessPin {
					out.Kind = SessPin
				} else if out.Kind != SessPin {
					out.Kind = SessUntracked
				}
			}
		}
		i = end
	}
	return out
}

// statementEnd returns the index of the semicolon ending the statement
// at i (or len(s)).
func statementEnd(s string, i int) int {
	for i < len(s) {
		c := s[i]
		switch {
		case c == ';':
			return i
		case c == '\'' || c == '"':
			i = skipQuoted(s, i, c)
		case c == '$':
			i = skipDollar(s, i)
		case c == '-' || c == '/':
			j := skipSpace(s, i)
			if j == i {
				j++
			}
			i = j
		default:
			i++
		}
	}
	return i
}

func classify(stmt string) SessionCommand {
	w, j := word(stmt, 0)
	cmd := SessionCommand{Single: true}
	switch strings.ToLower(w) {
	case "set":
		i := skipSpace(stmt, j)
		w2, j2 := word(stmt, i)
		switch strings.ToLower(w2) {
		case "local", "transaction":
			cmd.Kind = SessLocal
			return cmd
		case "session":
			i = skipSpace(stmt, j2)
			if w3, _ := word(stmt, i); strings.EqualFold(w3, "authorization") || strings.EqualFold(w3, "characteristics") {
				cmd.Kind = SessUntracked
				return cmd
			}
		case "role", "constraints":
			cmd.Kind = SessUntracked
			return cmd
		}
		name, _ := word(stmt, i)
		if name == "" {
			cmd.Kind = SessUntracked
			return cmd
		}
		cmd.Kind, cmd.Name = SessSet, strings.ToLower(name)
	case "reset":
		name, _ := word(stmt, skipSpace(stmt, j))
		switch {
		case strings.EqualFold(name, "all"):
			cmd.Kind = SessResetAll
		case name == "":
			cmd.Kind = SessUntracked
		default:
			cmd.Kind, cmd.Name = SessReset, strings.ToLower(name)
		}
	case "discard":
		cmd.Kind = SessResetAll // DISCARD ALL/TEMP/PLANS/SEQUENCES: treated as starting clean
	case "listen":
		cmd.Kind = SessPin
	case "create":
		w2, _ := word(stmt, skipSpace(stmt, j))
		switch strings.ToLower(w2) {
		case "temp", "temporary", "local", "global":
			cmd.Kind = SessPin
		}
	case "declare":
		if containsFold(stmt, "with hold") {
			cmd.Kind = SessPin
		}
	case "select", "values", "with":
		if containsFold(stmt, "advisory_lock") || containsFold(stmt, "advisory_unlock") {
			if !containsFold(stmt, "advisory_xact_lock") || containsFold(stmt, "advisory_lock(") || containsFold(stmt, "advisory_lock_shared(") {
				cmd.Kind = SessPin
			}
		}
		if containsFold(stmt, "set_config") {
			cmd.Kind = SessUntracked
		}
	}
	return cmd
}

// containsFold reports whether s contains the lower-case ASCII sub,
// ignoring case.
func containsFold(s, sub string) bool {
	n := len(sub)
	c0 := sub[0]
	for i := 0; i+n <= len(s); i++ {
		if s[i]|0x20 == c0 && strings.EqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return false
}

// firstWord lower-cases the first word of q (up to 10 bytes) into buf.
func firstWord(q []byte, buf *[10]byte) []byte {
	i := 0
	for i < len(q) && (q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r') {
		i++
	}
	n := 0
	for i < len(q) && n < len(buf) && isIdentChar(q[i]) {
		buf[n] = q[i] | 0x20
		if q[i] >= 0x80 || q[i] == '_' || q[i] == '$' || (q[i] >= '0' && q[i] <= '9') {
			buf[n] = q[i]
		}
		n++
		i++
	}
	return buf[:n]
}

// singleStatement reports cheaply whether q certainly holds one
// statement: no semicolon, or only blanks after the first one.
func singleStatement(q []byte) bool {
	i := bytes.IndexByte(q, ';')
	if i < 0 {
		return true
	}
	for _, c := range q[i:] {
		if c != ';' && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// Plain reports, without copying q, that the query text certainly does
// nothing the pooler tracks: one statement of a kind that neither names a
// prepared statement nor touches session state. Everything else needs
// ScanCommand/ScanSession.
func Plain(q []byte) bool {
	var buf [10]byte
	switch string(firstWord(q, &buf)) {
	case "select", "values", "with":
		return singleStatement(q) && !containsFoldBytes(q, "advisory_") && !containsFoldBytes(q, "set_config")
	case "insert", "update", "delete", "begin", "commit", "rollback", "end", "start", "copy", "merge",
		"show", "explain", "analyze", "vacuum", "truncate", "alter", "drop", "fetch", "move", "close", "lock":
		return singleStatement(q)
	}
	return false
}

// ScanSessionBytes is ScanSession for one extended-protocol statement,
// copying the text only when it may matter.
func ScanSessionBytes(q []byte) SessionCommand {
	if Plain(q) {
		return SessionCommand{Single: true}
	}
	return ScanSession(string(q))
}

func containsFoldBytes(s []byte, sub string) bool {
	n := len(sub)
	c0 := sub[0]
	for i := 0; i+n <= len(s); i++ {
		if s[i]|0x20 == c0 && bytes.EqualFold(s[i:i+n], []byte(sub)) {
			return true
		}
	}
	return false
}
