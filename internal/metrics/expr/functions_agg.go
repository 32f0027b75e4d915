package expr

import (
	"cmp"
	"math"
	"slices"
)

// aggFunc aggregates the values present at one timestamp (across the
// members of a TS[]) or over one series. n is the number of values the
// aggregate is over when missing values count as 0 (see aggAvg).
type aggFunc func(vals []float64, n int) (float64, bool)

func aggSum(vals []float64, _ int) (float64, bool) {
	s := 0.0
	for _, v := range vals {
		s += v
	}
	return s, true
}

// aggAvg: "Missing values are treated as 0" (documented for AVG): the sum
// is divided by n, the number of slots including missing ones.
//
// Docs: for one series, n is the number of periods of the query range (and
// at least the number of points): AVG(m1) of a sparse metric is then lower
// than SUM(m1)/DATAPOINT_COUNT(m1), which is why the docs suggest the
// latter "for calculating averages of sparse metrics". Across a TS[], n is
// the number of series, at each timestamp where at least one has a value.
// A series without any point has no average.
func aggAvg(vals []float64, n int) (float64, bool) {
	if n == 0 || len(vals) == 0 {
		return 0, false
	}
	s, _ := aggSum(vals, n)
	return s / float64(n), true
}

func aggMin(vals []float64, _ int) (float64, bool) {
	if len(vals) == 0 {
		return 0, false
	}
	return slices.Min(vals), true
}

func aggMax(vals []float64, _ int) (float64, bool) {
	if len(vals) == 0 {
		return 0, false
	}
	return slices.Max(vals), true
}

func aggCount(vals []float64, _ int) (float64, bool) { return float64(len(vals)), true }

// aggStddev is the population standard deviation of the values present.
// Docs: whether CloudWatch divides by n or n-1 is not documented; n is used.
func aggStddev(vals []float64, _ int) (float64, bool) {
	if len(vals) == 0 {
		return 0, false
	}
	mean := 0.0
	for _, v := range vals {
		mean += v
	}
	mean /= float64(len(vals))
	ss := 0.0
	for _, v := range vals {
		ss += (v - mean) * (v - mean)
	}
	return math.Sqrt(ss / float64(len(vals))), true
}

// aggregateSeries aggregates one series to a scalar.
func (ev *evaluator) aggregateSeries(f aggFunc, s Series) value {
	vals := make([]float64, len(s.Points))
	for i, p := range s.Points {
		vals[i] = p.V
	}
	n := max(len(ev.grid(s.Period)), len(vals))
	v, ok := f(vals, n)
	if !ok {
		return noScalar()
	}
	return scalar(v)
}

// aggregate makes AVG, MAX, MIN, SUM, STDDEV and DATAPOINT_COUNT: a scalar
// on one TS; on a TS[], a TS aggregating the members at each timestamp where
// at least one member has a value.
func aggregate(f aggFunc) func(*evaluator, *Call, []value) (value, error) {
	return func(ev *evaluator, c *Call, args []value) (value, error) {
		if err := ev.want(c, args, 0, kSeries, kArray); err != nil {
			return value{}, err
		}
		if args[0].kind == kSeries {
			return ev.aggregateSeries(f, args[0].ts), nil
		}
		members := args[0].arr
		out := Series{ID: ev.cur.q.ID, Period: ev.cur.period}
		al := alignAll(members)
		vals := make([]float64, 0, len(members))
		for ti, t := range al.times {
			vals = vals[:0]
			for si := range members {
				if al.present[ti][si] {
					vals = append(vals, al.vals[ti][si])
				}
			}
			if v, ok := f(vals, len(members)); ok && finite(v) {
				out.Points = append(out.Points, Point{t, v})
			}
		}
		return seriesVal(out), nil
	}
}

// fnSort: SORT(TS[], AVG|MIN|MAX|SUM, ASC|DESC[, limit]). Each member is
// ranked by the statistic of its values, computed as the function of the
// same name computes it on one series. The sort is stable (ties keep
// their order). Docs: members whose statistic has no value (no points)
// are not ordered by the docs; they are placed last in either order.
func fnSort(ev *evaluator, c *Call, args []value) (value, error) {
	if err := ev.want(c, args, 0, kArray); err != nil {
		return value{}, err
	}
	var f aggFunc
	switch args[1].str {
	case "AVG":
		f = aggAvg
	case "MIN":
		f = aggMin
	case "MAX":
		f = aggMax
	default:
		f = aggSum
	}
	desc := args[2].str == "DESC"
	limit := -1
	if len(args) == 4 {
		n, err := ev.index(c, args, 3)
		if err != nil {
			return value{}, err
		}
		limit = n
	}
	type ranked struct {
		s  Series
		v  float64
		ok bool
	}
	rs := make([]ranked, len(args[0].arr))
	for i, s := range args[0].arr {
		v := ev.aggregateSeries(f, s)
		rs[i] = ranked{s, v.s, v.sOK}
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		switch {
		case !a.ok || !b.ok:
			return cmp.Compare(b2f(!a.ok), b2f(!b.ok))
		case desc:
			return cmp.Compare(b.v, a.v)
		}
		return cmp.Compare(a.v, b.v)
	})
	out := make([]Series, len(rs))
	for i, r := range rs {
		out[i] = r.s
	}
	if limit >= 0 && limit < len(out) {
		out = out[:limit]
	}
	return arrayVal(out), nil
}

// index reads argument i of c as a non-negative integer (SORT's limit,
// SLICE's bounds).
func (ev *evaluator) index(c *Call, args []value, i int) (int, error) {
	if err := ev.want(c, args, i, kScalar); err != nil {
		return 0, err
	}
	v := args[i]
	if !v.sOK || v.s < 0 || v.s != math.Trunc(v.s) || v.s > 1e9 {
		return 0, ev.typeErr(c.Args[i], "argument %d of %s must be a whole number of 0 or more; usage: %s", i+1, c.Func, functions[c.Func].usage)
	}
	return int(v.s), nil
}
