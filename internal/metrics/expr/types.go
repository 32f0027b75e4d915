package expr

import "time"

// Point is one data point of a time series.
type Point struct {
	T time.Time
	V float64
}

// Series is a time series: points in increasing timestamp order, one per
// period at most. A missing point is absent from Points.
type Series struct {
	ID     string        // the query id the series comes from (metric or expression)
	Label  string        // display label
	Period time.Duration // the period of the series
	Points []Point
}

// Query is one entry of a request, like GetMetricData's MetricDataQuery.
// Exactly one of Metric and Expression is set.
type Query struct {
	// ID names the query; it must start with a lowercase letter and contain
	// only letters, digits and underscores.
	ID string
	// Expression is a metric math expression over other ids.
	Expression string
	// Label is the display label; it defaults to the metric's label, else ID.
	Label string
	// ReturnData selects the query for the results; nil means true.
	ReturnData *bool
	// Period of the query. For a metric query it defaults to Metric.Period
	// (and must agree with it when both are set); for an expression it
	// defaults to the common period of the ids it uses, else Range.Period.
	Period time.Duration
	// Metric holds the already fetched data of a metric query.
	Metric *Series
}

// Range is the query window [Start, End), stepped by Period. It gives the
// timestamps of the non-sparse series made by TIME_SERIES, FILL and the time
// functions, and the period of expressions that use no id.
type Range struct {
	Start, End time.Time
	Period     time.Duration
}

// Result is the value of one query with ReturnData true.
type Result struct {
	ID    string
	Label string
	// Series holds one series for a TS result and one per member for a TS[].
	Series []Series
	// Messages are informational notes about the evaluation (like
	// GetMetricData's Messages); nil when there is nothing to say.
	Messages []string
}

// maxPoints bounds the number of timestamps of a non-sparse series, as
// GetMetricData bounds a response (100,800 data points).
const maxPoints = 100800
