package expr

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// qstate is one query of a request during evaluation.
type qstate struct {
	q      Query
	metric bool
	src    string
	node   Node
	deps   []*Ident // ids referenced by the expression, in source order
	label  string
	period time.Duration
	val    value
	done   bool
}

// evaluator evaluates the expressions of one request.
type evaluator struct {
	r       Range
	order   []*qstate // request order
	byID    map[string]*qstate
	metrics []*qstate // metric queries, request order
	cur     *qstate   // the expression being evaluated
}

// Evaluate evaluates a request: metric queries carry their data, expression
// queries are evaluated in dependency order. It returns the queries whose
// ReturnData is true (nil means true), in request order. Errors are
// *QueryError values naming the query; see the package documentation for
// the sentinels they wrap.
func Evaluate(queries []Query, r Range) ([]Result, error) {
	ev := &evaluator{r: r, byID: make(map[string]*qstate, len(queries))}
	if r.End.Before(r.Start) {
		return nil, fmt.Errorf("%w: range end %s is before its start %s", ErrInvalidQuery, r.End.Format(time.RFC3339), r.Start.Format(time.RFC3339))
	}
	for _, q := range queries {
		st, err := ev.add(q)
		if err != nil {
			return nil, &QueryError{ID: q.ID, Err: err}
		}
		ev.order = append(ev.order, st)
	}
	for _, st := range ev.order {
		if !st.metric {
			if err := ev.resolve(st); err != nil {
				return nil, &QueryError{ID: st.q.ID, Err: err}
			}
		}
	}
	if err := ev.checkCycles(); err != nil {
		return nil, err
	}
	for _, st := range ev.order {
		if err := ev.evalQuery(st); err != nil {
			return nil, err
		}
	}
	var out []Result
	for _, st := range ev.order {
		if st.q.ReturnData != nil && !*st.q.ReturnData {
			continue
		}
		res := Result{ID: st.q.ID, Label: st.label}
		if st.val.kind == kSeries {
			res.Series = []Series{st.val.ts}
		} else {
			res.Series = st.val.arr
		}
		out = append(out, res)
	}
	return out, nil
}

func validID(id string) bool {
	if id == "" || !isLower(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		if !isWord(id[i]) {
			return false
		}
	}
	return true
}

// add validates a query, parses its expression or normalises its data.
func (ev *evaluator) add(q Query) (*qstate, error) {
	if !validID(q.ID) {
		return nil, fmt.Errorf("%w: id %q must start with a lowercase letter and contain only letters, digits and underscores", ErrInvalidQuery, q.ID)
	}
	if _, dup := ev.byID[q.ID]; dup {
		return nil, fmt.Errorf("%w: id %q is used by two queries; ids must be unique", ErrInvalidQuery, q.ID)
	}
	if (q.Metric == nil) == (q.Expression == "") {
		return nil, fmt.Errorf("%w: give exactly one of Metric and Expression", ErrInvalidQuery)
	}
	if q.Period < 0 {
		return nil, fmt.Errorf("%w: period %s is negative", ErrInvalidQuery, q.Period)
	}
	st := &qstate{q: q, metric: q.Metric != nil, src: q.Expression, label: q.Label}
	ev.byID[q.ID] = st
	if st.metric {
		m := *q.Metric
		st.period = q.Period
		switch {
		case st.period == 0 && m.Period > 0:
			st.period = m.Period
		case st.period > 0 && m.Period > 0 && m.Period != st.period:
			return nil, fmt.Errorf("%w: query period %s differs from the metric's period %s", ErrInvalidQuery, q.Period, m.Period)
		case st.period == 0:
			st.period = ev.r.Period
		}
		if st.period <= 0 {
			return nil, fmt.Errorf("%w: metric has no period; set Query.Period, Series.Period or Range.Period", ErrInvalidQuery)
		}
		if st.label == "" {
			st.label = m.Label
		}
		if st.label == "" {
			st.label = q.ID
		}
		pts := slices.Clone(m.Points)
		slices.SortStableFunc(pts, func(a, b Point) int { return a.T.Compare(b.T) })
		for i, p := range pts {
			if !finite(p.V) {
				return nil, fmt.Errorf("%w: point at %s has the non-finite value %v", ErrInvalidQuery, p.T.Format(time.RFC3339), p.V)
			}
			if i > 0 && pts[i-1].T.Equal(p.T) {
				return nil, fmt.Errorf("%w: two points at %s; give one point per timestamp", ErrInvalidQuery, p.T.Format(time.RFC3339))
			}
		}
		st.val = seriesVal(Series{ID: q.ID, Label: st.label, Period: st.period, Points: pts})
		st.done = true
		ev.metrics = append(ev.metrics, st)
		return st, nil
	}
	if st.label == "" {
		st.label = q.ID
	}
	n, err := Parse(q.Expression)
	if err != nil {
		return nil, err
	}
	st.node = n
	walk(n, func(n Node) {
		if id, ok := n.(*Ident); ok {
			st.deps = append(st.deps, id)
		}
	})
	return st, nil
}

// resolve checks the ids an expression uses exist and share one period.
func (ev *evaluator) resolve(st *qstate) error {
	for _, id := range st.deps {
		if _, ok := ev.byID[id.Name]; !ok {
			msg := fmt.Sprintf("unknown id %q; no query in the request has this id", id.Name)
			if s := ev.closestID(id.Name); s != "" {
				msg += "; did you mean " + s + "?"
			}
			return newPosError(st.src, id.At, ErrUnknownID, "%s", msg)
		}
	}
	return nil
}

func (ev *evaluator) closestID(name string) string {
	best, bestD := "", 3
	for _, o := range ev.order {
		if d := editDistance(name, o.q.ID); d < bestD && d <= len(name)/2 {
			best, bestD = o.q.ID, d
		}
	}
	return best
}

// checkCycles reports the first cycle between expressions, in request order.
func (ev *evaluator) checkCycles() error {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(st *qstate) error
	visit = func(st *qstate) error {
		color[st.q.ID] = grey
		stack = append(stack, st.q.ID)
		for _, id := range st.deps {
			d := ev.byID[id.Name]
			switch color[d.q.ID] {
			case grey:
				i := slices.Index(stack, d.q.ID)
				cycle := append(slices.Clone(stack[i:]), d.q.ID)
				return &QueryError{ID: d.q.ID, Err: fmt.Errorf("%w: %s; an expression cannot use its own result, directly or through others",
					ErrCycle, strings.Join(cycle, " -> "))}
			case white:
				if err := visit(d); err != nil {
					return err
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[st.q.ID] = black
		return nil
	}
	for _, st := range ev.order {
		if color[st.q.ID] == white {
			if err := visit(st); err != nil {
				return err
			}
		}
	}
	return nil
}

// evalQuery evaluates st after its dependencies (there are no cycles).
func (ev *evaluator) evalQuery(st *qstate) error {
	if st.done {
		return nil
	}
	for _, id := range st.deps {
		if err := ev.evalQuery(ev.byID[id.Name]); err != nil {
			return err
		}
	}
	if err := ev.checkPeriods(st); err != nil {
		return &QueryError{ID: st.q.ID, Err: err}
	}
	ev.cur = st
	v, err := ev.eval(st.node)
	if err != nil {
		return &QueryError{ID: st.q.ID, Err: err}
	}
	switch v.kind {
	case kSeries:
		v.ts.ID, v.ts.Label, v.ts.Period = st.q.ID, st.label, st.period
	case kArray:
	default:
		return &QueryError{ID: st.q.ID, Err: newPosError(st.src, 0, ErrType,
			"the result is %s; the final result of an expression must be a time series or an array of time series (for a scalar s, use TIME_SERIES(s))", v.kind)}
	}
	st.val, st.done = v, true
	return nil
}

// checkPeriods rejects an expression whose inputs (the ids it uses and the
// metrics METRICS() selects) have different periods, and sets its period.
//
// Docs: GetMetricData documents no alignment rule for mixed periods (alarms
// and anomaly detection require one period), so one period is enforced.
func (ev *evaluator) checkPeriods(st *qstate) error {
	type use struct {
		id     string
		period time.Duration
		pos    int
	}
	var uses []use
	for _, id := range st.deps {
		uses = append(uses, use{id.Name, ev.byID[id.Name].period, id.At})
	}
	walk(st.node, func(n Node) {
		if c, ok := n.(*Call); ok && c.Func == "METRICS" {
			for _, m := range ev.selectMetrics(c) {
				uses = append(uses, use{m.q.ID, m.period, c.At})
			}
		}
	})
	st.period = st.q.Period
	first := ""
	for _, u := range uses {
		if st.period == 0 {
			st.period, first = u.period, u.id+" has period "+fmtPeriod(u.period)
			continue
		}
		if u.period != st.period {
			if first == "" {
				first = "the expression's Period is " + fmtPeriod(st.period)
			}
			return newPosError(st.src, u.pos, ErrMixedPeriods,
				"mixed periods: %s but %s has period %s; every metric and expression used in one expression must have the same period",
				first, u.id, fmtPeriod(u.period))
		}
	}
	if st.period == 0 {
		st.period = ev.r.Period
	}
	if st.period <= 0 {
		return fmt.Errorf("%w: the expression uses no id, so its period comes from Range.Period, which is not set", ErrInvalidQuery)
	}
	if n := ev.r.End.Sub(ev.r.Start) / st.period; n > maxPoints {
		return fmt.Errorf("%w: the range holds %d periods of %s, more than %d; use a longer period or a shorter range",
			ErrInvalidQuery, n, fmtPeriod(st.period), maxPoints)
	}
	return nil
}

func fmtPeriod(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

// selectMetrics returns the metric queries METRICS(c) selects: all of them,
// or those whose Id contains the string argument.
//
// Docs: the 2023 User Guide says METRICS("s") matches "the graphed metrics
// that contain that string in their Id field"; the Id is used, not the label.
func (ev *evaluator) selectMetrics(c *Call) []*qstate {
	if len(c.Args) == 0 {
		return ev.metrics
	}
	s, ok := c.Args[0].(*StringLit)
	if !ok {
		return nil
	}
	var out []*qstate
	for _, m := range ev.metrics {
		if strings.Contains(m.q.ID, s.Val) {
			out = append(out, m)
		}
	}
	return out
}

// grid returns the timestamps of the query range at period p: Start,
// Start+p, ... before End.
func (ev *evaluator) grid(p time.Duration) []time.Time {
	if p <= 0 {
		return nil
	}
	var ts []time.Time
	for t := ev.r.Start; t.Before(ev.r.End) && len(ts) < maxPoints; t = t.Add(p) {
		ts = append(ts, t)
	}
	return ts
}

func (ev *evaluator) typeErr(n Node, format string, args ...any) error {
	return newPosError(ev.cur.src, n.Pos(), ErrType, format, args...)
}
