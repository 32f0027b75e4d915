package expr

// fnMetrics: METRICS() is the TS[] of every metric query of the request
// (expressions are not included), in request order; METRICS("s") keeps the
// metrics whose Id contains s.
func fnMetrics(ev *evaluator, c *Call, args []value) (value, error) {
	if len(args) == 1 {
		if err := ev.want(c, args, 0, kString); err != nil {
			return value{}, err
		}
	}
	sel := ev.selectMetrics(c)
	out := make([]Series, len(sel))
	for i, m := range sel {
		out[i] = m.val.ts
	}
	return arrayVal(out), nil
}

// fnMetricCount: METRIC_COUNT(TS[]) is the number of series in the array.
func fnMetricCount(ev *evaluator, c *Call, args []value) (value, error) {
	if err := ev.want(c, args, 0, kArray); err != nil {
		return value{}, err
	}
	return scalar(float64(len(args[0].arr))), nil
}

// fnFirstLast makes FIRST and LAST: the first or last series of a TS[].
// Docs: an empty array is not covered; the result is a series without points.
func fnFirstLast(first bool) func(*evaluator, *Call, []value) (value, error) {
	return func(ev *evaluator, c *Call, args []value) (value, error) {
		if err := ev.want(c, args, 0, kArray); err != nil {
			return value{}, err
		}
		a := args[0].arr
		switch {
		case len(a) == 0:
			return seriesVal(Series{Period: ev.cur.period}), nil
		case first:
			return seriesVal(a[0]), nil
		}
		return seriesVal(a[len(a)-1]), nil
	}
}

// fnRemoveEmpty: REMOVE_EMPTY(TS[]) drops the members without points.
func fnRemoveEmpty(ev *evaluator, c *Call, args []value) (value, error) {
	if err := ev.want(c, args, 0, kArray); err != nil {
		return value{}, err
	}
	var out []Series
	for _, s := range args[0].arr {
		if len(s.Points) > 0 {
			out = append(out, s)
		}
	}
	return arrayVal(out), nil
}

// fnSlice: SLICE(TS[], start[, end]) keeps members start (inclusive, from
// 0) to end (exclusive), or from start to the end of the array. Bounds past
// the end are clamped.
// Docs: the return type is listed as "TS[] TS"; a TS[] is always returned.
func fnSlice(ev *evaluator, c *Call, args []value) (value, error) {
	if err := ev.want(c, args, 0, kArray); err != nil {
		return value{}, err
	}
	a := args[0].arr
	start, err := ev.index(c, args, 1)
	if err != nil {
		return value{}, err
	}
	end := len(a)
	if len(args) == 3 {
		if end, err = ev.index(c, args, 2); err != nil {
			return value{}, err
		}
	}
	start, end = min(start, len(a)), min(end, len(a))
	if end < start {
		end = start
	}
	return arrayVal(a[start:end:end]), nil
}
