package pgwire

import "strings"

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
	for i < len(s) {
		c := s[i]
		switch {
		case c == ';':
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
