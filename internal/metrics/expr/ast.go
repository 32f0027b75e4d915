package expr

import (
	"strconv"
	"strings"
)

// Node is a node of a parsed expression. Pos is the byte offset of the node
// in the source; String prints the node fully parenthesised.
type Node interface {
	Pos() int
	String() string
}

// NumberLit is a number literal.
type NumberLit struct {
	At   int
	Val  float64
	Text string
}

// StringLit is a string literal (only valid as the argument of METRICS).
type StringLit struct {
	At  int
	Val string
}

// Ident is a reference to another query's id.
type Ident struct {
	At   int
	Name string
}

// Keyword is a bare uppercase word given as a function argument:
// REPEAT and LINEAR for FILL; AVG, MIN, MAX, SUM, ASC and DESC for SORT.
type Keyword struct {
	At   int
	Name string
}

// Call is a function call.
type Call struct {
	At   int // position of the function name
	Func string
	Args []Node
}

// Unary is unary minus.
type Unary struct {
	At int
	Op string
	X  Node
}

// Binary is a binary operation. Op is one of + - * / ^ == != <= >= < > && ||
// (AND and OR are read as && and ||).
type Binary struct {
	OpAt int // position of the operator
	Op   string
	X, Y Node
}

// Array is an array literal [a, b, ...] of time series.
type Array struct {
	At    int
	Elems []Node
}

func (n *NumberLit) Pos() int { return n.At }
func (n *StringLit) Pos() int { return n.At }
func (n *Ident) Pos() int     { return n.At }
func (n *Keyword) Pos() int   { return n.At }
func (n *Call) Pos() int      { return n.At }
func (n *Unary) Pos() int     { return n.At }
func (n *Binary) Pos() int    { return n.X.Pos() }
func (n *Array) Pos() int     { return n.At }

func (n *NumberLit) String() string {
	return strconv.FormatFloat(n.Val, 'g', -1, 64)
}
func (n *StringLit) String() string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(n.Val) + `"`
}
func (n *Ident) String() string   { return n.Name }
func (n *Keyword) String() string { return n.Name }
func (n *Call) String() string {
	return n.Func + "(" + joinNodes(n.Args) + ")"
}
func (n *Unary) String() string  { return "(" + n.Op + n.X.String() + ")" }
func (n *Binary) String() string { return "(" + n.X.String() + " " + n.Op + " " + n.Y.String() + ")" }
func (n *Array) String() string  { return "[" + joinNodes(n.Elems) + "]" }

func joinNodes(ns []Node) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = n.String()
	}
	return strings.Join(s, ", ")
}

// walk calls f for n and every node below it, depth first.
func walk(n Node, f func(Node)) {
	f(n)
	switch n := n.(type) {
	case *Call:
		for _, a := range n.Args {
			walk(a, f)
		}
	case *Unary:
		walk(n.X, f)
	case *Binary:
		walk(n.X, f)
		walk(n.Y, f)
	case *Array:
		for _, e := range n.Elems {
			walk(e, f)
		}
	}
}
