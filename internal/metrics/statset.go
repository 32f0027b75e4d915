package metrics

import "math"

// StatSet is a statistic set: the count, sum, minimum and maximum of the
// values of one period (PutMetricData's StatisticValues).
type StatSet struct {
	SampleCount float64
	Sum         float64
	Minimum     float64
	Maximum     float64
}

// empty reports whether the set holds no sample.
func (s StatSet) empty() bool { return s.SampleCount == 0 }

// add records value v seen count times.
func (s *StatSet) add(v, count float64) {
	if s.SampleCount == 0 {
		s.Minimum, s.Maximum = v, v
	} else {
		s.Minimum = math.Min(s.Minimum, v)
		s.Maximum = math.Max(s.Maximum, v)
	}
	s.SampleCount += count
	s.Sum += v * count
}

// merge folds o into s.
func (s *StatSet) merge(o StatSet) {
	if o.SampleCount == 0 {
		return
	}
	if s.SampleCount == 0 {
		*s = o
		return
	}
	s.SampleCount += o.SampleCount
	s.Sum += o.Sum
	s.Minimum = math.Min(s.Minimum, o.Minimum)
	s.Maximum = math.Max(s.Maximum, o.Maximum)
}

// validate checks a pre-aggregated set given on ingest.
func (s StatSet) validate() error {
	for _, f := range [...]float64{s.SampleCount, s.Sum, s.Minimum, s.Maximum} {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return ErrInvalidValue
		}
	}
	if s.SampleCount <= 0 {
		return errStatSetCount
	}
	if s.Minimum > s.Maximum {
		return errStatSetMinMax
	}
	return nil
}
