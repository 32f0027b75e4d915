package alarm

import (
	"fmt"
	"strconv"
	"strings"
)

// Rule is a parsed composite AlarmRule:
//
//	rule    = or
//	or      = and { "OR" and }
//	and     = unary { "AND" unary }
//	unary   = "NOT" unary | primary
//	primary = "TRUE" | "FALSE" | "(" rule ")" | state "(" name ")"
//	state   = "ALARM" | "OK" | "INSUFFICIENT_DATA"
//	name    = a "quoted" string (\" and \\ escapes) | a bare word
//
// Keywords are upper case, as in CloudWatch; NOT binds tighter than AND,
// which binds tighter than OR. A bare name runs to the next space,
// parenthesis or quote.
type Rule struct {
	src  string
	root ruleNode
}

// MaxRuleLength is the longest AlarmRule accepted (CloudWatch's limit).
const MaxRuleLength = 10240

const maxRuleDepth = 100

// RuleError is a syntax error in an AlarmRule, at a 1-based column (bytes).
type RuleError struct {
	Column int
	Msg    string
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("alarm rule: column %d: %s", e.Column, e.Msg)
}

type ruleNode interface {
	eval(state func(name string) State) bool
	write(b *strings.Builder, parentPrec int)
}

type constNode bool

type stateNode struct {
	want State
	name string
	pos  int // 0-based byte offset of the name
}

type notNode struct{ x ruleNode }

type binNode struct {
	and  bool
	l, r ruleNode
}

func (c constNode) eval(func(string) State) bool { return bool(c) }

func (n stateNode) eval(state func(string) State) bool { return state(n.name) == n.want }

func (n notNode) eval(state func(string) State) bool { return !n.x.eval(state) }

func (n binNode) eval(state func(string) State) bool {
	if n.and {
		return n.l.eval(state) && n.r.eval(state)
	}
	return n.l.eval(state) || n.r.eval(state)
}

const (
	precOr = iota + 1
	precAnd
	precNot
)

func (c constNode) write(b *strings.Builder, _ int) {
	if c {
		b.WriteString("TRUE")
	} else {
		b.WriteString("FALSE")
	}
}

func (n stateNode) write(b *strings.Builder, _ int) {
	b.WriteString(string(n.want))
	b.WriteString("(")
	b.WriteString(quoteName(n.name))
	b.WriteString(")")
}

func (n notNode) write(b *strings.Builder, _ int) {
	b.WriteString("NOT ")
	n.x.write(b, precNot)
}

func (n binNode) write(b *strings.Builder, parent int) {
	prec, op := precOr, " OR "
	if n.and {
		prec, op = precAnd, " AND "
	}
	if parent > prec {
		b.WriteString("(")
	}
	n.l.write(b, prec)
	b.WriteString(op)
	n.r.write(b, prec+1) // left-associative: a right operand of equal precedence needs parentheses
	if parent > prec {
		b.WriteString(")")
	}
}

// quoteName quotes a name the way the parser reads it back.
func quoteName(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// String returns the rule in canonical form, names quoted.
func (r *Rule) String() string {
	var b strings.Builder
	r.root.write(&b, 0)
	return b.String()
}

// Source returns the rule as written.
func (r *Rule) Source() string { return r.src }

// Eval evaluates the rule given each child's current state.
func (r *Rule) Eval(state func(name string) State) bool { return r.root.eval(state) }

// Names returns the alarm names the rule refers to, in order of first use.
func (r *Rule) Names() []string {
	var out []string
	for _, ref := range r.refs() {
		out = append(out, ref.name)
	}
	return out
}

// refs returns the first reference to each name, in order.
func (r *Rule) refs() []stateNode {
	var out []stateNode
	seen := map[string]bool{}
	var walk func(ruleNode)
	walk = func(n ruleNode) {
		switch n := n.(type) {
		case stateNode:
			if !seen[n.name] {
				seen[n.name] = true
				out = append(out, n)
			}
		case notNode:
			walk(n.x)
		case binNode:
			walk(n.l)
			walk(n.r)
		}
	}
	walk(r.root)
	return out
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokLParen
	tokRParen
	tokWord
	tokString
)

type token struct {
	kind tokKind
	text string // word text or unquoted string
	pos  int    // 0-based byte offset
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of rule"
	case tokLParen:
		return `"("`
	case tokRParen:
		return `")"`
	case tokString:
		return "string " + strconv.Quote(t.text)
	}
	return strconv.Quote(t.text)
}

type ruleParser struct {
	src   string
	pos   int
	tok   token
	depth int
}

func (p *ruleParser) errAt(pos int, format string, args ...any) error {
	return &RuleError{Column: pos + 1, Msg: fmt.Sprintf(format, args...)}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *ruleParser) next() error {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(p.src) {
		p.tok = token{kind: tokEOF, pos: start}
		return nil
	}
	switch c := p.src[p.pos]; c {
	case '(':
		p.pos++
		p.tok = token{kind: tokLParen, pos: start}
	case ')':
		p.pos++
		p.tok = token{kind: tokRParen, pos: start}
	case '"':
		var b strings.Builder
		p.pos++
		for {
			if p.pos >= len(p.src) {
				return p.errAt(start, "unterminated quoted name; close it with \"")
			}
			c := p.src[p.pos]
			if c == '"' {
				p.pos++
				break
			}
			if c == '\\' {
				if p.pos+1 >= len(p.src) || (p.src[p.pos+1] != '"' && p.src[p.pos+1] != '\\') {
					return p.errAt(p.pos, `bad escape in quoted name; only \" and \\ are allowed`)
				}
				p.pos++
				c = p.src[p.pos]
			}
			b.WriteByte(c)
			p.pos++
		}
		p.tok = token{kind: tokString, text: b.String(), pos: start}
	default:
		for p.pos < len(p.src) {
			c := p.src[p.pos]
			if isSpace(c) || c == '(' || c == ')' || c == '"' {
				break
			}
			p.pos++
		}
		p.tok = token{kind: tokWord, text: p.src[start:p.pos], pos: start}
	}
	return nil
}

// ParseRule parses a composite AlarmRule. Errors are *RuleError.
func ParseRule(src string) (*Rule, error) {
	if len(src) > MaxRuleLength {
		return nil, &RuleError{Column: MaxRuleLength + 1, Msg: fmt.Sprintf("rule is %d bytes long; the limit is %d", len(src), MaxRuleLength)}
	}
	p := &ruleParser{src: src}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return nil, p.errAt(0, "empty rule; write e.g. ALARM(name) OR ALARM(other)")
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		if p.tok.kind == tokRParen {
			return nil, p.errAt(p.tok.pos, `unmatched ")"`)
		}
		return nil, p.errAt(p.tok.pos, "unexpected %s; join conditions with AND or OR", p.tok.describe())
	}
	return &Rule{src: src, root: root}, nil
}

func (p *ruleParser) parseOr() (ruleNode, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tokWord && p.tok.text == "OR" {
		if err := p.next(); err != nil {
			return nil, err
		}
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = binNode{and: false, l: l, r: r}
	}
	return l, nil
}

func (p *ruleParser) parseAnd() (ruleNode, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tokWord && p.tok.text == "AND" {
		if err := p.next(); err != nil {
			return nil, err
		}
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = binNode{and: true, l: l, r: r}
	}
	return l, nil
}

func (p *ruleParser) parseUnary() (ruleNode, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxRuleDepth {
		return nil, p.errAt(p.tok.pos, "rule nested more than %d deep", maxRuleDepth)
	}
	if p.tok.kind == tokWord && p.tok.text == "NOT" {
		if err := p.next(); err != nil {
			return nil, err
		}
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	}
	return p.parsePrimary()
}

func (p *ruleParser) parsePrimary() (ruleNode, error) {
	t := p.tok
	switch t.kind {
	case tokLParen:
		if err := p.next(); err != nil {
			return nil, err
		}
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tokRParen {
			return nil, p.errAt(p.tok.pos, `expected ")" to close the "(" at column %d, found %s`, t.pos+1, p.tok.describe())
		}
		return x, p.next()
	case tokWord:
		switch t.text {
		case "TRUE", "FALSE":
			return constNode(t.text == "TRUE"), p.next()
		case "ALARM", "OK", "INSUFFICIENT_DATA":
			return p.parseState(State(t.text))
		}
		if up := strings.ToUpper(t.text); up != t.text && isKeyword(up) {
			return nil, p.errAt(t.pos, "%s: keywords are upper case; write %s", strconv.Quote(t.text), up)
		}
	}
	return nil, p.errAt(t.pos, "expected ALARM(name), OK(name), INSUFFICIENT_DATA(name), TRUE, FALSE, NOT or \"(\", found %s", t.describe())
}

func isKeyword(s string) bool {
	switch s {
	case "TRUE", "FALSE", "ALARM", "OK", "INSUFFICIENT_DATA", "AND", "OR", "NOT":
		return true
	}
	return false
}

func (p *ruleParser) parseState(want State) (ruleNode, error) {
	fn := p.tok
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind != tokLParen {
		return nil, p.errAt(p.tok.pos, `expected "(" after %s, found %s`, fn.text, p.tok.describe())
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	name := p.tok
	if name.kind != tokWord && name.kind != tokString {
		return nil, p.errAt(name.pos, "expected an alarm name in %s(...), found %s", fn.text, name.describe())
	}
	if name.text == "" {
		return nil, p.errAt(name.pos, "empty alarm name in %s(...)", fn.text)
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind != tokRParen {
		return nil, p.errAt(p.tok.pos, `expected ")" after the alarm name in %s(...), found %s; quote names that contain spaces`, fn.text, p.tok.describe())
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	return stateNode{want: want, name: name.text, pos: name.pos}, nil
}
