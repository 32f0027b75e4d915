package metrics

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/DataDog/sketches-go/ddsketch"
)

type statKind uint8

const (
	statSampleCount statKind = iota
	statSum
	statAverage
	statMinimum
	statMaximum
	statPercentile // p: quantile in [0,1]
	statTM         // trimmed mean
	statWM         // winsorized mean
	statTC         // trimmed count
	statTS         // trimmed sum
	statPR         // percentile rank (absolute bounds only)
)

// Stat is a parsed statistic string.
type Stat struct {
	kind     statKind
	q        float64 // percentile as a fraction
	lo, hi   float64 // bounds: fractions of rank when !absolute, values otherwise
	absolute bool
	text     string
}

func (s Stat) String() string { return s.text }

// needsSketch reports whether the statistic needs the period's sketch.
func (s Stat) needsSketch() bool { return s.kind >= statPercentile }

var rangeStats = map[string]statKind{"TM": statTM, "WM": statWM, "TC": statTC, "TS": statTS, "PR": statPR}

// ParseStat parses a CloudWatch statistic: SampleCount, Sum, Average,
// Minimum, Maximum; pNN (p0–p100, decimals allowed: p99.9); tmNN, wmNN,
// tcNN, tsNN (shorthand for XX(:NN%)); IQM (= TM(25%:75%)); and
// TM/WM/TC/TS(a%:b%) with either bound optional, TM/TC/TS(a:b) and
// PR(a:b) with absolute bounds (lower exclusive, upper inclusive).
func ParseStat(s string) (Stat, error) {
	st := Stat{text: s}
	switch s {
	case "SampleCount":
		st.kind = statSampleCount
	case "Sum":
		st.kind = statSum
	case "Average":
		st.kind = statAverage
	case "Minimum":
		st.kind = statMinimum
	case "Maximum":
		st.kind = statMaximum
	case "IQM":
		st.kind, st.lo, st.hi = statTM, 0.25, 0.75
	default:
		return parseComplexStat(st)
	}
	return st, nil
}

func badStat(s, why string) error {
	return fmt.Errorf("%w %q: %s; use SampleCount, Sum, Average, Minimum, Maximum, pNN, tmNN, IQM or TM(a%%:b%%)", ErrBadStat, s, why)
}

func parseComplexStat(st Stat) (Stat, error) {
	s := st.text
	if open := strings.IndexByte(s, '('); open > 0 {
		kind, ok := rangeStats[strings.ToUpper(s[:open])]
		if !ok {
			return st, badStat(s, "unknown function "+s[:open])
		}
		if !strings.HasSuffix(s, ")") {
			return st, badStat(s, "missing closing parenthesis")
		}
		st.kind = kind
		return parseBounds(st, s[open+1:len(s)-1])
	}
	lower := strings.ToLower(s)
	for _, p := range [...]struct {
		prefix string
		kind   statKind
	}{{"tm", statTM}, {"wm", statWM}, {"tc", statTC}, {"ts", statTS}, {"p", statPercentile}} {
		if !strings.HasPrefix(lower, p.prefix) {
			continue
		}
		v, ok := parsePercent(s[len(p.prefix):])
		if !ok {
			return st, badStat(s, "expected a number from 0 to 100 after "+s[:len(p.prefix)])
		}
		st.kind = p.kind
		if p.kind == statPercentile {
			st.q = v
		} else {
			st.lo, st.hi = 0, v
		}
		return st, nil
	}
	return st, badStat(s, "unknown statistic")
}

// parsePercent parses digits[.digits] in [0,100] and returns it as a fraction.
func parsePercent(s string) (float64, bool) {
	if s == "" || strings.Count(s, ".") > 1 || s[0] == '.' || s[len(s)-1] == '.' || len(s) > 20 {
		return 0, false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && r != '.' {
			return 0, false
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v > 100 {
		return 0, false
	}
	return v / 100, true
}

func parseBounds(st Stat, inner string) (Stat, error) {
	s := st.text
	a, b, ok := strings.Cut(inner, ":")
	if !ok {
		return st, badStat(s, "bounds must be a:b")
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	pctA, pctB := strings.HasSuffix(a, "%"), strings.HasSuffix(b, "%")
	switch {
	case a == "" && b == "":
		return st, badStat(s, "give at least one bound")
	case (a != "" && b != "" && pctA != pctB):
		return st, badStat(s, "bounds must be both percentages or both values")
	}
	st.absolute = !(pctA || pctB)
	if st.kind == statPR && !st.absolute {
		return st, badStat(s, "PR takes value bounds, not percentages")
	}
	if st.kind == statWM && st.absolute {
		return st, badStat(s, "WM takes percentage bounds")
	}
	if st.absolute {
		st.lo, st.hi = math.Inf(-1), math.Inf(1)
		var err error
		if a != "" {
			if st.lo, err = strconv.ParseFloat(a, 64); err != nil || math.IsNaN(st.lo) || math.IsInf(st.lo, 0) {
				return st, badStat(s, "lower bound is not a number")
			}
		}
		if b != "" {
			if st.hi, err = strconv.ParseFloat(b, 64); err != nil || math.IsNaN(st.hi) || math.IsInf(st.hi, 0) {
				return st, badStat(s, "upper bound is not a number")
			}
		}
	} else {
		st.lo, st.hi = 0, 1
		if a != "" {
			if st.lo, ok = parsePercent(strings.TrimSuffix(a, "%")); !ok {
				return st, badStat(s, "lower bound must be a percentage from 0 to 100")
			}
		}
		if b != "" {
			if st.hi, ok = parsePercent(strings.TrimSuffix(b, "%")); !ok {
				return st, badStat(s, "upper bound must be a percentage from 0 to 100")
			}
		}
	}
	if st.lo >= st.hi {
		return st, badStat(s, "lower bound must be below upper bound")
	}
	return st, nil
}

// eval computes the statistic of one aggregated period. ok is false when
// the statistic has no value: no sample, no sketch for a percentile, or no
// sample within the bounds.
func (s Stat) eval(set StatSet, sk *ddsketch.DDSketch) (float64, bool) {
	if set.empty() {
		return 0, false
	}
	switch s.kind {
	case statSampleCount:
		return set.SampleCount, true
	case statSum:
		return set.Sum, true
	case statAverage:
		return set.Sum / set.SampleCount, true
	case statMinimum:
		return set.Minimum, true
	case statMaximum:
		return set.Maximum, true
	}
	if sk == nil || sk.IsEmpty() {
		return 0, false
	}
	clamp := func(v float64) float64 { return math.Min(math.Max(v, set.Minimum), set.Maximum) }
	if s.kind == statPercentile {
		switch s.q {
		case 0:
			return set.Minimum, true
		case 1:
			return set.Maximum, true
		}
		v, err := sk.GetValueAtQuantile(s.q)
		if err != nil {
			return 0, false
		}
		return clamp(v), true
	}
	bins := sortedBins(sk)
	total := 0.0
	for _, b := range bins {
		total += b.c
	}
	var count, sum float64
	if s.absolute {
		for _, b := range bins {
			v := clamp(b.v)
			if v > s.lo && v <= s.hi {
				count += b.c
				sum += v * b.c
			}
		}
	} else {
		loRank, hiRank := s.lo*total, s.hi*total
		var loV, hiV float64
		if s.kind == statWM {
			loV, hiV = clamp(quantileOf(bins, loRank)), clamp(quantileOf(bins, hiRank))
		}
		rank := 0.0
		for _, b := range bins {
			v := clamp(b.v)
			if s.kind == statWM {
				count += b.c
				sum += math.Min(math.Max(v, loV), hiV) * b.c
				continue
			}
			overlap := math.Min(rank+b.c, hiRank) - math.Max(rank, loRank)
			rank += b.c
			if overlap > 0 {
				count += overlap
				sum += v * overlap
			}
		}
	}
	switch s.kind {
	case statTC:
		return count, true
	case statPR:
		return 100 * count / total, true
	}
	if count == 0 {
		return 0, false
	}
	if s.kind == statTS {
		return sum, true
	}
	return sum / count, true
}

// quantileOf returns the value of the bin holding the given rank.
func quantileOf(bins []valueBin, rank float64) float64 {
	acc := 0.0
	for _, b := range bins {
		acc += b.c
		if acc > rank {
			return b.v
		}
	}
	return bins[len(bins)-1].v
}
