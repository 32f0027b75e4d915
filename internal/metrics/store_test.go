package metrics

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPutQueryBasicStats(t *testing.T) {
	c := newClock()
	st := openTest(t, "", c, Options{})
	t0 := c.Now().Add(-10 * time.Minute)
	// Dimensions in another order name the same metric.
	id2 := MetricID{Namespace: testID.Namespace, Name: testID.Name, Dimensions: []Dimension{testID.Dimensions[1], testID.Dimensions[0]}}
	err := st.Put([]Datum{
		{MetricID: testID, Timestamp: t0, Value: f64(10)},
		{MetricID: id2, Timestamp: t0.Add(5 * time.Second), Values: []float64{20, 30}, Counts: []float64{1, 2}},
		{MetricID: testID, Timestamp: t0.Add(65 * time.Second), StatisticValues: &StatSet{SampleCount: 4, Sum: 8, Minimum: 1, Maximum: 3}},
	})
	if err != nil {
		t.Fatal(err)
	}
	q := MetricStatQuery{Metric: testID, Period: time.Minute, Start: t0.Add(-time.Hour), End: c.Now()}
	for _, tc := range []struct {
		stat string
		want []float64
	}{
		{"SampleCount", []float64{4, 4}},
		{"Sum", []float64{90, 8}},
		{"Average", []float64{22.5, 2}},
		{"Minimum", []float64{10, 1}},
		{"Maximum", []float64{30, 3}},
	} {
		q.Stat = tc.stat
		got := mustQuery(t, st, q)
		if len(got) != len(tc.want) {
			t.Fatalf("%s: got %v, want %v", tc.stat, got, tc.want)
		}
		for i := range got {
			if got[i].V != tc.want[i] {
				t.Errorf("%s[%d] = %v, want %v", tc.stat, i, got[i].V, tc.want[i])
			}
		}
		if !got[0].T.Equal(t0.Truncate(time.Minute)) || !got[1].T.After(got[0].T) {
			t.Errorf("%s timestamps %v", tc.stat, got)
		}
	}
	// Percentile: the statistic-set period has no sketch, so it is absent.
	q.Stat = "p90"
	got := mustQuery(t, st, q)
	if len(got) != 1 || math.Abs(got[0].V-30)/30 > 0.01 {
		t.Errorf("p90 = %v, want one point ≈30", got)
	}
	if ids := st.ListMetrics("holdfast/gateway", "Dur"); len(ids) != 1 || ids[0].Dimensions[0].Name != "route" {
		t.Errorf("ListMetrics = %v", ids)
	}
	if ids := st.ListMetrics("other", ""); len(ids) != 0 {
		t.Errorf("ListMetrics(other) = %v", ids)
	}
}

func TestStatSetWithEqualValuesHasPercentiles(t *testing.T) {
	c := newClock()
	st := openTest(t, "", c, Options{})
	ts := c.Now().Add(-time.Minute)
	if err := st.Put([]Datum{{MetricID: testID, Timestamp: ts, StatisticValues: &StatSet{5, 35, 7, 7}}}); err != nil {
		t.Fatal(err)
	}
	got := mustQuery(t, st, MetricStatQuery{Metric: testID, Period: time.Minute, Stat: "p99", Start: ts.Add(-time.Hour), End: c.Now()})
	if len(got) != 1 || got[0].V != 7 {
		t.Errorf("p99 = %v, want 7", got)
	}
}

func TestPutValidation(t *testing.T) {
	c := newClock()
	st := openTest(t, "", c, Options{})
	now := c.Now()
	good := Datum{MetricID: testID, Timestamp: now, Value: f64(1)}
	longName := strings.Repeat("x", 256)
	manyDims := make([]Dimension, 31)
	for i := range manyDims {
		manyDims[i] = Dimension{string(rune('a'+i%26)) + strings.Repeat("z", i/26), "v"}
	}
	for _, tc := range []struct {
		name  string
		d     Datum
		field string
		err   error
	}{
		{"NaN", Datum{MetricID: testID, Value: f64(math.NaN())}, "Value", ErrInvalidValue},
		{"Inf in Values", Datum{MetricID: testID, Values: []float64{1, math.Inf(1)}}, "Values[1]", ErrInvalidValue},
		{"Inf in statistic set", Datum{MetricID: testID, StatisticValues: &StatSet{1, math.Inf(-1), 0, 0}}, "StatisticValues", ErrInvalidValue},
		{"too old for 1 s", Datum{MetricID: testID, Timestamp: now.Add(-3*time.Hour - time.Minute), Value: f64(1), StorageResolution: 1}, "Timestamp", ErrTimestamp},
		{"too old for 60 s", Datum{MetricID: testID, Timestamp: now.Add(-16 * 24 * time.Hour), Value: f64(1)}, "Timestamp", ErrTimestamp},
		{"future", Datum{MetricID: testID, Timestamp: now.Add(2*time.Hour + time.Second), Value: f64(1)}, "Timestamp", ErrTimestamp},
		{"no value", Datum{MetricID: testID}, "Value", ErrInvalidDatum},
		{"two values", Datum{MetricID: testID, Value: f64(1), Values: []float64{1}}, "Value", ErrInvalidDatum},
		{"counts mismatch", Datum{MetricID: testID, Values: []float64{1, 2}, Counts: []float64{1}}, "Counts", ErrInvalidDatum},
		{"negative count", Datum{MetricID: testID, Values: []float64{1}, Counts: []float64{-1}}, "Counts[0]", ErrInvalidDatum},
		{"resolution", Datum{MetricID: testID, Value: f64(1), StorageResolution: 10}, "StorageResolution", ErrInvalidDatum},
		{"empty namespace", Datum{MetricID: MetricID{Name: "x"}, Value: f64(1)}, "MetricID", ErrInvalidMetric},
		{"long name", Datum{MetricID: MetricID{Namespace: "n", Name: longName}, Value: f64(1)}, "MetricID", ErrInvalidMetric},
		{"31 dimensions", Datum{MetricID: MetricID{Namespace: "n", Name: "x", Dimensions: manyDims}, Value: f64(1)}, "MetricID", ErrInvalidMetric},
		{"duplicate dimension", Datum{MetricID: MetricID{Namespace: "n", Name: "x", Dimensions: []Dimension{{"a", "1"}, {"a", "2"}}}, Value: f64(1)}, "MetricID", ErrInvalidMetric},
		{"min > max", Datum{MetricID: testID, StatisticValues: &StatSet{1, 1, 2, 1}}, "StatisticValues", errStatSetMinMax},
	} {
		err := st.Put([]Datum{good, tc.d})
		var de *DatumError
		if !errors.As(err, &de) || de.Index != 1 || de.Field != tc.field || !errors.Is(err, tc.err) {
			t.Errorf("%s: Put error = %v, want DatumError{Index: 1, Field: %s} wrapping %v", tc.name, err, tc.field, tc.err)
		}
	}
	// Atomic: the good datum of the rejected calls was not stored.
	if got := mustQuery(t, st, MetricStatQuery{Metric: testID, Period: time.Minute, Stat: "SampleCount", Start: now.Add(-time.Hour), End: now.Add(time.Hour)}); len(got) != 0 {
		t.Errorf("rejected calls stored %v", got)
	}
}

func TestQueryErrors(t *testing.T) {
	c := newClock()
	st := openTest(t, "", c, Options{})
	now := c.Now()
	for _, tc := range []struct {
		q   MetricStatQuery
		err error
	}{
		{MetricStatQuery{Metric: testID, Period: time.Minute, Stat: "p99x", Start: now.Add(-time.Hour), End: now}, ErrBadStat},
		{MetricStatQuery{Metric: testID, Period: 7 * time.Second, Stat: "Sum", Start: now.Add(-time.Hour), End: now}, ErrBadPeriod},
		{MetricStatQuery{Metric: testID, Period: 90 * time.Second, Stat: "Sum", Start: now.Add(-time.Hour), End: now}, ErrBadPeriod},
	} {
		if _, err := st.Query(tc.q); !errors.Is(err, tc.err) {
			t.Errorf("Query(%s, %v) error = %v, want %v", tc.q.Stat, tc.q.Period, err, tc.err)
		}
	}
	if _, err := st.Query(MetricStatQuery{Metric: testID, Period: time.Minute, Stat: "p99x", Start: now.Add(-time.Hour), End: now}); err == nil || !strings.Contains(err.Error(), `"p99x"`) {
		t.Errorf("error does not name the stat: %v", err)
	}
}

func TestHandleAndAggregate(t *testing.T) {
	c := newClock()
	st := openTest(t, "", c, Options{})
	blue := MetricID{Namespace: "gw", Name: "Invocations", Dimensions: []Dimension{{"target", "blue"}}}
	green := MetricID{Namespace: "gw", Name: "Invocations", Dimensions: []Dimension{{"target", "green"}}}
	hb, err := st.Handle(blue, 1)
	if err != nil {
		t.Fatal(err)
	}
	hg, _ := st.Handle(green, 1)
	start := c.Now()
	for i := range 30 {
		ts := start.Add(time.Duration(i) * time.Second)
		c.Advance(time.Second)
		if err := hb.Add(ts, float64(i)); err != nil {
			t.Fatal(err)
		}
		hg.Add(ts, 100+float64(i))
	}
	if err := hb.Add(c.Now(), math.NaN()); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("Add(NaN) = %v", err)
	}
	if err := hb.Add(c.Now().Add(3*time.Hour), 1); !errors.Is(err, ErrTimestamp) {
		t.Errorf("Add(future) = %v", err)
	}
	got, err := st.Aggregate(AggregateQuery{Metrics: []MetricID{blue, green}, Period: 10 * time.Second, Stat: "Maximum", Start: start, End: start.Add(30 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{109, 119, 129}
	if len(got.Points) != 3 {
		t.Fatalf("Aggregate = %v, want %v", got.Points, want)
	}
	for i := range want {
		if got.Points[i].V != want[i] {
			t.Errorf("point %d = %v, want %v", i, got.Points[i].V, want[i])
		}
	}
	p := mustQuery(t, st, MetricStatQuery{Metric: blue, Period: time.Second, Stat: "Sum", Start: start, End: start.Add(30 * time.Second)})
	if len(p) != 30 || p[29].V != 29 {
		t.Errorf("1 s Sum = %d points, last %v", len(p), p[len(p)-1])
	}
}

func TestMemoryCap(t *testing.T) {
	c := newClock()
	st := openTest(t, "", c, Options{MaxSeries: 2})
	for i, want := range []error{nil, nil, ErrSeriesLimit, ErrSeriesLimit} {
		id := MetricID{Namespace: "n", Name: "m", Dimensions: []Dimension{{"i", string(rune('a' + i))}}}
		_, err := st.Handle(id, 60)
		if !errors.Is(err, want) {
			t.Errorf("series %d: err = %v, want %v", i, err, want)
		}
	}
	// An existing series still accepts points.
	h, err := st.Handle(MetricID{Namespace: "n", Name: "m", Dimensions: []Dimension{{"i", "a"}}}, 60)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Add(c.Now(), 1); err != nil {
		t.Fatal(err)
	}
	s := st.Stats()
	if s.Series != 2 || s.RejectedSeries != 2 || s.ApproxBytes <= 0 || s.BucketsPerTier[1] != 1 {
		t.Errorf("Stats = %+v", s)
	}
	st2 := openTest(t, "", c, Options{MaxBytes: 3000})
	if _, err := st2.Handle(MetricID{Namespace: "n", Name: "a"}, 60); err != nil {
		t.Fatal(err)
	}
	h2, _ := st2.Handle(MetricID{Namespace: "n", Name: "a"}, 60)
	h2.Add(c.Now(), 1) // opens a period: ~2 KiB of sketch
	if _, err := st2.Handle(MetricID{Namespace: "n", Name: "b"}, 60); !errors.Is(err, ErrSeriesLimit) {
		t.Errorf("byte cap: err = %v, want ErrSeriesLimit", err)
	}
}

func TestConcurrentAddFlushQuery(t *testing.T) {
	c := newClock()
	st := openTest(t, t.TempDir(), c, Options{})
	h, _ := st.Handle(testID, 1)
	t0 := c.Now()
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				h.Add(t0.Add(time.Duration(i/50)*time.Second), float64(g*i))
			}
		}()
	}
	for range 20 {
		c.Advance(time.Second)
		st.Flush()
		st.Query(MetricStatQuery{Metric: testID, Period: time.Second, Stat: "p99", Start: t0, End: t0.Add(time.Minute)})
	}
	for range 4 {
		<-done
	}
	got := mustQuery(t, st, MetricStatQuery{Metric: testID, Period: time.Minute, Stat: "SampleCount", Start: t0, End: t0.Add(time.Minute)})
	var n float64
	for _, p := range got {
		n += p.V
	}
	if n != 2000 {
		t.Errorf("SampleCount = %v, want 2000", n)
	}
}

// Runs of equal values (a counter's 1 per request) are held back from the
// sketch until it is read; percentiles must not notice. The same values
// go to one series in runs and to another scattered, and both must answer
// alike while the period is open, after a flush and reopen, and once the
// period has closed.
func TestRunsOfEqualValuesKeepPercentiles(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	st := openTest(t, dir, c, Options{})
	runs := MetricID{Namespace: "gw", Name: "Invocations", Dimensions: []Dimension{{"order", "runs"}}}
	mixed := MetricID{Namespace: "gw", Name: "Invocations", Dimensions: []Dimension{{"order", "mixed"}}}
	hr, _ := st.Handle(runs, 1)
	hm, _ := st.Handle(mixed, 1)
	var vals []float64
	for _, r := range []struct {
		v float64
		n int
	}{{1, 50}, {9, 1}, {1, 30}, {0, 40}, {250, 5}, {1, 20}, {0.5, 1}} {
		for range r.n {
			vals = append(vals, r.v)
		}
	}
	ts := c.Now()
	for _, v := range vals {
		if err := hr.Add(ts, v); err != nil {
			t.Fatal(err)
		}
	}
	for i := range vals { // a fixed scatter: consecutive values differ
		hm.Add(ts, vals[(i*7919)%len(vals)])
	}
	stats := []string{"p10", "p50", "p75", "p90", "p99", "p99.9", "SampleCount", "Sum", "Minimum", "Maximum", "TM(10%:90%)"}
	ask := func(st *Store, id MetricID, stat string) float64 {
		t.Helper()
		p := mustQuery(t, st, MetricStatQuery{Metric: id, Period: time.Second, Stat: stat, Start: ts, End: ts.Add(time.Second)})
		if len(p) != 1 {
			t.Fatalf("%s of %v: %d points", stat, id.Dimensions, len(p))
		}
		return p[0].V
	}
	check := func(when string, st *Store) {
		t.Helper()
		for _, stat := range stats {
			a, b := ask(st, runs, stat), ask(st, mixed, stat)
			if a != b {
				t.Errorf("%s: %s = %v in runs, %v scattered", when, stat, a, b)
			}
		}
		if n := ask(st, runs, "SampleCount"); n != float64(len(vals)) {
			t.Errorf("%s: SampleCount = %v, want %d", when, n, len(vals))
		}
		sorted := slices.Sorted(slices.Values(vals))
		for _, q := range []float64{0.5, 0.9, 0.99} {
			n := float64(len(sorted)) // the rank's rounding differs between definitions
			lo, hi := sorted[int(q*(n-1))], sorted[int(math.Ceil(q*n))-1]
			if got := ask(st, runs, fmt.Sprintf("p%g", q*100)); got < lo*0.99 || got > hi*1.01 {
				t.Errorf("%s: p%g = %v, want %v to %v", when, q*100, got, lo, hi)
			}
		}
	}
	check("open", st)
	add := func(hr, hm *Handle, ts time.Time) { // a long run, begun after a query settled the last one
		for range 200 {
			hr.Add(ts, 0)
			hm.Add(ts, 0)
			vals = append(vals, 0)
		}
	}
	add(hr, hm, ts)
	if err := st.Flush(); err != nil { // the flush settles the run it writes
		t.Fatal(err)
	}
	st2 := openTest(t, dir, c, Options{}) // as after a crash: st is not closed
	check("reopened", st2)

	// A period pushed out of the open slots settles its run as it closes.
	hr2, _ := st2.Handle(runs, 1)
	hm2, _ := st2.Handle(mixed, 1)
	c.Advance(time.Second)
	ts = c.Now()
	prev := vals
	vals = nil
	for i, v := range prev {
		hr2.Add(ts, v)
		hm2.Add(ts, prev[(i*7919)%len(prev)])
		vals = append(vals, v)
	}
	add(hr2, hm2, ts)
	for i := range openSlots {
		c.Advance(time.Second)
		hr2.Add(ts.Add(time.Duration(i+1)*time.Second), 1)
		hm2.Add(ts.Add(time.Duration(i+1)*time.Second), 1)
	}
	check("closed", st2)
}
