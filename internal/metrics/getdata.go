package metrics

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"holdfast/internal/metrics/expr"
)

// The JSON shapes of GetMetricData and PutMetricData keep CloudWatch's field
// names, so a request written for CloudWatch can be sent as it is.

// MetricJSON names a metric as CloudWatch's Metric structure does.
type MetricJSON struct {
	Namespace  string
	MetricName string
	Dimensions []Dimension `json:",omitempty"`
}

// MetricStatJSON is GetMetricData's MetricStat.
type MetricStatJSON struct {
	Metric MetricJSON
	Period int // seconds
	Stat   string
	Unit   string `json:",omitempty"`
}

// MetricDataQuery is one query of a GetMetricData request.
type MetricDataQuery struct {
	Id         string
	MetricStat *MetricStatJSON `json:",omitempty"`
	Expression string          `json:",omitempty"`
	Label      string          `json:",omitempty"`
	ReturnData *bool           `json:",omitempty"`
	Period     int             `json:",omitempty"` // seconds, for expressions
}

// GetMetricDataInput is a GetMetricData request.
type GetMetricDataInput struct {
	MetricDataQueries []MetricDataQuery
	StartTime         time.Time
	EndTime           time.Time
	// ScanBy is TimestampDescending (CloudWatch's default) or TimestampAscending.
	ScanBy string `json:",omitempty"`
}

// MetricDataResult is one series of a GetMetricData answer.
type MetricDataResult struct {
	Id         string
	Label      string
	Timestamps []time.Time
	Values     []float64
	StatusCode string
	Messages   []string `json:",omitempty"`
}

// GetMetricDataOutput is a GetMetricData answer.
type GetMetricDataOutput struct {
	MetricDataResults []MetricDataResult
}

// MaxQueries is GetMetricData's limit on queries per request.
const MaxQueries = 500

var queryIDRE = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)

// GetMetricData answers a GetMetricData request from the store: metric
// queries are read with Query, expressions evaluated with Metric Math. Every
// problem in the request is reported with the query's index and Id.
func (st *Store) GetMetricData(in GetMetricDataInput) (GetMetricDataOutput, error) {
	var out GetMetricDataOutput
	if err := validateGetMetricData(in); err != nil {
		return out, err
	}
	queries := make([]expr.Query, len(in.MetricDataQueries))
	var rangePeriod time.Duration
	for i, q := range in.MetricDataQueries {
		eq := expr.Query{ID: q.Id, Label: q.Label, ReturnData: q.ReturnData, Expression: q.Expression,
			Period: time.Duration(q.Period) * time.Second}
		if ms := q.MetricStat; ms != nil {
			period := time.Duration(ms.Period) * time.Second
			id := MetricID{Namespace: ms.Metric.Namespace, Name: ms.Metric.MetricName, Dimensions: ms.Metric.Dimensions}
			s, err := st.Query(MetricStatQuery{Metric: id, Period: period, Stat: ms.Stat, Start: in.StartTime, End: in.EndTime})
			if err != nil {
				return out, fmt.Errorf("MetricDataQueries[%d] (Id %s): %w", i, q.Id, err)
			}
			label := q.Label
			if label == "" {
				label = ms.Metric.MetricName
			}
			pts := make([]expr.Point, len(s.Points))
			for j, p := range s.Points {
				pts[j] = expr.Point{T: p.T, V: p.V}
			}
			eq.Period = period
			eq.Metric = &expr.Series{ID: q.Id, Label: label, Period: period, Points: pts}
			if rangePeriod == 0 {
				rangePeriod = period
			}
		}
		queries[i] = eq
	}
	if rangePeriod == 0 {
		rangePeriod = time.Minute
		for _, q := range in.MetricDataQueries {
			if q.Period > 0 {
				rangePeriod = time.Duration(q.Period) * time.Second
				break
			}
		}
	}
	start := in.StartTime.Truncate(rangePeriod)
	results, err := expr.Evaluate(queries, expr.Range{Start: start, End: in.EndTime, Period: rangePeriod})
	if err != nil {
		return out, err
	}
	desc := in.ScanBy != "TimestampAscending"
	for _, r := range results {
		for _, s := range r.Series {
			label := s.Label
			if label == "" {
				label = r.Label
			}
			res := MetricDataResult{Id: r.ID, Label: label, StatusCode: "Complete", Messages: r.Messages,
				Timestamps: make([]time.Time, 0, len(s.Points)), Values: make([]float64, 0, len(s.Points))}
			for _, p := range s.Points {
				res.Timestamps = append(res.Timestamps, p.T.UTC())
				res.Values = append(res.Values, p.V)
			}
			if desc {
				slices.Reverse(res.Timestamps)
				slices.Reverse(res.Values)
			}
			out.MetricDataResults = append(out.MetricDataResults, res)
		}
	}
	return out, nil
}

func validateGetMetricData(in GetMetricDataInput) error {
	var errs []error
	n := len(in.MetricDataQueries)
	if n == 0 {
		errs = append(errs, errors.New("MetricDataQueries: empty; give at least one query"))
	}
	if n > MaxQueries {
		errs = append(errs, fmt.Errorf("MetricDataQueries: %d queries, at most %d", n, MaxQueries))
	}
	if in.StartTime.IsZero() || in.EndTime.IsZero() {
		errs = append(errs, errors.New("StartTime and EndTime are required (RFC 3339)"))
	} else if !in.StartTime.Before(in.EndTime) {
		errs = append(errs, fmt.Errorf("StartTime %s is not before EndTime %s", in.StartTime.Format(time.RFC3339), in.EndTime.Format(time.RFC3339)))
	}
	if in.ScanBy != "" && in.ScanBy != "TimestampDescending" && in.ScanBy != "TimestampAscending" {
		errs = append(errs, fmt.Errorf("ScanBy: want TimestampDescending or TimestampAscending, got %q", in.ScanBy))
	}
	seen := map[string]bool{}
	for i, q := range in.MetricDataQueries {
		at := fmt.Sprintf("MetricDataQueries[%d]", i)
		switch {
		case !queryIDRE.MatchString(q.Id):
			errs = append(errs, fmt.Errorf("%s.Id: %q must start with a lowercase letter and hold only letters, digits and _", at, q.Id))
		case seen[q.Id]:
			errs = append(errs, fmt.Errorf("%s.Id: %q is used twice", at, q.Id))
		}
		seen[q.Id] = true
		if (q.MetricStat == nil) == (q.Expression == "") {
			errs = append(errs, fmt.Errorf("%s (Id %s): set exactly one of MetricStat and Expression", at, q.Id))
			continue
		}
		if q.Period != 0 && !ValidPeriod(time.Duration(q.Period)*time.Second) {
			errs = append(errs, fmt.Errorf("%s.Period: %d is not 1, 5, 10, 20, 30 or a multiple of 60", at, q.Period))
		}
		if ms := q.MetricStat; ms != nil {
			if !ValidPeriod(time.Duration(ms.Period) * time.Second) {
				errs = append(errs, fmt.Errorf("%s.MetricStat.Period: %d is not 1, 5, 10, 20, 30 or a multiple of 60", at, ms.Period))
			}
			if _, err := ParseStat(ms.Stat); err != nil {
				errs = append(errs, fmt.Errorf("%s.MetricStat.Stat: %w", at, err))
			}
			id := MetricID{Namespace: ms.Metric.Namespace, Name: ms.Metric.MetricName, Dimensions: ms.Metric.Dimensions}
			if err := id.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s.MetricStat.Metric: %w", at, err))
			}
		}
	}
	return errors.Join(errs...)
}

// PutMetricDataInput is a PutMetricData request.
type PutMetricDataInput struct {
	Namespace  string
	MetricData []MetricDatumJSON
}

// MetricDatumJSON is PutMetricData's MetricDatum.
type MetricDatumJSON struct {
	MetricName        string
	Dimensions        []Dimension `json:",omitempty"`
	Timestamp         time.Time   `json:",omitempty"`
	Value             *float64    `json:",omitempty"`
	Values            []float64   `json:",omitempty"`
	Counts            []float64   `json:",omitempty"`
	StatisticValues   *StatSet    `json:",omitempty"`
	Unit              string      `json:",omitempty"`
	StorageResolution int         `json:",omitempty"`
}

// PutMetricData stores a PutMetricData request: all of it or, when any
// datum is invalid, none of it (the error names the datum's index).
func (st *Store) PutMetricData(in PutMetricDataInput) error {
	data := make([]Datum, len(in.MetricData))
	now := st.now()
	for i, d := range in.MetricData {
		ts := d.Timestamp
		if ts.IsZero() {
			ts = now
		}
		data[i] = Datum{MetricID: MetricID{Namespace: in.Namespace, Name: d.MetricName, Dimensions: d.Dimensions},
			Timestamp: ts, Value: d.Value, Values: d.Values, Counts: d.Counts, StatisticValues: d.StatisticValues,
			Unit: d.Unit, StorageResolution: d.StorageResolution}
	}
	return st.Put(data)
}
