package expr

import (
	"math"
	"slices"
	"time"
)

type kind int

const (
	kScalar  kind = iota // S
	kSeries              // TS
	kArray               // TS[]
	kString              // a string literal argument (METRICS)
	kKeyword             // a keyword argument (FILL, SORT)
)

func (k kind) String() string {
	switch k {
	case kScalar:
		return "a scalar"
	case kSeries:
		return "a time series"
	case kArray:
		return "an array of time series"
	case kString:
		return "a string"
	}
	return "a keyword"
}

// value is the result of evaluating a node.
type value struct {
	kind kind
	s    float64 // kScalar
	sOK  bool    // kScalar: false when the scalar has no value (e.g. AVG of no points)
	ts   Series  // kSeries
	arr  []Series
	str  string // kString, kKeyword
}

func scalar(v float64) value { return value{kind: kScalar, s: v, sOK: finite(v)} }
func noScalar() value        { return value{kind: kScalar} }
func seriesVal(s Series) value {
	return value{kind: kSeries, ts: s}
}
func arrayVal(a []Series) value { return value{kind: kArray, arr: a} }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// withPoints returns a copy of s's metadata with the given points.
func withPoints(s Series, pts []Point) Series {
	s.Points = pts
	return s
}

// mapPoints applies f to every point of s; a non-finite result drops the point.
func mapPoints(s Series, f func(Point) float64) Series {
	out := make([]Point, 0, len(s.Points))
	for _, p := range s.Points {
		if v := f(p); finite(v) {
			out = append(out, Point{p.T, v})
		}
	}
	return withPoints(s, out)
}

// eachSeries applies f to v's series: one for a TS, each member of a TS[].
func eachSeries(v value, f func(Series) Series) value {
	if v.kind == kSeries {
		return seriesVal(f(v.ts))
	}
	out := make([]Series, len(v.arr))
	for i, s := range v.arr {
		out[i] = f(s)
	}
	return arrayVal(out)
}

// combine applies f over the union of the timestamps of a and b; a value
// missing on one side counts as 0 (documented). A non-finite result (a
// division by zero) drops the point (documented).
func combine(a, b Series, f func(x, y float64) float64) Series {
	out := make([]Point, 0, max(len(a.Points), len(b.Points)))
	i, j := 0, 0
	for i < len(a.Points) || j < len(b.Points) {
		var t time.Time
		var x, y float64
		switch {
		case j >= len(b.Points) || (i < len(a.Points) && a.Points[i].T.Before(b.Points[j].T)):
			t, x = a.Points[i].T, a.Points[i].V
			i++
		case i >= len(a.Points) || b.Points[j].T.Before(a.Points[i].T):
			t, y = b.Points[j].T, b.Points[j].V
			j++
		default:
			t, x, y = a.Points[i].T, a.Points[i].V, b.Points[j].V
			i++
			j++
		}
		if v := f(x, y); finite(v) {
			out = append(out, Point{t, v})
		}
	}
	return withPoints(a, out)
}

// aligned is a set of series aligned on the union of their timestamps.
type aligned struct {
	times   []time.Time
	vals    [][]float64 // vals[t][series]
	present [][]bool    // present[t][series]
}

func alignAll(ss []Series) aligned {
	var times []time.Time
	for _, s := range ss {
		for _, p := range s.Points {
			times = append(times, p.T)
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	times = slices.CompactFunc(times, time.Time.Equal)
	al := aligned{times: times, vals: make([][]float64, len(times)), present: make([][]bool, len(times))}
	for ti := range times {
		al.vals[ti] = make([]float64, len(ss))
		al.present[ti] = make([]bool, len(ss))
	}
	for si, s := range ss {
		ti := 0
		for _, p := range s.Points {
			for !times[ti].Equal(p.T) {
				ti++
			}
			al.vals[ti][si] = p.V
			al.present[ti][si] = true
		}
	}
	return al
}

// lookup returns the value of s at t.
func lookup(s Series, t time.Time) (float64, bool) {
	i, ok := slices.BinarySearchFunc(s.Points, t, func(p Point, t time.Time) int { return p.T.Compare(t) })
	if !ok {
		return 0, false
	}
	return s.Points[i].V, true
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// applyOp computes x op y for one pair of values.
func applyOp(op string, x, y float64) float64 {
	switch op {
	case "+":
		return x + y
	case "-":
		return x - y
	case "*":
		return x * y
	case "/":
		return x / y // ±Inf or NaN for a division by zero: dropped by the caller
	case "^":
		return math.Pow(x, y)
	case "==":
		return b2f(x == y)
	case "!=":
		return b2f(x != y)
	case "<=":
		return b2f(x <= y)
	case ">=":
		return b2f(x >= y)
	case "<":
		return b2f(x < y)
	case ">":
		return b2f(x > y)
	case "&&":
		return b2f(x != 0 && y != 0)
	case "||":
		return b2f(x != 0 || y != 0)
	}
	return math.NaN()
}
