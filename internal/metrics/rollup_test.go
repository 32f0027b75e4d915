package metrics

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestRollupMatchesDirectAggregation writes 1 s data, lets it age through
// every tier and checks each tier answers as direct aggregation would.
func TestRollupMatchesDirectAggregation(t *testing.T) {
	c := newClock()
	st := openTest(t, "", c, Options{})
	r := rand.New(rand.NewPCG(3, 4))
	start := c.Now().Truncate(time.Hour)
	c.Advance(-c.Now().Sub(start)) // start at an hour boundary
	h, err := st.Handle(testID, 1)
	if err != nil {
		t.Fatal(err)
	}
	direct := map[int64]*StatSet{} // by 5 min window
	for i := range 900 {           // 15 minutes
		ts := start.Add(time.Duration(i) * time.Second)
		c.Advance(time.Second)
		for range 1 + r.IntN(4) {
			v := float64(r.IntN(1000))
			if err := h.Add(ts, v); err != nil {
				t.Fatal(err)
			}
			w := floorDiv(ts.Unix(), 300)
			if direct[w] == nil {
				direct[w] = &StatSet{}
			}
			direct[w].add(v, 1)
		}
	}
	check := func(stage string, period time.Duration, wantPoints int) {
		t.Helper()
		q := MetricStatQuery{Metric: testID, Period: period, Start: start, End: start.Add(time.Hour)}
		stats := map[string][]Point{}
		for _, s := range []string{"SampleCount", "Sum", "Minimum", "Maximum"} {
			q.Stat = s
			stats[s] = mustQuery(t, st, q)
			if len(stats[s]) != wantPoints {
				t.Fatalf("%s: %s at %v: %d points, want %d", stage, s, period, len(stats[s]), wantPoints)
			}
		}
		if period != 5*time.Minute {
			return
		}
		for i, p := range stats["Sum"] {
			want := direct[p.T.Unix()]
			got := StatSet{stats["SampleCount"][i].V, p.V, stats["Minimum"][i].V, stats["Maximum"][i].V}
			if want == nil || got != *want {
				t.Errorf("%s: window %v = %+v, want %+v", stage, p.T, got, want)
			}
		}
	}
	st.Flush()
	check("1 s tier", time.Second, 900)
	check("1 s tier", 5*time.Minute, 3)

	c.Advance(3*time.Hour + 2*time.Minute)
	st.Flush()
	check("60 s tier", time.Second, 0)
	check("60 s tier", time.Minute, 15)
	check("60 s tier", 5*time.Minute, 3)

	c.Advance(15 * 24 * time.Hour)
	st.Flush()
	check("5 min tier", time.Minute, 0)
	check("5 min tier", 5*time.Minute, 3)

	c.Advance(63 * 24 * time.Hour)
	st.Flush()
	check("1 h tier", 5*time.Minute, 0)
	check("1 h tier", time.Hour, 1)
	if got := mustQuery(t, st, MetricStatQuery{Metric: testID, Period: time.Hour, Stat: "p50", Start: start, End: start.Add(time.Hour)}); len(got) != 1 {
		t.Errorf("p50 after rollups = %v, want a point (sketches merge)", got)
	}

	c.Advance(455 * 24 * time.Hour)
	st.Flush()
	check("expired", time.Hour, 0)
	if s := st.Stats(); s.BucketsPerTier[3] != 0 {
		t.Errorf("Stats after expiry = %+v", s)
	}
}

// TestRetentionBoundary steps the clock across the 3 h boundary of the
// 1 s tier: a period is kept at 1 s while its minute is not entirely older
// than the retention.
func TestRetentionBoundary(t *testing.T) {
	c := newClock()
	st := openTest(t, "", c, Options{})
	t0 := c.Now().Truncate(time.Minute)
	h, _ := st.Handle(testID, 1)
	h.Add(t0, 1)
	h.Add(t0.Add(59*time.Second), 2)
	q := MetricStatQuery{Metric: testID, Period: time.Second, Stat: "Sum", Start: t0, End: t0.Add(time.Minute)}
	for _, tc := range []struct {
		now  time.Duration // since t0
		want int           // 1 s points
	}{
		{time.Hour, 2},
		{3*time.Hour + 59*time.Second, 2},
		{3*time.Hour + 60*time.Second, 0},
	} {
		c.Advance(t0.Add(tc.now).Sub(c.Now()))
		st.Flush()
		if got := mustQuery(t, st, q); len(got) != tc.want {
			t.Errorf("at t0+%v: %d 1 s points, want %d", tc.now, len(got), tc.want)
		}
		q60 := q
		q60.Period = time.Minute
		if got := mustQuery(t, st, q60); len(got) != 1 || got[0].V != 3 {
			t.Errorf("at t0+%v: 60 s Sum = %v, want [3]", tc.now, got)
		}
	}
}

// TestLatePoints: points for a period that was already closed are merged.
func TestLatePoints(t *testing.T) {
	c := newClock()
	st := openTest(t, "", c, Options{})
	h, _ := st.Handle(testID, 1)
	t0 := c.Now()
	for i := range 10 {
		h.Add(t0.Add(time.Duration(i)*time.Second), 1)
	}
	c.Advance(time.Minute)
	st.Flush()
	h.Add(t0, 5) // late, into a closed period
	for i := range 6 {
		h.Add(t0.Add(time.Duration(20+i)*time.Second), 1) // fills the slots, evicting
	}
	h.Add(t0.Add(time.Second), 7) // older than every open slot
	got := mustQuery(t, st, MetricStatQuery{Metric: testID, Period: time.Second, Stat: "Sum", Start: t0, End: t0.Add(2 * time.Second)})
	if len(got) != 2 || got[0].V != 6 || got[1].V != 8 {
		t.Errorf("late points: %v, want [6 8]", got)
	}
}
