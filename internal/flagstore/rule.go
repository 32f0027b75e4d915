package flagstore

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Rule is a parsed variant rule; see the package documentation for the
// language. A Rule is immutable and safe for concurrent use.
type Rule struct {
	src  string
	root *node
}

// String returns the rule's source text.
func (r *Rule) String() string { return r.src }

// RuleError is a rule syntax error at a byte offset of the rule text.
type RuleError struct {
	Offset  int
	Message string
}

func (e *RuleError) Error() string { return fmt.Sprintf("rule offset %d: %s", e.Offset, e.Message) }

type opKind uint8

const (
	opEq opKind = iota + 1
	opNeq
	opGt
	opGte
	opLt
	opLte
	opIn
	opStartsWith
	opEndsWith
	opAnd
	opOr
	opNot
	opSplit
)

var opNames = map[string]opKind{
	"eq": opEq, "neq": opNeq, "gt": opGt, "gte": opGte, "lt": opLt, "lte": opLte,
	"in": opIn, "starts_with": opStartsWith, "begins_with": opStartsWith, "ends_with": opEndsWith,
	"and": opAnd, "or": opOr, "not": opNot, "split": opSplit,
}

// operand is a context variable or a literal.
type operand struct {
	varName string // without $; empty for a literal
	lit     value
	list    []value // for a literal list
	isList  bool
}

type node struct {
	op    opKind
	kids  []*node
	args  []operand
	pct   float64 // split
	by    string  // split key; empty: the entity attribute
	depth int
}

// maxRuleDepth bounds nesting so a hostile rule cannot exhaust the stack.
const maxRuleDepth = 32

// maxRuleLen bounds a rule's text.
const maxRuleLen = 4096

// ParseRule parses a rule expression.
func ParseRule(src string) (*Rule, error) {
	if len(src) > maxRuleLen {
		return nil, &RuleError{Offset: maxRuleLen, Message: fmt.Sprintf("rule is longer than %d bytes", maxRuleLen)}
	}
	p := &ruleParser{src: src}
	p.skipSpace()
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(src) {
		return nil, p.errorf("unexpected %q after the expression", p.rest())
	}
	return &Rule{src: src, root: n}, nil
}

// Vars lists the context attributes the rule refers to, sorted.
func (r *Rule) Vars() []string {
	seen := map[string]bool{}
	var walk func(n *node)
	walk = func(n *node) {
		for _, a := range n.args {
			if a.varName != "" {
				seen[a.varName] = true
			}
		}
		if n.op == opSplit && n.by != "" {
			seen[n.by] = true
		}
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(r.root)
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type ruleParser struct {
	src string
	pos int
}

func (p *ruleParser) errorf(format string, args ...any) error {
	return &RuleError{Offset: p.pos, Message: fmt.Sprintf(format, args...)}
}

func (p *ruleParser) rest() string {
	r := p.src[p.pos:]
	if len(r) > 20 {
		r = r[:20] + "…"
	}
	return r
}

func (p *ruleParser) skipSpace() {
	for p.pos < len(p.src) && strings.IndexByte(" \t\r\n", p.src[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *ruleParser) word() string {
	start := p.pos
	for p.pos < len(p.src) && strings.IndexByte(" \t\r\n()[]\"", p.src[p.pos]) < 0 {
		p.pos++
	}
	return p.src[start:p.pos]
}

func (p *ruleParser) expr(depth int) (*node, error) {
	if depth >= maxRuleDepth {
		return nil, p.errorf("expressions nested deeper than %d", maxRuleDepth)
	}
	if p.pos >= len(p.src) || p.src[p.pos] != '(' {
		if p.pos >= len(p.src) {
			return nil, p.errorf("expected an expression such as (eq $name \"value\"), found the end")
		}
		return nil, p.errorf("expected \"(\", found %q", p.rest())
	}
	p.pos++
	p.skipSpace()
	opAt := p.pos
	name := p.word()
	op, ok := opNames[name]
	if !ok {
		p.pos = opAt
		return nil, p.errorf("unknown operator %q; use eq, neq, gt, gte, lt, lte, in, starts_with, ends_with, and, or, not or split", name)
	}
	n := &node{op: op, depth: depth}
	for {
		p.skipSpace()
		if p.pos >= len(p.src) {
			return nil, p.errorf("missing \")\" to close %s", name)
		}
		if p.src[p.pos] == ')' {
			p.pos++
			break
		}
		switch op {
		case opAnd, opOr, opNot:
			k, err := p.expr(depth + 1)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, k)
		case opSplit:
			if err := p.splitArg(n); err != nil {
				return nil, err
			}
		default:
			a, err := p.operand()
			if err != nil {
				return nil, err
			}
			n.args = append(n.args, a)
		}
	}
	return n, p.check(n, name, opAt)
}

func (p *ruleParser) check(n *node, name string, at int) error {
	fail := func(format string, args ...any) error {
		return &RuleError{Offset: at, Message: name + ": " + fmt.Sprintf(format, args...)}
	}
	switch n.op {
	case opAnd, opOr:
		if len(n.kids) < 2 {
			return fail("needs at least two expressions")
		}
	case opNot:
		if len(n.kids) != 1 {
			return fail("needs exactly one expression")
		}
	case opSplit:
		if len(n.args) != 1 {
			return fail("needs pct::N with 0 ≤ N ≤ 100")
		}
	case opIn:
		if len(n.args) != 2 || n.args[0].isList || !n.args[1].isList {
			return fail("needs a value and a list, e.g. (in $country [\"FR\" \"DE\"])")
		}
	default:
		if len(n.args) != 2 {
			return fail("needs two operands, found %d", len(n.args))
		}
		for _, a := range n.args {
			if a.isList {
				return fail("operands cannot be lists")
			}
		}
		if n.args[0].varName == "" && n.args[1].varName == "" {
			return fail("compares two literals; one operand should be a $context value")
		}
		if n.op == opStartsWith || n.op == opEndsWith {
			for _, a := range n.args {
				if a.varName == "" && a.lit.kind != kindString {
					return fail("needs string operands")
				}
			}
		}
	}
	return nil
}

func (p *ruleParser) splitArg(n *node) error {
	at := p.pos
	w := p.word()
	switch {
	case strings.HasPrefix(w, "pct::"):
		if len(n.args) > 0 {
			p.pos = at
			return p.errorf("split has pct:: twice")
		}
		f, err := strconv.ParseFloat(w[len("pct::"):], 64)
		if err != nil || f < 0 || f > 100 || f != f {
			p.pos = at
			return p.errorf("split percentage %q must be a number from 0 to 100", w[len("pct::"):])
		}
		n.pct = f
		n.args = append(n.args, operand{lit: value{kind: kindNumber, n: f}})
	case strings.HasPrefix(w, "by::$") && len(w) > len("by::$"):
		n.by = w[len("by::$"):]
	default:
		p.pos = at
		return p.errorf("split takes pct::N and by::$name, found %q", w)
	}
	return nil
}

func (p *ruleParser) operand() (operand, error) {
	switch c := p.src[p.pos]; {
	case c == '[':
		p.pos++
		var list []value
		for {
			p.skipSpace()
			if p.pos >= len(p.src) {
				return operand{}, p.errorf("missing \"]\" to close the list")
			}
			if p.src[p.pos] == ']' {
				p.pos++
				return operand{list: list, isList: true}, nil
			}
			a, err := p.operand()
			if err != nil {
				return operand{}, err
			}
			if a.isList || a.varName != "" {
				return operand{}, p.errorf("list elements must be literals")
			}
			list = append(list, a.lit)
		}
	case c == '"':
		s, err := p.quoted()
		return operand{lit: value{kind: kindString, s: s}}, err
	case c == '(':
		return operand{}, p.errorf("an expression cannot be a comparison operand")
	case c == ')' || c == ']':
		return operand{}, p.errorf("unexpected %q", c)
	}
	at := p.pos
	w := p.word()
	switch {
	case strings.HasPrefix(w, "$") && len(w) > 1:
		return operand{varName: w[1:]}, nil
	case w == "true" || w == "false":
		return operand{lit: value{kind: kindBool, b: w == "true"}}, nil
	}
	f, err := strconv.ParseFloat(w, 64)
	if err != nil || f != f {
		p.pos = at
		return operand{}, p.errorf("%q is not a string, number, boolean, list or $context value", w)
	}
	return operand{lit: value{kind: kindNumber, n: f}}, nil
}

func (p *ruleParser) quoted() (string, error) {
	start := p.pos
	p.pos++
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '"':
			p.pos++
			return b.String(), nil
		case '\\':
			if p.pos+1 >= len(p.src) {
				break
			}
			p.pos++
			b.WriteByte(p.src[p.pos])
		default:
			b.WriteByte(c)
		}
		p.pos++
	}
	p.pos = start
	return "", p.errorf("unterminated string")
}
