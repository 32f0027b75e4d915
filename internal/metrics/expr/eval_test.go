package expr

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func series(period time.Duration, vals ...float64) *Series {
	s := &Series{Period: period}
	for i, v := range vals {
		s.Points = append(s.Points, Point{t0.Add(time.Duration(i) * period), v})
	}
	return s
}

func TestEvaluateRequest(t *testing.T) {
	r := Range{Start: t0, End: t0.Add(3 * time.Minute), Period: time.Minute}
	inv := series(time.Minute, 100, 50, 0)
	inv.Label = "Invocations"
	queries := []Query{
		{ID: "m_inv", Metric: inv, ReturnData: ptr(false)},
		{ID: "m_err", Metric: series(time.Minute, 2, 5, 0), ReturnData: ptr(false)},
		{ID: "rate", Expression: "IF(m_inv > 0, 100 * m_err / m_inv, 0)", Label: "Error rate"},
		{ID: "all", Expression: "METRICS()"},
	}
	got, err := Evaluate(queries, r)
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{ID: "rate", Label: "Error rate", Series: []Series{{ID: "rate", Label: "Error rate", Period: time.Minute,
			Points: []Point{{t0, 2}, {t0.Add(time.Minute), 10}, {t0.Add(2 * time.Minute), 0}}}}},
		{ID: "all", Label: "all", Series: []Series{
			{ID: "m_inv", Label: "Invocations", Period: time.Minute, Points: inv.Points},
			{ID: "m_err", Label: "m_err", Period: time.Minute, Points: queries[1].Metric.Points},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	again, err := Evaluate(queries, r)
	if err != nil || !reflect.DeepEqual(again, got) {
		t.Fatalf("second evaluation differs: %v %+v", err, again)
	}
}

func TestEvaluateSortsInputWithoutMutating(t *testing.T) {
	m := &Series{Period: time.Minute, Points: []Point{{t0.Add(time.Minute), 2}, {t0, 1}}}
	got, err := Evaluate([]Query{{ID: "m1", Metric: m}}, Range{Start: t0, End: t0.Add(2 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if p := got[0].Series[0].Points; p[0].V != 1 || p[1].V != 2 {
		t.Errorf("points not sorted: %v", p)
	}
	if m.Points[0].V != 2 {
		t.Errorf("input mutated: %v", m.Points)
	}
}

func TestEvaluateErrors(t *testing.T) {
	r := Range{Start: t0, End: t0.Add(3 * time.Minute), Period: time.Minute}
	m := series(time.Minute, 1, 2, 3)
	tests := []struct {
		name    string
		queries []Query
		kind    error
		msg     string
	}{
		{"bad id", []Query{{ID: "M1", Metric: m}}, ErrInvalidQuery, `id "M1" must start with a lowercase letter`},
		{"duplicate id", []Query{{ID: "m1", Metric: m}, {ID: "m1", Metric: m}}, ErrInvalidQuery, "used by two queries"},
		{"neither", []Query{{ID: "m1"}}, ErrInvalidQuery, "exactly one of Metric and Expression"},
		{"both", []Query{{ID: "m1", Metric: m, Expression: "1"}}, ErrInvalidQuery, "exactly one"},
		{"period disagrees", []Query{{ID: "m1", Metric: m, Period: 5 * time.Minute}}, ErrInvalidQuery, "differs from the metric's period"},
		{"nan", []Query{{ID: "m1", Metric: &Series{Period: time.Minute, Points: []Point{{t0, nan()}}}}}, ErrInvalidQuery, "non-finite"},
		{"duplicate point", []Query{{ID: "m1", Metric: &Series{Period: time.Minute, Points: []Point{{t0, 1}, {t0, 2}}}}}, ErrInvalidQuery, "two points"},
		{"syntax", []Query{{ID: "e1", Expression: "AVGG(m1)"}}, ErrUnknownFunction, `expression e1: position 1: unknown function "AVGG"; did you mean AVG?`},
		{"unknown id", []Query{{ID: "e1", Expression: "m1 * 2"}}, ErrUnknownID, `expression e1: position 1: unknown id "m1"`},
		{"type", []Query{{ID: "m1", Metric: m}, {ID: "e1", Expression: "TIME_SERIES(m1)"}}, ErrType, "position 13"},
		{"cycle", []Query{{ID: "e1", Expression: "e2"}, {ID: "e2", Expression: "e1"}}, ErrCycle, "e1 -> e2 -> e1"},
		{"mixed", []Query{{ID: "m1", Metric: m}, {ID: "m5", Metric: series(5*time.Minute, 1)}, {ID: "e1", Expression: "m1+m5"}},
			ErrMixedPeriods, "m1 has period 60s but m5 has period 300s"},
		{"expression period", []Query{{ID: "m1", Metric: m}, {ID: "e1", Expression: "m1", Period: 5 * time.Minute}},
			ErrMixedPeriods, "the expression's Period is 300s but m1 has period 60s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Evaluate(tt.queries, r)
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, want %v containing %q", err, tt.kind, tt.msg)
			}
			var qe *QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("got %T, want a *QueryError", err)
			}
		})
	}
}

func TestEvaluateRangeErrors(t *testing.T) {
	if _, err := Evaluate(nil, Range{Start: t0, End: t0.Add(-time.Minute)}); !errors.Is(err, ErrInvalidQuery) {
		t.Errorf("end before start: got %v", err)
	}
	_, err := Evaluate([]Query{{ID: "e", Expression: "TIME_SERIES(1)"}}, Range{Start: t0, End: t0.Add(time.Hour)})
	if !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), "Range.Period") {
		t.Errorf("no period: got %v", err)
	}
	_, err = Evaluate([]Query{{ID: "e", Expression: "TIME_SERIES(1)"}}, Range{Start: t0, End: t0.Add(30 * 24 * time.Hour), Period: time.Second})
	if !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), "more than 100800") {
		t.Errorf("too many points: got %v", err)
	}
}

func nan() float64 { var z float64; return z / z }
