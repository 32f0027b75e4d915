package flagstore

import (
	"encoding/json"
	"strconv"
	"strings"
)

type valueKind uint8

const (
	kindNone valueKind = iota
	kindString
	kindNumber
	kindBool
)

// value is a rule operand's value; a small struct rather than an interface
// so evaluation does not allocate.
type value struct {
	kind valueKind
	s    string
	n    float64
	b    bool
}

// EvalContext is what a flag is evaluated for. Entity is the evaluation
// entity (user, client id…): it places the entity in a deployment's
// percentage and is the value of the $<entity attribute> context key and the
// default split key. Values are the other context attributes: string, bool,
// any Go number or json.Number.
type EvalContext struct {
	Entity string
	Values map[string]any
}

func fromAny(v any) value {
	switch x := v.(type) {
	case string:
		return value{kind: kindString, s: x}
	case bool:
		return value{kind: kindBool, b: x}
	case float64:
		return value{kind: kindNumber, n: x}
	case float32:
		return value{kind: kindNumber, n: float64(x)}
	case int:
		return value{kind: kindNumber, n: float64(x)}
	case int64:
		return value{kind: kindNumber, n: float64(x)}
	case int32:
		return value{kind: kindNumber, n: float64(x)}
	case uint:
		return value{kind: kindNumber, n: float64(x)}
	case uint64:
		return value{kind: kindNumber, n: float64(x)}
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return value{}
		}
		return value{kind: kindNumber, n: f}
	}
	return value{}
}

// evaluator holds what one evaluation needs.
type evaluator struct {
	ctx       *EvalContext
	entityKey string // the entity attribute's name
	flag      string // split hashes include the flag name
}

func (e *evaluator) lookup(name string) value {
	if v, ok := e.ctx.Values[name]; ok {
		return fromAny(v)
	}
	if name == e.entityKey && e.ctx.Entity != "" {
		return value{kind: kindString, s: e.ctx.Entity}
	}
	return value{}
}

func (e *evaluator) operand(o *operand) value {
	if o.varName != "" {
		return e.lookup(o.varName)
	}
	return o.lit
}

// Match reports whether the rule matches ctx for flag; entityKey names the
// context attribute that holds ctx.Entity.
func (r *Rule) Match(flag, entityKey string, ctx EvalContext) bool {
	e := evaluator{ctx: &ctx, entityKey: entityKey, flag: flag}
	return e.eval(r.root)
}

func (e *evaluator) eval(n *node) bool {
	switch n.op {
	case opAnd:
		for _, k := range n.kids {
			if !e.eval(k) {
				return false
			}
		}
		return true
	case opOr:
		for _, k := range n.kids {
			if e.eval(k) {
				return true
			}
		}
		return false
	case opNot:
		return !e.eval(n.kids[0])
	case opSplit:
		key := n.by
		if key == "" {
			key = e.entityKey
		}
		v := e.lookup(key)
		if v.kind == kindNone {
			return false
		}
		return splitBucket(e.flag, v) < n.pct
	case opIn:
		v := e.operand(&n.args[0])
		if v.kind == kindNone {
			return false
		}
		for _, x := range n.args[1].list {
			if c, ok := compare(v, x); ok && c == 0 {
				return true
			}
		}
		return false
	}
	a, b := e.operand(&n.args[0]), e.operand(&n.args[1])
	switch n.op {
	case opStartsWith:
		return a.kind == kindString && b.kind == kindString && strings.HasPrefix(a.s, b.s)
	case opEndsWith:
		return a.kind == kindString && b.kind == kindString && strings.HasSuffix(a.s, b.s)
	}
	c, ok := compare(a, b)
	if !ok {
		return false
	}
	switch n.op {
	case opEq:
		return c == 0
	case opNeq:
		return c != 0
	case opGt:
		return c > 0
	case opGte:
		return c >= 0
	case opLt:
		return c < 0
	case opLte:
		return c <= 0
	}
	return false
}

// compare orders two values of the same kind; ok is false for missing
// values and mixed kinds. Booleans only compare equal or not.
func compare(a, b value) (int, bool) {
	if a.kind == kindNone || a.kind != b.kind {
		return 0, false
	}
	switch a.kind {
	case kindString:
		return strings.Compare(a.s, b.s), true
	case kindNumber:
		switch {
		case a.n < b.n:
			return -1, true
		case a.n > b.n:
			return 1, true
		case a.n == b.n:
			return 0, true
		}
		return 0, false // NaN
	case kindBool:
		if a.b == b.b {
			return 0, true
		}
		return 1, true
	}
	return 0, false
}

// splitBucket places a context value in [0,100) for a flag.
func splitBucket(flag string, v value) float64 {
	h := fnvString(fnvOffset, flag)
	h = fnvByte(h, 0)
	switch v.kind {
	case kindString:
		h = fnvString(h, v.s)
	case kindNumber:
		var buf [32]byte
		h = fnvBytes(h, strconv.AppendFloat(buf[:0], v.n, 'g', -1, 64))
	case kindBool:
		if v.b {
			h = fnvString(h, "true")
		} else {
			h = fnvString(h, "false")
		}
	}
	return bucketOf(h)
}
