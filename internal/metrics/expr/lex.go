package expr

import (
	"strings"
	"unicode/utf8"
)

type tokKind int

const (
	tokEOF    tokKind = iota
	tokNumber         // 1, 2.5, .5, 1e3
	tokString         // "abc" (also “abc”, as the CloudWatch docs print it)
	tokIdent          // query id: starts with a lowercase letter
	tokName           // function or keyword: starts with an uppercase letter
	tokOp             // + - * / ^ == != <= >= < > && || AND OR
	tokLParen         // (
	tokRParen         // )
	tokLBrack         // [
	tokRBrack         // ]
	tokComma          // ,
)

func (k tokKind) String() string {
	switch k {
	case tokEOF:
		return "end of expression"
	case tokNumber:
		return "number"
	case tokString:
		return "string"
	case tokIdent:
		return "id"
	case tokName:
		return "name"
	case tokOp:
		return "operator"
	case tokLParen:
		return `"("`
	case tokRParen:
		return `")"`
	case tokLBrack:
		return `"["`
	case tokRBrack:
		return `"]"`
	case tokComma:
		return `","`
	}
	return "token"
}

type token struct {
	kind tokKind
	pos  int    // byte offset
	text string // source text; for strings, the unquoted value; for AND/OR, "&&"/"||"
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokString:
		return "string " + quote(t.text)
	}
	return quote(t.text)
}

func quote(s string) string { return `"` + s + `"` }

// lexer splits an expression into tokens. It stops at the first error.
type lexer struct {
	src string
	pos int
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isWord(c byte) bool  { return isDigit(c) || isLower(c) || isUpper(c) || c == '_' }

// lex returns all tokens of src, ending with tokEOF.
func lex(src string) ([]token, error) {
	l := &lexer{src: src}
	var toks []token
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		if t.kind == tokEOF {
			return toks, nil
		}
	}
}

func (l *lexer) errorf(pos int, format string, args ...any) error {
	return newPosError(l.src, pos, ErrSyntax, format, args...)
}

func (l *lexer) next() (token, error) {
	src := l.src
	for l.pos < len(src) && strings.IndexByte(" \t\r\n", src[l.pos]) >= 0 {
		l.pos++
	}
	start := l.pos
	if start >= len(src) {
		return token{kind: tokEOF, pos: start}, nil
	}
	c := src[start]
	tok := func(k tokKind, n int) (token, error) {
		l.pos += n
		return token{kind: k, pos: start, text: src[start:l.pos]}, nil
	}
	two := ""
	if start+1 < len(src) {
		two = src[start : start+2]
	}
	switch {
	case isDigit(c) || (c == '.' && start+1 < len(src) && isDigit(src[start+1])):
		return l.number()
	case isLower(c):
		return tok(tokIdent, l.wordLen())
	case isUpper(c):
		n := l.wordLen()
		word := src[start : start+n]
		switch word {
		case "AND":
			l.pos += n
			return token{kind: tokOp, pos: start, text: "&&"}, nil
		case "OR":
			l.pos += n
			return token{kind: tokOp, pos: start, text: "||"}, nil
		}
		if strings.ToUpper(word) != word {
			return token{}, l.errorf(start, "%q: function names are uppercase (did you mean %s?) and ids start with a lowercase letter", word, strings.ToUpper(word))
		}
		return tok(tokName, n)
	case c == '_':
		return token{}, l.errorf(start, "an id must start with a lowercase letter, not %q", "_")
	case c == '"':
		return l.str(`"`, `"`)
	case strings.HasPrefix(src[start:], "“"):
		return l.str("“", "”")
	case two == "==" || two == "!=" || two == "<=" || two == ">=" || two == "&&" || two == "||":
		return tok(tokOp, 2)
	case strings.IndexByte("+-*/^<>", c) >= 0:
		return tok(tokOp, 1)
	case c == '=':
		return token{}, l.errorf(start, `unexpected "="; use "==" to compare`)
	case c == '!':
		return token{}, l.errorf(start, `unexpected "!"; use "!=" to compare`)
	case c == '&':
		return token{}, l.errorf(start, `unexpected "&"; use "&&" or AND`)
	case c == '|':
		return token{}, l.errorf(start, `unexpected "|"; use "||" or OR`)
	case c == '(':
		return tok(tokLParen, 1)
	case c == ')':
		return tok(tokRParen, 1)
	case c == '[':
		return tok(tokLBrack, 1)
	case c == ']':
		return tok(tokRBrack, 1)
	case c == ',':
		return tok(tokComma, 1)
	}
	r, _ := utf8.DecodeRuneInString(src[start:])
	return token{}, l.errorf(start, "unexpected character %q", r)
}

func (l *lexer) wordLen() int {
	n := 0
	for l.pos+n < len(l.src) && isWord(l.src[l.pos+n]) {
		n++
	}
	return n
}

// number scans digits [. digits] [e|E [+|-] digits].
func (l *lexer) number() (token, error) {
	src, start := l.src, l.pos
	i := start
	digits := func() int {
		n := 0
		for i < len(src) && isDigit(src[i]) {
			i++
			n++
		}
		return n
	}
	digits()
	if i < len(src) && src[i] == '.' {
		i++
		digits()
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		j := i
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		if digits() == 0 {
			return token{}, l.errorf(j, "malformed number %q: exponent has no digits", src[start:i])
		}
	}
	if i < len(src) && (isWord(src[i]) || src[i] == '.') {
		return token{}, l.errorf(i, "unexpected %q after number %q", src[i], src[start:i])
	}
	l.pos = i
	return token{kind: tokNumber, pos: start, text: src[start:i]}, nil
}

// str scans a string literal between open and close quotes; \" and \\ are
// the only escapes.
func (l *lexer) str(open, close string) (token, error) {
	src, start := l.src, l.pos
	var b strings.Builder
	i := start + len(open)
	for i < len(src) {
		if strings.HasPrefix(src[i:], close) {
			l.pos = i + len(close)
			return token{kind: tokString, pos: start, text: b.String()}, nil
		}
		if src[i] == '\\' && i+1 < len(src) && (src[i+1] == '"' || src[i+1] == '\\') {
			b.WriteByte(src[i+1])
			i += 2
			continue
		}
		b.WriteByte(src[i])
		i++
	}
	return token{}, l.errorf(start, "unterminated string; close it with %s", close)
}
