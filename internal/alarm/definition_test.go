package alarm

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

func validDef() Definition {
	return Definition{
		Name:               "error-rate",
		Expression:         "IF(m_inv > 0, 100 * m_err / m_inv, 0)",
		Period:             time.Minute,
		EvaluationPeriods:  5,
		ComparisonOperator: GreaterThanThreshold,
		Threshold:          2,
	}
}

func TestValidateOK(t *testing.T) {
	d := validDef()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := d.m(), 5; got != want {
		t.Errorf("default DatapointsToAlarm = %d, want %d", got, want)
	}
	if got, want := d.evaluationRange(), 7; got != want {
		t.Errorf("default evaluation range = %d, want %d", got, want)
	}
	if got, want := d.treat(), Missing; got != want {
		t.Errorf("default TreatMissingData = %q, want %q", got, want)
	}
}

func TestValidateEveryProblem(t *testing.T) {
	d := Definition{
		Name:                             "bad\x01name",
		Metric:                           &MetricStat{MetricName: "Errors", Statistic: "Median"},
		Expression:                       "m1",
		Period:                           7 * time.Second,
		EvaluationPeriods:                3,
		DatapointsToAlarm:                4,
		ComparisonOperator:               "GreaterThan",
		Threshold:                        math.NaN(),
		TreatMissingData:                 "zero",
		EvaluateLowSampleCountPercentile: "maybe",
		EvaluationRange:                  2,
	}
	err := d.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want *ValidationError", err)
	}
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.Field)
	}
	want := []string{"name", "expression", "period", "datapoints_to_alarm", "comparison_operator", "threshold",
		"treat_missing_data", "evaluate_low_sample_count_percentile", "evaluation_range"}
	if !slices.Equal(got, want) {
		t.Errorf("fields = %v\nwant     %v\n(%v)", got, want, err)
	}
}

func TestValidateFieldsTable(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Definition)
		field string // "" = valid
	}{
		{"metric ok", func(d *Definition) {
			d.Expression = ""
			d.Metric = &MetricStat{Namespace: "holdfast", MetricName: "Errors", Statistic: "Sum"}
		}, ""},
		{"percentile", func(d *Definition) {
			d.Expression = ""
			d.Metric = &MetricStat{MetricName: "Duration", Statistic: "p99.9"}
		}, ""},
		{"trimmed mean", func(d *Definition) {
			d.Expression = ""
			d.Metric = &MetricStat{MetricName: "Duration", Statistic: "TM(2%:98%)"}
		}, ""},
		{"percentile above 100", func(d *Definition) {
			d.Expression = ""
			d.Metric = &MetricStat{MetricName: "Duration", Statistic: "p101"}
		}, "metric.statistic"},
		{"neither metric nor expression", func(d *Definition) { d.Expression = "" }, "metric"},
		{"empty name", func(d *Definition) { d.Name = "" }, "name"},
		{"period 1s", func(d *Definition) { d.Period = time.Second }, ""},
		{"period 20s", func(d *Definition) { d.Period = 20 * time.Second }, ""},
		{"period 120s", func(d *Definition) { d.Period = 2 * time.Minute }, ""},
		{"period 45s", func(d *Definition) { d.Period = 45 * time.Second }, "period"},
		{"period 90s", func(d *Definition) { d.Period = 90 * time.Second }, "period"},
		{"period 0", func(d *Definition) { d.Period = 0 }, "period"},
		{"N zero", func(d *Definition) { d.EvaluationPeriods = 0 }, "evaluation_periods"},
		{"M > N", func(d *Definition) { d.DatapointsToAlarm = 6 }, "datapoints_to_alarm"},
		{"M < 0", func(d *Definition) { d.DatapointsToAlarm = -1 }, "datapoints_to_alarm"},
		{"M = N", func(d *Definition) { d.DatapointsToAlarm = 5 }, ""},
		{"longer than a day", func(d *Definition) { d.EvaluationPeriods = 1441 }, "evaluation_periods"},
		{"hourly for a week", func(d *Definition) { d.Period = time.Hour; d.EvaluationPeriods = 168 }, ""},
		{"infinite threshold", func(d *Definition) { d.Threshold = math.Inf(1) }, "threshold"},
		{"ignore", func(d *Definition) { d.TreatMissingData = Ignore }, ""},
		{"settle delay too long", func(d *Definition) { d.SettleDelay = time.Minute }, "settle_delay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDef()
			tt.edit(&d)
			err := d.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Field != tt.field {
				t.Fatalf("got %v, want one problem in %s", err, tt.field)
			}
		})
	}
}

func TestLowSampleMinimum(t *testing.T) {
	tests := []struct {
		stat, mode string
		want       float64
	}{
		{"p99", LowSampleIgnore, 1000},
		{"p90", LowSampleIgnore, 100},
		{"p50", LowSampleIgnore, 20},
		{"p10", LowSampleIgnore, 100},
		{"p99", LowSampleEvaluate, 0},
		{"p99", "", 0},
		{"p100", LowSampleIgnore, 0},
		{"Average", LowSampleIgnore, 0},
	}
	for _, tt := range tests {
		d := Definition{Metric: &MetricStat{Statistic: tt.stat}, EvaluateLowSampleCountPercentile: tt.mode}
		if got := d.lowSampleMinimum(); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s/%s: got %v, want %v", tt.stat, tt.mode, got, tt.want)
		}
	}
}

func TestSettleDelayDefault(t *testing.T) {
	tests := []struct {
		period, settle, want time.Duration
	}{
		{time.Second, 0, 100 * time.Millisecond},
		{10 * time.Second, 0, time.Second},
		{time.Minute, 0, 5 * time.Second},
		{time.Hour, 0, 5 * time.Second},
		{time.Second, -1, 0},
		{time.Minute, 2 * time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		d := Definition{Period: tt.period, SettleDelay: tt.settle}
		if got := d.settleDelay(); got != tt.want {
			t.Errorf("period %v settle %v: got %v, want %v", tt.period, tt.settle, got, tt.want)
		}
	}
}
