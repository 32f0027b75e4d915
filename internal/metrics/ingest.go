package metrics

import (
	"fmt"
	"math"
	"time"
)

// MaxValuesPerDatum is the limit on Values in one datum, as PutMetricData.
const MaxValuesPerDatum = 150

// Datum is one entry of a Put call, shaped like PutMetricData's MetricDatum.
// Exactly one of Value, Values (with optional Counts, each ≥ 0) or
// StatisticValues is set. A zero Timestamp means now. StorageResolution is
// 1 (high resolution) or 60 (standard, also when 0). Unit is kept with the
// series (the first one given) and not used to tell series apart.
type Datum struct {
	MetricID
	Timestamp         time.Time
	Value             *float64
	Values            []float64
	Counts            []float64
	StatisticValues   *StatSet
	Unit              string
	StorageResolution int
}

// Put stores data like PutMetricData. The call is atomic for validation:
// if any datum is invalid (bad metric, NaN or infinite value, timestamp
// out of range, malformed counts or statistic set) nothing is stored and
// the error is a *DatumError naming its index. A cap refusing a new series
// is also reported before any point is stored (series created earlier in
// the same call may remain, empty).
func (st *Store) Put(data []Datum) error {
	if st.closed.Load() {
		return ErrClosed
	}
	type prepared struct {
		s     *series
		tier  int
		start int64
	}
	prep := make([]prepared, len(data))
	now := st.now()
	for i := range data {
		d := &data[i]
		ti, err := st.validateDatum(i, d, now)
		if err != nil {
			return err
		}
		ts := d.Timestamp
		if ts.IsZero() {
			ts = now
		}
		prep[i] = prepared{tier: ti, start: floorDiv(ts.Unix(), st.tiers[ti].period)}
	}
	for i := range data {
		s, err := st.lookup(data[i].MetricID, true)
		if err != nil {
			for _, p := range prep[:i] {
				p.s.handles.Add(-1)
			}
			return &DatumError{Index: i, Field: "MetricID", Err: err}
		}
		s.handles.Add(1) // keep the series while we write to it
		prep[i].s = s
	}
	for i := range data {
		d, p := &data[i], prep[i]
		s := p.s
		s.mu.Lock()
		if s.unit == "" {
			s.unit = d.Unit
		}
		switch {
		case d.Value != nil:
			s.addLocked(p.tier, p.start, *d.Value, 1, nil)
		case d.StatisticValues != nil:
			set := *d.StatisticValues
			s.addLocked(p.tier, p.start, 0, 0, &set)
		default:
			for j, v := range d.Values {
				c := 1.0
				if len(d.Counts) > 0 {
					c = d.Counts[j]
				}
				if c > 0 {
					s.addLocked(p.tier, p.start, v, c, nil)
				}
			}
		}
		s.mu.Unlock()
		s.handles.Add(-1)
	}
	return nil
}

func (st *Store) validateDatum(i int, d *Datum, now time.Time) (int, error) {
	fail := func(field string, err error) (int, error) { return 0, &DatumError{Index: i, Field: field, Err: err} }
	if err := d.MetricID.Validate(); err != nil {
		return fail("MetricID", err)
	}
	ti, err := st.resolutionTier(d.StorageResolution)
	if err != nil {
		return fail("StorageResolution", err)
	}
	set := 0
	if d.Value != nil {
		set++
	}
	if d.Values != nil {
		set++
	}
	if d.StatisticValues != nil {
		set++
	}
	if set != 1 {
		return fail("Value", fmt.Errorf("%w: set exactly one of Value, Values or StatisticValues", ErrInvalidDatum))
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case d.Value != nil:
		if !finite(*d.Value) {
			return fail("Value", ErrInvalidValue)
		}
	case d.StatisticValues != nil:
		if err := d.StatisticValues.validate(); err != nil {
			return fail("StatisticValues", err)
		}
	default:
		if len(d.Values) == 0 || len(d.Values) > MaxValuesPerDatum {
			return fail("Values", fmt.Errorf("%w: %d values; give 1 to %d", ErrInvalidDatum, len(d.Values), MaxValuesPerDatum))
		}
		if len(d.Counts) > 0 && len(d.Counts) != len(d.Values) {
			return fail("Counts", fmt.Errorf("%w: %d counts for %d values", ErrInvalidDatum, len(d.Counts), len(d.Values)))
		}
		for j, v := range d.Values {
			if !finite(v) {
				return fail(fmt.Sprintf("Values[%d]", j), ErrInvalidValue)
			}
		}
		for j, c := range d.Counts {
			if !finite(c) || c < 0 {
				return fail(fmt.Sprintf("Counts[%d]", j), fmt.Errorf("%w: count must be a finite number ≥ 0", ErrInvalidDatum))
			}
		}
	}
	if !d.Timestamp.IsZero() {
		if err := st.checkTime(ti, d.Timestamp.Unix()); err != nil {
			return fail("Timestamp", err)
		}
	}
	return 0 + ti, nil
}
