package metrics

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		in     string
		kind   statKind
		q      float64
		lo, hi float64
		abs    bool
	}{
		{in: "Sum", kind: statSum},
		{in: "SampleCount", kind: statSampleCount},
		{in: "Average", kind: statAverage},
		{in: "p99", kind: statPercentile, q: 0.99},
		{in: "p99.9", kind: statPercentile, q: 0.999},
		{in: "p0", kind: statPercentile, q: 0},
		{in: "p100", kind: statPercentile, q: 1},
		{in: "tm90", kind: statTM, lo: 0, hi: 0.9},
		{in: "TM(10%:90%)", kind: statTM, lo: 0.1, hi: 0.9},
		{in: "TM(:95%)", kind: statTM, lo: 0, hi: 0.95},
		{in: "TM(5%:)", kind: statTM, lo: 0.05, hi: 1},
		{in: "TM(150:1000)", kind: statTM, lo: 150, hi: 1000, abs: true},
		{in: "IQM", kind: statTM, lo: 0.25, hi: 0.75},
		{in: "wm99", kind: statWM, lo: 0, hi: 0.99},
		{in: "PR(:300)", kind: statPR, lo: math.Inf(-1), hi: 300, abs: true},
		{in: "TC(10%:90%)", kind: statTC, lo: 0.1, hi: 0.9},
	} {
		got, err := ParseStat(tc.in)
		if err != nil {
			t.Errorf("ParseStat(%q): %v", tc.in, err)
			continue
		}
		want := Stat{kind: tc.kind, q: tc.q, lo: tc.lo, hi: tc.hi, absolute: tc.abs, text: tc.in}
		if math.Abs(got.q-want.q) > 1e-12 || math.Abs(got.lo-want.lo) > 1e-12 && !math.IsInf(want.lo, 0) || got.hi != want.hi && math.Abs(got.hi-want.hi) > 1e-12 || got.kind != want.kind || got.absolute != want.absolute {
			t.Errorf("ParseStat(%q) = %+v, want %+v", tc.in, got, want)
		}
	}
}

func TestParseStatErrors(t *testing.T) {
	for _, in := range []string{"", "sum", "Avg", "p", "p101", "p-1", "p1e2", "pNaN", "p.5", "tm", "TM(90%:10%)", "TM(10%:500)", "TM(:)", "TM(10%:90%", "XX(1:2)", "PR(10%:20%)", "WM(1:2)", "p99..9"} {
		_, err := ParseStat(in)
		if !errors.Is(err, ErrBadStat) {
			t.Errorf("ParseStat(%q) error = %v, want ErrBadStat", in, err)
			continue
		}
		if !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("ParseStat(%q) error %q does not name the stat", in, err)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	for _, s := range []string{"Sum", "p99.9", "tm90", "TM(10%:90%)", "PR(:300)", "TM(1:2)", "IQM", "wm5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStat(s)
		if err != nil {
			return
		}
		if st.String() != s {
			t.Fatalf("String() = %q, want %q", st.String(), s)
		}
		if st.kind == statPercentile && (st.q < 0 || st.q > 1) {
			t.Fatalf("quantile %v out of range", st.q)
		}
		if st.kind >= statTM && !(st.lo < st.hi) {
			t.Fatalf("bounds %v >= %v", st.lo, st.hi)
		}
		sk := newSketch()
		for _, v := range []float64{1, 2, 3, 100} {
			sk.Add(v)
		}
		st.eval(StatSet{4, 106, 1, 100}, sk) // must not panic
	})
}

// exact statistics on sorted values, for comparison.
func exactTM(sorted []float64, lo, hi float64) float64 {
	n := float64(len(sorted))
	var sum, cnt float64
	for i, v := range sorted {
		overlap := math.Min(float64(i+1), hi*n) - math.Max(float64(i), lo*n)
		if overlap > 0 {
			sum += v * overlap
			cnt += overlap
		}
	}
	return sum / cnt
}

func TestSketchStatsAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, dist := range []struct {
		name string
		gen  func() float64
	}{
		{"lognormal", func() float64 { return math.Exp(r.NormFloat64()*1.5 + 3) }},
		{"uniform", func() float64 { return 1 + r.Float64()*999 }},
		{"exponential", func() float64 { return r.ExpFloat64() * 50 }},
	} {
		vals := make([]float64, 20000)
		sk := newSketch()
		var set StatSet
		for i := range vals {
			vals[i] = dist.gen()
			sk.Add(vals[i])
			set.add(vals[i], 1)
		}
		sorted := slices.Clone(vals)
		slices.Sort(sorted)
		for _, q := range []float64{0.01, 0.1, 0.5, 0.9, 0.99, 0.999} {
			st, _ := ParseStat("p" + trimFloat(q*100))
			got, ok := st.eval(set, sk)
			rank := q * float64(len(sorted)-1)
			lo, hi := sorted[int(math.Floor(rank))], sorted[int(math.Ceil(rank))]
			if !ok || got < lo*(1-RelativeAccuracy) || got > hi*(1+RelativeAccuracy) {
				t.Errorf("%s %s = %v, want within 1%% of [%v, %v]", dist.name, st, got, lo, hi)
			}
		}
		for _, tc := range []struct {
			stat   string
			lo, hi float64
		}{{"tm90", 0, 0.9}, {"TM(10%:90%)", 0.1, 0.9}, {"IQM", 0.25, 0.75}, {"TM(1%:)", 0.01, 1}} {
			st, _ := ParseStat(tc.stat)
			got, _ := st.eval(set, sk)
			want := exactTM(sorted, tc.lo, tc.hi)
			if math.Abs(got-want)/want > RelativeAccuracy {
				t.Errorf("%s %s = %v, want %v ±1%%", dist.name, tc.stat, got, want)
			}
		}
	}
}

func trimFloat(f float64) string {
	s := strings.TrimRight(strings.TrimRight(strconvFormat(f), "0"), ".")
	return s
}

func strconvFormat(f float64) string { return strconv.FormatFloat(f, 'f', 4, 64) }
