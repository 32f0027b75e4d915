package expr

import (
	"slices"
	"strconv"
	"strings"
)

// maxDepth bounds nesting, so that hostile input cannot exhaust the stack.
const maxDepth = 200

// Parse parses a metric math expression. Errors are *ParseError values
// wrapping ErrSyntax or ErrUnknownFunction, with the position of the problem.
// Parse checks function names, argument counts and keyword arguments; types
// are checked by Evaluate.
func Parse(src string) (Node, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errorf(t.pos, "unexpected %s after a complete expression; expected an operator", t.describe())
	}
	if err := p.checkKeywords(n); err != nil {
		return nil, err
	}
	return n, nil
}

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) advance() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) errorf(pos int, format string, args ...any) error {
	return newPosError(p.src, pos, ErrSyntax, format, args...)
}

func (p *parser) expect(k tokKind, context string) (token, error) {
	t := p.peek()
	if t.kind != k {
		return t, p.errorf(t.pos, "expected %s %s, found %s", k, context, t.describe())
	}
	return p.advance(), nil
}

// Precedence, lowest first: OR, AND, comparisons, + -, * /, unary -, ^.
var binaryLevels = [][]string{
	{"||"},
	{"&&"},
	{"==", "!=", "<=", ">=", "<", ">"},
	{"+", "-"},
	{"*", "/"},
}

func (p *parser) expr() (Node, error) { return p.binary(0) }

// binary parses the left-associative operators of level and above.
func (p *parser) binary(level int) (Node, error) {
	if level == len(binaryLevels) {
		return p.unary()
	}
	x, err := p.binary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tokOp || !slices.Contains(binaryLevels[level], t.text) {
			return x, nil
		}
		p.advance()
		y, err := p.binary(level + 1)
		if err != nil {
			return nil, err
		}
		x = &Binary{OpAt: t.pos, Op: t.text, X: x, Y: y}
	}
}

// unary parses "-" unary | power. Unary minus binds looser than ^, so -2^2
// is -(2^2), as in mathematics.
func (p *parser) unary() (Node, error) {
	if t := p.peek(); t.kind == tokOp && t.text == "-" {
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		defer p.leave()
		p.advance()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &Unary{At: t.pos, Op: "-", X: x}, nil
	}
	return p.power()
}

// power parses primary [^ unary]; ^ is right-associative (2^3^2 = 2^9).
func (p *parser) power() (Node, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind == tokOp && t.text == "^" {
		p.advance()
		y, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &Binary{OpAt: t.pos, Op: "^", X: x, Y: y}, nil
	}
	return x, nil
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf(pos, "expression nested too deeply (more than %d levels)", maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) primary() (Node, error) {
	t := p.peek()
	if err := p.enter(t.pos); err != nil {
		return nil, err
	}
	defer p.leave()
	switch t.kind {
	case tokNumber:
		p.advance()
		v, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, p.errorf(t.pos, "number %s is out of range", t.text)
		}
		return &NumberLit{At: t.pos, Val: v, Text: t.text}, nil
	case tokString:
		p.advance()
		return &StringLit{At: t.pos, Val: t.text}, nil
	case tokIdent:
		p.advance()
		return &Ident{At: t.pos, Name: t.text}, nil
	case tokName:
		p.advance()
		if p.peek().kind == tokLParen {
			return p.call(t)
		}
		if isKeyword(t.text) {
			return &Keyword{At: t.pos, Name: t.text}, nil
		}
		if _, ok := functions[t.text]; ok {
			return nil, p.errorf(p.peek().pos, "expected \"(\" after function %s", t.text)
		}
		return nil, newPosError(p.src, t.pos, ErrUnknownFunction,
			"unknown function or keyword %q; ids start with a lowercase letter", t.text)
	case tokLParen:
		p.advance()
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tokRParen, "to close the \"(\" at position "+strconv.Itoa(p.col(t.pos))); err != nil {
			return nil, err
		}
		return x, nil
	case tokLBrack:
		p.advance()
		var elems []Node
		for {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			elems = append(elems, e)
			if p.peek().kind != tokComma {
				break
			}
			p.advance()
		}
		if _, err := p.expect(tokRBrack, "to close the \"[\" at position "+strconv.Itoa(p.col(t.pos))); err != nil {
			return nil, err
		}
		return &Array{At: t.pos, Elems: elems}, nil
	case tokEOF:
		return nil, p.errorf(t.pos, "unexpected end of expression; expected a number, an id, a function or \"(\"")
	}
	return nil, p.errorf(t.pos, "unexpected %s; expected a number, an id, a function or \"(\"", t.describe())
}

func (p *parser) col(pos int) int { return newPosError(p.src, pos, nil, "").Col }

func (p *parser) unknownFunction(t token) error {
	msg := "unknown function " + quote(t.text)
	if s := suggest(t.text); s != "" {
		msg += "; did you mean " + s + "?"
	}
	return newPosError(p.src, t.pos, ErrUnknownFunction, "%s", msg)
}

// call parses the arguments of a function whose name t has been read, then
// checks the function exists and its argument count and keywords.
func (p *parser) call(name token) (Node, error) {
	lp := p.advance() // (
	c := &Call{At: name.pos, Func: name.text}
	if p.peek().kind != tokRParen {
		for {
			a, err := p.expr()
			if err != nil {
				return nil, err
			}
			c.Args = append(c.Args, a)
			if p.peek().kind != tokComma {
				break
			}
			p.advance()
		}
	}
	rp, err := p.expect(tokRParen, "to close the \"(\" of "+name.text+" at position "+strconv.Itoa(p.col(lp.pos)))
	if err != nil {
		return nil, err
	}
	spec, ok := functions[name.text]
	if !ok {
		return nil, p.unknownFunction(name)
	}
	if n := len(c.Args); n < spec.minArgs || n > spec.maxArgs {
		pos := rp.pos
		if n > spec.maxArgs {
			pos = c.Args[spec.maxArgs].Pos()
		}
		return nil, p.errorf(pos, "%s takes %s, got %d; usage: %s", name.text, argCount(spec.minArgs, spec.maxArgs), n, spec.usage)
	}
	for i, a := range c.Args {
		allowed := spec.keywords[i]
		kw, isKw := a.(*Keyword)
		switch {
		case isKw && !slices.Contains(allowed, kw.Name):
			if len(allowed) > 0 {
				return nil, p.errorf(kw.At, "%s is not valid here; argument %d of %s is one of %s", kw.Name, i+1, name.text, strings.Join(allowed, ", "))
			}
			return nil, p.errorf(kw.At, "%s can only be an argument of %s; usage: %s", kw.Name, keywordOwner(kw.Name), spec.usage)
		case !isKw && spec.kwRequired[i]:
			return nil, p.errorf(a.Pos(), "argument %d of %s must be one of %s; usage: %s", i+1, name.text, strings.Join(allowed, ", "), spec.usage)
		}
	}
	return c, nil
}

// checkKeywords rejects keywords that are not a direct argument of a call
// (e.g. 1+REPEAT): calls validate their direct arguments themselves.
func (p *parser) checkKeywords(root Node) error {
	direct := map[*Keyword]bool{}
	walk(root, func(n Node) {
		if c, ok := n.(*Call); ok {
			for _, a := range c.Args {
				if k, ok := a.(*Keyword); ok {
					direct[k] = true
				}
			}
		}
	})
	var bad *Keyword
	walk(root, func(n Node) {
		if k, ok := n.(*Keyword); ok && bad == nil && !direct[k] {
			bad = k
		}
	})
	if bad != nil {
		return p.errorf(bad.At, "%s can only be an argument of %s", bad.Name, keywordOwner(bad.Name))
	}
	return nil
}

func argCount(lo, hi int) string {
	plural := func(n int) string {
		if n == 1 {
			return "1 argument"
		}
		return strconv.Itoa(n) + " arguments"
	}
	switch {
	case lo == hi:
		return plural(lo)
	case hi == lo+1:
		return strconv.Itoa(lo) + " or " + plural(hi)
	}
	return strconv.Itoa(lo) + " to " + plural(hi)
}
