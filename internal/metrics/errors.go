package metrics

import (
	"errors"
	"fmt"
)

// Sentinel errors; callers branch on them with errors.Is.
var (
	// ErrInvalidMetric: a namespace, name or dimension breaks a limit.
	ErrInvalidMetric = errors.New("invalid metric")
	// ErrInvalidValue: a value is NaN or infinite.
	ErrInvalidValue = errors.New("value is NaN or infinite; send finite numbers only")
	// ErrTimestamp: a timestamp is older than the retention of its
	// resolution or more than 2 hours in the future.
	ErrTimestamp = errors.New("timestamp out of range")
	// ErrInvalidDatum: a datum is malformed (no value, bad counts, ...).
	ErrInvalidDatum = errors.New("invalid datum")
	// ErrSeriesLimit: creating the series would exceed Options.MaxSeries
	// or Options.MaxBytes.
	ErrSeriesLimit = errors.New("metrics store is full: series limit reached")
	// ErrBadStat: a statistic string cannot be parsed.
	ErrBadStat = errors.New("bad statistic")
	// ErrBadPeriod: a query period is not 1, 5, 10, 20, 30 or a multiple of 60 seconds.
	ErrBadPeriod = errors.New("bad period")
	// ErrCorrupt: the persisted segment is corrupt or truncated.
	ErrCorrupt = errors.New("metrics segment corrupt")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("metrics store closed")

	errStatSetCount  = errors.New("statistic set SampleCount must be > 0")
	errStatSetMinMax = errors.New("statistic set Minimum is greater than Maximum")
)

// DatumError names the datum of a Put call that was rejected.
type DatumError struct {
	Index int    // position of the datum in the call
	Field string // field at fault, e.g. "Value", "Values[3]", "Timestamp"
	Err   error
}

func (e *DatumError) Error() string {
	return fmt.Sprintf("MetricData[%d].%s: %v", e.Index, e.Field, e.Err)
}

func (e *DatumError) Unwrap() error { return e.Err }
