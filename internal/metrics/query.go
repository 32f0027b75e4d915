package metrics

import (
	"fmt"
	"slices"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
)

// MetricStatQuery asks for one statistic of a metric, as GetMetricData's
// MetricStat. The metric must match exactly (all dimensions). Periods
// whose start lies in [Start truncated to Period, End) are returned.
type MetricStatQuery struct {
	Metric MetricID
	Period time.Duration
	Stat   string
	Start  time.Time
	End    time.Time
}

// AggregateQuery is a MetricStatQuery over several metrics, merged period
// by period (statistic sets and sketches), as if they were one metric.
type AggregateQuery struct {
	Metrics []MetricID
	Period  time.Duration
	Stat    string
	Start   time.Time
	End     time.Time
}

// Point is one period of a series: T is the start of the period.
type Point struct {
	T time.Time
	V float64
}

// Series is the answer to a query: points only for periods with data (and,
// for sketch statistics, with a sketch), by ascending T.
type Series struct {
	ID     MetricID
	Period time.Duration
	Stat   string
	Points []Point
}

// ValidPeriod reports whether p is a valid query period: 1, 5, 10, 20 or
// 30 seconds, or a multiple of 60 seconds.
func ValidPeriod(p time.Duration) bool {
	if p <= 0 || p%time.Second != 0 {
		return false
	}
	switch s := int64(p / time.Second); s {
	case 1, 5, 10, 20, 30:
		return true
	default:
		return s%60 == 0
	}
}

// Query answers one MetricStatQuery. An unknown metric yields an empty
// series, not an error.
func (st *Store) Query(q MetricStatQuery) (Series, error) {
	out, err := st.Aggregate(AggregateQuery{Metrics: []MetricID{q.Metric}, Period: q.Period, Stat: q.Stat, Start: q.Start, End: q.End})
	out.ID = q.Metric.normalized()
	return out, err
}

// Aggregate merges several metrics period by period and computes the
// statistic of each merged period. Data held in a tier whose period does
// not divide the query period (data older than the finer tiers keep) is
// not used: ask with a coarser period for it.
func (st *Store) Aggregate(q AggregateQuery) (Series, error) {
	out := Series{Period: q.Period, Stat: q.Stat}
	stat, err := ParseStat(q.Stat)
	if err != nil {
		return out, err
	}
	if !ValidPeriod(q.Period) {
		return out, fmt.Errorf("%w %v: use 1, 5, 10, 20 or 30 seconds or a multiple of 60 seconds", ErrBadPeriod, q.Period)
	}
	if !q.End.After(q.Start) {
		return out, fmt.Errorf("query: End (%s) must be after Start (%s)", q.End.Format(time.RFC3339), q.Start.Format(time.RFC3339))
	}
	if st.closed.Load() {
		return out, ErrClosed
	}
	p := int64(q.Period / time.Second)
	from, to := floorDiv(q.Start.Unix(), p), q.End.Unix()
	if q.End.Nanosecond() != 0 {
		to++
	}
	aggs := map[int64]*periodAgg{}
	get := func(t int64) *periodAgg {
		a := aggs[t]
		if a == nil {
			a = &periodAgg{}
			if stat.needsSketch() {
				a.sk = newSketch()
			}
			aggs[t] = a
		}
		return a
	}
	for _, id := range q.Metrics {
		s, _ := st.lookup(id, false)
		if s == nil {
			continue
		}
		s.mu.Lock()
		for ti, t := range st.tiers {
			if p%t.period != 0 {
				continue
			}
			bs := s.tiers[ti].buckets
			i, _ := slices.BinarySearchFunc(bs, from, func(b bucket, t int64) int { return cmpInt(b.start, t) })
			for ; i < len(bs) && bs[i].start < to; i++ {
				get(floorDiv(bs[i].start, p)).addBucket(&bs[i])
			}
		}
		for i := range s.open {
			ob := &s.open[i]
			if ob.used && p%st.tiers[ob.tier].period == 0 && ob.start >= from && ob.start < to {
				get(floorDiv(ob.start, p)).addOpen(ob)
			}
		}
		s.mu.Unlock()
	}
	keys := make([]int64, 0, len(aggs))
	for t := range aggs {
		keys = append(keys, t)
	}
	slices.Sort(keys)
	for _, t := range keys {
		a := aggs[t]
		var sk *ddsketch.DDSketch
		if !a.noSketch {
			sk = a.sk
		}
		if v, ok := stat.eval(a.set, sk); ok {
			out.Points = append(out.Points, Point{T: time.Unix(t, 0).UTC(), V: v})
		}
	}
	return out, nil
}

type periodAgg struct {
	set      StatSet
	sk       *ddsketch.DDSketch // nil when the statistic needs no sketch
	noSketch bool
}

func (a *periodAgg) addBucket(b *bucket) {
	a.set.merge(b.set)
	a.noSketch = a.noSketch || b.noSketch
	if a.sk != nil && !a.noSketch && decodeBins(b.bins, a.sk) != nil {
		a.noSketch = true
	}
}

func (a *periodAgg) addOpen(ob *openBucket) {
	ob.settle()
	a.set.merge(ob.set)
	a.noSketch = a.noSketch || ob.noSketch
	if a.sk != nil && !a.noSketch && a.sk.MergeWith(ob.sk) != nil {
		a.noSketch = true
	}
}
