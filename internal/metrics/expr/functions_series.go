package expr

import (
	"math"
	"slices"
	"strings"
	"time"
)

// want checks the kind of argument i of c.
func (ev *evaluator) want(c *Call, args []value, i int, kinds ...kind) error {
	if slices.Contains(kinds, args[i].kind) {
		return nil
	}
	names := make([]string, len(kinds))
	for j, k := range kinds {
		names[j] = k.String()
	}
	return ev.typeErr(c.Args[i], "argument %d of %s must be %s, not %s; usage: %s",
		i+1, c.Func, strings.Join(names, " or "), args[i].kind, functions[c.Func].usage)
}

func absf(v float64) float64   { return math.Abs(v) }
func ceilf(v float64) float64  { return math.Ceil(v) }
func floorf(v float64) float64 { return math.Floor(v) }
func logf(v float64) float64   { return math.Log(v) }
func log10f(v float64) float64 { return math.Log10(v) }

// pointwise makes a TS|TS[] → TS|TS[] function applying f to each value.
// Docs: LOG of 0 or a negative value has no finite result; such points are
// dropped, as for a division by zero.
func pointwise(f func(float64) float64) func(*evaluator, *Call, []value) (value, error) {
	return func(ev *evaluator, c *Call, args []value) (value, error) {
		if err := ev.want(c, args, 0, kSeries, kArray); err != nil {
			return value{}, err
		}
		return eachSeries(args[0], func(s Series) Series {
			return mapPoints(s, func(p Point) float64 { return f(p.V) })
		}), nil
	}
}

// consecutive makes a TS|TS[] → TS|TS[] function of each point and the
// point before it in the same series (DIFF, DIFF_TIME, RATE). The first
// point has no predecessor and gives no output point.
//
// Docs: "the preceding value" is read as the preceding existing point, so a
// gap is spanned (RATE divides by the real time difference).
func consecutive(f func(prev, cur Point) float64) func(*evaluator, *Call, []value) (value, error) {
	return func(ev *evaluator, c *Call, args []value) (value, error) {
		if err := ev.want(c, args, 0, kSeries, kArray); err != nil {
			return value{}, err
		}
		return eachSeries(args[0], func(s Series) Series {
			out := make([]Point, 0, len(s.Points))
			for i := 1; i < len(s.Points); i++ {
				if v := f(s.Points[i-1], s.Points[i]); finite(v) {
					out = append(out, Point{s.Points[i].T, v})
				}
			}
			return withPoints(s, out)
		}), nil
	}
}

func diffValue(prev, cur Point) float64 { return cur.V - prev.V }
func diffTime(prev, cur Point) float64  { return cur.T.Sub(prev.T).Seconds() }
func rateValue(prev, cur Point) float64 {
	return (cur.V - prev.V) / cur.T.Sub(prev.T).Seconds()
}

// fnRunningSum: the running sum of the values.
// Docs: silent on missing points; they stay missing (the sum carries over).
func fnRunningSum(ev *evaluator, c *Call, args []value) (value, error) {
	if err := ev.want(c, args, 0, kSeries, kArray); err != nil {
		return value{}, err
	}
	return eachSeries(args[0], func(s Series) Series {
		sum := 0.0
		return mapPoints(s, func(p Point) float64 { sum += p.V; return sum })
	}), nil
}

// fnFill fills the missing values of a series on the timestamps of the
// query range (Range.Start stepped by the series' period, before Range.End).
//
//   - FILL(x, S): with the scalar (a scalar without a value fills nothing).
//   - FILL(x, TS): with the value of the filler series at that timestamp;
//     where the filler is missing too, the point stays missing.
//   - FILL(x, REPEAT): with the most recent real value before the gap.
//   - FILL(x, LINEAR): by linear interpolation (in time) between the real
//     values at both ends of the gap.
//
// Docs: silent on gaps at the edges of the range. Chosen: REPEAT leaves a
// leading gap missing (there is no earlier value); LINEAR leaves leading and
// trailing gaps missing (there is nothing to interpolate between).
func fnFill(ev *evaluator, c *Call, args []value) (value, error) {
	if err := ev.want(c, args, 0, kSeries, kArray); err != nil {
		return value{}, err
	}
	if err := ev.want(c, args, 1, kScalar, kSeries, kKeyword); err != nil {
		return value{}, err
	}
	with := args[1]
	return eachSeries(args[0], func(s Series) Series {
		grid := ev.grid(s.Period)
		times := make([]time.Time, 0, len(grid)+len(s.Points))
		times = append(times, grid...)
		for _, p := range s.Points {
			times = append(times, p.T)
		}
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		times = slices.CompactFunc(times, time.Time.Equal)
		out := make([]Point, 0, len(times))
		next := 0 // index in s.Points of the first point at or after t
		for _, t := range times {
			for next < len(s.Points) && s.Points[next].T.Before(t) {
				next++
			}
			if next < len(s.Points) && s.Points[next].T.Equal(t) {
				out = append(out, s.Points[next])
				continue
			}
			var v float64
			var ok bool
			switch {
			case with.kind == kScalar:
				v, ok = with.s, with.sOK
			case with.kind == kSeries:
				v, ok = lookup(with.ts, t)
			case with.str == "REPEAT":
				if next > 0 {
					v, ok = s.Points[next-1].V, true
				}
			default: // LINEAR
				if next > 0 && next < len(s.Points) {
					a, b := s.Points[next-1], s.Points[next]
					frac := float64(t.Sub(a.T)) / float64(b.T.Sub(a.T))
					v, ok = a.V+(b.V-a.V)*frac, true
				}
			}
			if ok && finite(v) {
				out = append(out, Point{t, v})
			}
		}
		return withPoints(s, out)
	}), nil
}

// fnIf implements IF(condition, trueValue[, falseValue]); 0 is false.
//
// With a series condition there is one output point per condition point:
// true takes trueValue (0 where a trueValue series is missing), false takes
// falseValue (dropped where a falseValue series is missing, or when it is
// omitted). Condition points that are missing give no point (documented).
//
// With a scalar condition the result is trueValue or falseValue as given; a
// false condition without falseValue gives a series with no points.
// Docs: IF(S, S, S) is not listed; it yields a scalar, which is only valid
// inside a larger expression.
func fnIf(ev *evaluator, c *Call, args []value) (value, error) {
	for i := range args {
		if err := ev.want(c, args, i, kScalar, kSeries); err != nil {
			return value{}, err
		}
	}
	cond, a := args[0], args[1]
	var b value
	hasB := len(args) == 3
	if hasB {
		b = args[2]
	}
	if cond.kind == kScalar {
		switch {
		case cond.sOK && cond.s != 0:
			return a, nil
		case hasB:
			return b, nil
		}
		return seriesVal(Series{Period: ev.cur.period}), nil
	}
	out := make([]Point, 0, len(cond.ts.Points))
	for _, p := range cond.ts.Points {
		var v float64
		var ok bool
		branch, missingOK := b, false
		if p.V != 0 {
			branch, missingOK = a, true
		} else if !hasB {
			continue
		}
		if branch.kind == kScalar {
			v, ok = branch.s, branch.sOK
		} else if v, ok = lookup(branch.ts, p.T); !ok && missingOK {
			v, ok = 0, true
		}
		if ok {
			out = append(out, Point{p.T, v})
		}
	}
	return seriesVal(withPoints(cond.ts, out)), nil
}

// fnTimeSeries: TIME_SERIES(S) is a non-sparse series with the scalar's
// value at every timestamp of the query range, at the expression's period.
func fnTimeSeries(ev *evaluator, c *Call, args []value) (value, error) {
	if err := ev.want(c, args, 0, kScalar); err != nil {
		return value{}, err
	}
	s := Series{ID: ev.cur.q.ID, Period: ev.cur.period}
	if args[0].sOK {
		for _, t := range ev.grid(s.Period) {
			s.Points = append(s.Points, Point{t, args[0].s})
		}
	}
	return seriesVal(s), nil
}

// fnPeriod: PERIOD(m) is the period of a metric in seconds. The docs say
// "Valid input is metrics, not the results of other expressions", so the
// argument must be the id of a metric query.
func fnPeriod(ev *evaluator, c *Call, args []value) (value, error) {
	id, ok := c.Args[0].(*Ident)
	if !ok || !ev.byID[id.Name].metric {
		return value{}, ev.typeErr(c.Args[0], "PERIOD takes the id of a metric query, not the result of an expression")
	}
	return scalar(ev.byID[id.Name].period.Seconds()), nil
}

// Time functions: a new non-sparse series on the timestamps of the query
// range at the argument's period, each value computed from its timestamp in
// UTC. DAY is the day of the week, 1 (Monday) to 7 (Sunday), as the docs'
// example IF(DAY(m1)<6, m1) "returns metrics only from weekdays" implies;
// DATE is the day of the month; EPOCH is seconds since the Unix epoch.
func tfMinute(t time.Time) float64 { return float64(t.Minute()) }
func tfHour(t time.Time) float64   { return float64(t.Hour()) }
func tfDate(t time.Time) float64   { return float64(t.Day()) }
func tfMonth(t time.Time) float64  { return float64(t.Month()) }
func tfYear(t time.Time) float64   { return float64(t.Year()) }
func tfEpoch(t time.Time) float64  { return float64(t.Unix()) }
func tfDay(t time.Time) float64 {
	if d := t.Weekday(); d != time.Sunday {
		return float64(d)
	}
	return 7
}

func timeFunc(f func(time.Time) float64) func(*evaluator, *Call, []value) (value, error) {
	return func(ev *evaluator, c *Call, args []value) (value, error) {
		if err := ev.want(c, args, 0, kSeries); err != nil {
			return value{}, err
		}
		s := args[0].ts
		grid := ev.grid(s.Period)
		out := make([]Point, len(grid))
		for i, t := range grid {
			out[i] = Point{t, f(t.UTC())}
		}
		return seriesVal(withPoints(s, out)), nil
	}
}
