package alarm

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ComparisonOperator compares a datapoint (left) with the threshold (right).
// The names are CloudWatch's.
type ComparisonOperator string

// Supported comparison operators.
const (
	GreaterThanThreshold          ComparisonOperator = "GreaterThanThreshold"
	GreaterThanOrEqualToThreshold ComparisonOperator = "GreaterThanOrEqualToThreshold"
	LessThanThreshold             ComparisonOperator = "LessThanThreshold"
	LessThanOrEqualToThreshold    ComparisonOperator = "LessThanOrEqualToThreshold"
)

// Breaches reports whether value breaches threshold under the operator.
func (op ComparisonOperator) Breaches(value, threshold float64) bool {
	switch op {
	case GreaterThanThreshold:
		return value > threshold
	case GreaterThanOrEqualToThreshold:
		return value >= threshold
	case LessThanThreshold:
		return value < threshold
	case LessThanOrEqualToThreshold:
		return value <= threshold
	}
	return false
}

// phrase is the operator as CloudWatch writes it in a state reason.
func (op ComparisonOperator) phrase() string {
	switch op {
	case GreaterThanThreshold:
		return "greater than"
	case GreaterThanOrEqualToThreshold:
		return "greater than or equal to"
	case LessThanThreshold:
		return "less than"
	case LessThanOrEqualToThreshold:
		return "less than or equal to"
	}
	return string(op)
}

// TreatMissingData says how missing datapoints are filled when fewer than
// EvaluationPeriods real datapoints are in the evaluation range.
type TreatMissingData string

// TreatMissingData values (CloudWatch names). The zero value means Missing.
const (
	Missing      TreatMissingData = "missing"
	NotBreaching TreatMissingData = "notBreaching"
	Breaching    TreatMissingData = "breaching"
	Ignore       TreatMissingData = "ignore"
)

// Values of EvaluateLowSampleCountPercentile. The zero value means evaluate.
const (
	LowSampleEvaluate = "evaluate"
	LowSampleIgnore   = "ignore"
)

// MetricStat names a metric and the statistic the alarm watches.
type MetricStat struct {
	Namespace  string            `json:"namespace"`
	MetricName string            `json:"metric_name"`
	Dimensions map[string]string `json:"dimensions,omitempty"`
	// Statistic is SampleCount, Sum, Average, Minimum, Maximum, a percentile
	// pNN (p0–p100) or another extended statistic (tmNN, TM(a%:b%), ...).
	Statistic string `json:"statistic"`
}

// Definition is a metric alarm: on a metric and statistic, or on a metric
// math expression. The evaluator never computes either; it asks a [Source].
type Definition struct {
	Name        string
	Description string

	Metric     *MetricStat // exactly one of Metric and Expression
	Expression string

	Period             time.Duration // 1, 5, 10, 20, 30 s or a multiple of 60 s
	EvaluationPeriods  int           // N
	DatapointsToAlarm  int           // M, 1 ≤ M ≤ N; 0 means N
	ComparisonOperator ComparisonOperator
	Threshold          float64
	TreatMissingData   TreatMissingData // "" means missing

	// EvaluateLowSampleCountPercentile is evaluate or ignore ("" means
	// evaluate); it matters only for percentile statistics.
	EvaluateLowSampleCountPercentile string

	// EvaluationRange is how many periods are fetched (≥ N); 0 means N+2.
	EvaluationRange int
	// SettleDelay is how long after a period closes it is evaluated; 0 means
	// the default (Period/10, at most 5 s) and a negative value means none.
	SettleDelay time.Duration
}

// Datapoint is one period of a metric or expression result.
type Datapoint struct {
	Timestamp   time.Time // start of the period
	Value       float64
	SampleCount float64 // samples aggregated in the period; 0 if unknown
}

// Source supplies an alarm's datapoints for the periods starting in
// [start, end). It is implemented by the metrics store.
type Source interface {
	Datapoints(ctx context.Context, a *Definition, start, end time.Time) ([]Datapoint, error)
}

// SourceFunc adapts a function to [Source].
type SourceFunc func(ctx context.Context, a *Definition, start, end time.Time) ([]Datapoint, error)

// Datapoints calls f.
func (f SourceFunc) Datapoints(ctx context.Context, a *Definition, start, end time.Time) ([]Datapoint, error) {
	return f(ctx, a, start, end)
}

// FieldError is one problem with one field of a definition.
type FieldError struct {
	Field   string
	Message string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// ValidationError lists every problem found in an alarm definition.
type ValidationError struct {
	Alarm    string
	Problems []FieldError
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	return fmt.Sprintf("alarm %q: %s", e.Alarm, strings.Join(msgs, "; "))
}

const maxNameLen = 255

func validateName(field, name string) []FieldError {
	switch {
	case name == "":
		return []FieldError{{field, "is empty; give the alarm a name"}}
	case len(name) > maxNameLen:
		return []FieldError{{field, fmt.Sprintf("is %d bytes long; the limit is %d", len(name), maxNameLen)}}
	}
	for i, r := range name {
		if r < 0x20 || r == 0x7f {
			return []FieldError{{field, fmt.Sprintf("contains a control character at byte %d", i)}}
		}
	}
	return nil
}

// ValidPeriod reports whether p is a period CloudWatch accepts:
// 1, 5, 10, 20 or 30 seconds, or a positive multiple of 60 seconds.
func ValidPeriod(p time.Duration) bool {
	switch p {
	case time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second:
		return true
	}
	return p > 0 && p%time.Minute == 0
}

var (
	percentileRe = regexp.MustCompile(`^p(\d{1,3}(?:\.\d+)?)$`)
	extendedRe   = regexp.MustCompile(`^(?:(?:tm|wm|tc|ts)\d{1,3}(?:\.\d+)?|IQM|(?:TM|WM|TC|TS|PR)\([^()]*\))$`)
)

// percentile returns the percentile (0–100) of a pNN statistic.
func percentile(stat string) (float64, bool) {
	m := percentileRe.FindStringSubmatch(stat)
	if m == nil {
		return 0, false
	}
	p, err := strconv.ParseFloat(m[1], 64)
	if err != nil || p > 100 {
		return 0, false
	}
	return p, true
}

func validStatistic(s string) bool {
	switch s {
	case "SampleCount", "Sum", "Average", "Minimum", "Maximum":
		return true
	}
	if _, ok := percentile(s); ok {
		return true
	}
	return extendedRe.MatchString(s)
}

// Validate returns a *ValidationError listing every problem, or nil.
func (d *Definition) Validate() error {
	var ps []FieldError
	add := func(field, format string, args ...any) {
		ps = append(ps, FieldError{field, fmt.Sprintf(format, args...)})
	}
	ps = append(ps, validateName("name", d.Name)...)
	switch {
	case d.Metric == nil && strings.TrimSpace(d.Expression) == "":
		add("metric", "neither a metric nor an expression is given; give exactly one")
	case d.Metric != nil && d.Expression != "":
		add("expression", "both a metric and an expression are given; give exactly one")
	case d.Metric != nil:
		if d.Metric.MetricName == "" {
			add("metric.metric_name", "is empty")
		}
		if !validStatistic(d.Metric.Statistic) {
			add("metric.statistic", "%q is not a statistic; use SampleCount, Sum, Average, Minimum, Maximum or pNN", d.Metric.Statistic)
		}
	}
	if !ValidPeriod(d.Period) {
		add("period", "%v is not allowed; use 1, 5, 10, 20 or 30 seconds or a multiple of 60 seconds", d.Period)
	}
	n := d.EvaluationPeriods
	if n < 1 {
		add("evaluation_periods", "is %d; it must be at least 1", n)
	} else if ValidPeriod(d.Period) {
		limit := 24 * time.Hour
		if d.Period >= time.Hour {
			limit = 7 * 24 * time.Hour
		}
		if d.Period*time.Duration(n) > limit {
			add("evaluation_periods", "period × evaluation_periods is %v; the limit is %v", d.Period*time.Duration(n), limit)
		}
	}
	if m := d.DatapointsToAlarm; m < 0 || (n >= 1 && m > n) {
		add("datapoints_to_alarm", "is %d; it must be between 1 and evaluation_periods (%d)", m, n)
	}
	switch d.ComparisonOperator {
	case GreaterThanThreshold, GreaterThanOrEqualToThreshold, LessThanThreshold, LessThanOrEqualToThreshold:
	default:
		add("comparison_operator", "%q is not supported; use GreaterThanThreshold, GreaterThanOrEqualToThreshold, LessThanThreshold or LessThanOrEqualToThreshold", d.ComparisonOperator)
	}
	if math.IsNaN(d.Threshold) || math.IsInf(d.Threshold, 0) {
		add("threshold", "is %v; it must be a finite number", d.Threshold)
	}
	switch d.TreatMissingData {
	case "", Missing, NotBreaching, Breaching, Ignore:
	default:
		add("treat_missing_data", "%q is not one of missing, notBreaching, breaching, ignore", d.TreatMissingData)
	}
	switch d.EvaluateLowSampleCountPercentile {
	case "", LowSampleEvaluate, LowSampleIgnore:
	default:
		add("evaluate_low_sample_count_percentile", "%q is not one of evaluate, ignore", d.EvaluateLowSampleCountPercentile)
	}
	if r := d.EvaluationRange; r != 0 && r < n {
		add("evaluation_range", "is %d; it must be at least evaluation_periods (%d)", r, n)
	}
	if d.SettleDelay >= d.Period && d.Period > 0 {
		add("settle_delay", "is %v; it must be shorter than the period (%v)", d.SettleDelay, d.Period)
	}
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Alarm: d.Name, Problems: ps}
}

func (d *Definition) n() int { return d.EvaluationPeriods }

func (d *Definition) m() int {
	if d.DatapointsToAlarm == 0 {
		return d.EvaluationPeriods
	}
	return d.DatapointsToAlarm
}

func (d *Definition) treat() TreatMissingData {
	if d.TreatMissingData == "" {
		return Missing
	}
	return d.TreatMissingData
}

func (d *Definition) evaluationRange() int {
	if d.EvaluationRange > 0 {
		return d.EvaluationRange
	}
	return d.EvaluationPeriods + 2
}

func (d *Definition) settleDelay() time.Duration {
	switch {
	case d.SettleDelay < 0:
		return 0
	case d.SettleDelay > 0:
		return d.SettleDelay
	}
	return min(d.Period/10, 5*time.Second)
}

// lowSampleMinimum is the sample count below which a percentile alarm with
// EvaluateLowSampleCountPercentile=ignore is not evaluated: 10/(1-p) for
// 0.5 ≤ p < 1 and 10/p for 0 < p < 0.5. It is 0 when the rule does not apply.
func (d *Definition) lowSampleMinimum() float64 {
	if d.EvaluateLowSampleCountPercentile != LowSampleIgnore || d.Metric == nil {
		return 0
	}
	p, ok := percentile(d.Metric.Statistic)
	if !ok || p <= 0 || p >= 100 {
		return 0
	}
	p /= 100
	if p >= 0.5 {
		return 10 / (1 - p)
	}
	return 10 / p
}
