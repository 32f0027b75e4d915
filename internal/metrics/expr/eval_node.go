package expr

// eval evaluates one node of the current expression.
func (ev *evaluator) eval(n Node) (value, error) {
	switch n := n.(type) {
	case *NumberLit:
		return scalar(n.Val), nil
	case *StringLit:
		return value{}, ev.typeErr(n, "a string is only valid as the argument of METRICS")
	case *Keyword:
		return value{}, ev.typeErr(n, "%s can only be an argument of %s", n.Name, keywordOwner(n.Name))
	case *Ident:
		return ev.byID[n.Name].val, nil
	case *Unary:
		x, err := ev.eval(n.X)
		if err != nil {
			return value{}, err
		}
		return ev.unary(n, x)
	case *Binary:
		x, err := ev.eval(n.X)
		if err != nil {
			return value{}, err
		}
		y, err := ev.eval(n.Y)
		if err != nil {
			return value{}, err
		}
		return ev.binary(n, x, y)
	case *Array:
		var out []Series
		for _, e := range n.Elems {
			v, err := ev.eval(e)
			if err != nil {
				return value{}, err
			}
			switch v.kind {
			case kSeries:
				out = append(out, v.ts)
			case kArray:
				out = append(out, v.arr...)
			default:
				return value{}, ev.typeErr(e, "an array holds time series or arrays of time series, not %s", v.kind)
			}
		}
		return arrayVal(out), nil
	case *Call:
		spec := functions[n.Func]
		args := make([]value, len(n.Args))
		for i, a := range n.Args {
			switch a := a.(type) {
			case *Keyword:
				args[i] = value{kind: kKeyword, str: a.Name}
			case *StringLit:
				args[i] = value{kind: kString, str: a.Val}
			default:
				v, err := ev.eval(a)
				if err != nil {
					return value{}, err
				}
				args[i] = v
			}
		}
		return spec.impl(ev, n, args)
	}
	return value{}, ev.typeErr(n, "unsupported expression")
}

func (ev *evaluator) unary(n *Unary, x value) (value, error) {
	switch x.kind {
	case kScalar:
		if !x.sOK {
			return x, nil
		}
		return scalar(-x.s), nil
	case kSeries, kArray:
		return eachSeries(x, func(s Series) Series {
			return mapPoints(s, func(p Point) float64 { return -p.V })
		}), nil
	}
	return value{}, ev.typeErr(n.X, "unary - needs a scalar, a time series or an array, not %s", x.kind)
}

// binary applies an operator; see combine for the missing-data rules.
//
// Docs: the operand types listed are S S, TS TS, TS S, TS[] TS and TS[] S
// (both orders); TS[] with TS[] is not listed and is rejected.
// A scalar without a value (e.g. AVG of a series without points) makes every
// point of the result missing.
func (ev *evaluator) binary(n *Binary, x, y value) (value, error) {
	op := n.Op
	for _, side := range []struct {
		v value
		n Node
	}{{x, n.X}, {y, n.Y}} {
		if side.v.kind == kString || side.v.kind == kKeyword {
			return value{}, ev.typeErr(side.n, "operator %s needs scalars or time series, not %s", op, side.v.kind)
		}
	}
	switch {
	case x.kind == kScalar && y.kind == kScalar:
		if !x.sOK || !y.sOK {
			return noScalar(), nil
		}
		return scalar(applyOp(op, x.s, y.s)), nil
	case x.kind == kArray && y.kind == kArray:
		return value{}, newPosError(ev.cur.src, n.OpAt, ErrType,
			"operator %s cannot combine two arrays of time series; reduce one side to a time series first (e.g. SUM(...))", op)
	case x.kind == kArray:
		return eachSeries(x, func(s Series) Series { return ev.seriesOp(op, seriesVal(s), y).ts }), nil
	case y.kind == kArray:
		return eachSeries(y, func(s Series) Series { return ev.seriesOp(op, x, seriesVal(s)).ts }), nil
	}
	return ev.seriesOp(op, x, y), nil
}

// seriesOp applies op where at least one side is a TS and neither a TS[].
func (ev *evaluator) seriesOp(op string, x, y value) value {
	switch {
	case x.kind == kSeries && y.kind == kSeries:
		return seriesVal(combine(x.ts, y.ts, func(a, b float64) float64 { return applyOp(op, a, b) }))
	case x.kind == kSeries:
		if !y.sOK {
			return seriesVal(withPoints(x.ts, nil))
		}
		return seriesVal(mapPoints(x.ts, func(p Point) float64 { return applyOp(op, p.V, y.s) }))
	default:
		if !x.sOK {
			return seriesVal(withPoints(y.ts, nil))
		}
		return seriesVal(mapPoints(y.ts, func(p Point) float64 { return applyOp(op, x.s, p.V) }))
	}
}
