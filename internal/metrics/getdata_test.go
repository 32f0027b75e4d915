package metrics_test

import (
	"strings"
	"testing"
	"time"

	"holdfast/internal/metrics"
)

func TestGetMetricDataErrorRate(t *testing.T) {
	base := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	now := base.Add(10 * time.Minute)
	st, err := metrics.Open("", metrics.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dims := []metrics.Dimension{{Name: "Route", Value: "orders"}}
	one, zero := 1.0, 0.0
	var data []metrics.MetricDatumJSON
	// Minute m has 10 invocations of which m are errors (m = 0..4).
	for m := 0; m < 5; m++ {
		for i := 0; i < 10; i++ {
			ts := base.Add(time.Duration(m)*time.Minute + time.Duration(i)*time.Second)
			v := &zero
			if i < m {
				v = &one
			}
			data = append(data,
				metrics.MetricDatumJSON{MetricName: "Invocations", Dimensions: dims, Timestamp: ts, Value: &one},
				metrics.MetricDatumJSON{MetricName: "Errors", Dimensions: dims, Timestamp: ts, Value: v})
		}
	}
	if err := st.PutMetricData(metrics.PutMetricDataInput{Namespace: "holdfast/Gateway", MetricData: data}); err != nil {
		t.Fatal(err)
	}
	no := false
	stat := func(name string) *metrics.MetricStatJSON {
		return &metrics.MetricStatJSON{Metric: metrics.MetricJSON{Namespace: "holdfast/Gateway", MetricName: name, Dimensions: dims}, Period: 60, Stat: "Sum"}
	}
	out, err := st.GetMetricData(metrics.GetMetricDataInput{
		StartTime: base, EndTime: base.Add(5 * time.Minute), ScanBy: "TimestampAscending",
		MetricDataQueries: []metrics.MetricDataQuery{
			{Id: "m_inv", MetricStat: stat("Invocations"), ReturnData: &no},
			{Id: "m_err", MetricStat: stat("Errors"), ReturnData: &no},
			{Id: "error_rate", Expression: "IF(m_inv > 0, 100 * m_err / m_inv, 0)", Label: "error rate %"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.MetricDataResults) != 1 {
		t.Fatalf("results = %+v", out.MetricDataResults)
	}
	r := out.MetricDataResults[0]
	want := []float64{0, 10, 20, 30, 40}
	if r.Id != "error_rate" || r.Label != "error rate %" || len(r.Values) != len(want) {
		t.Fatalf("result = %+v", r)
	}
	for i := range want {
		if r.Values[i] != want[i] || !r.Timestamps[i].Equal(base.Add(time.Duration(i)*time.Minute)) {
			t.Errorf("point %d = %v at %v, want %v at %v", i, r.Values[i], r.Timestamps[i], want[i], base.Add(time.Duration(i)*time.Minute))
		}
	}

	// Default order is CloudWatch's: newest first.
	out, err = st.GetMetricData(metrics.GetMetricDataInput{StartTime: base, EndTime: base.Add(5 * time.Minute),
		MetricDataQueries: []metrics.MetricDataQuery{{Id: "m1", MetricStat: stat("Errors")}}})
	if err != nil || len(out.MetricDataResults) != 1 || out.MetricDataResults[0].Values[0] != 4 {
		t.Fatalf("descending: %+v, %v", out, err)
	}
}

func TestGetMetricDataBadInput(t *testing.T) {
	st, err := metrics.Open("", metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	ms := &metrics.MetricStatJSON{Metric: metrics.MetricJSON{Namespace: "n", MetricName: "x"}, Period: 60, Stat: "Sum"}
	for _, tc := range []struct {
		name string
		in   metrics.GetMetricDataInput
		want string
	}{
		{"no queries", metrics.GetMetricDataInput{StartTime: now.Add(-time.Hour), EndTime: now}, "MetricDataQueries: empty"},
		{"bad id", metrics.GetMetricDataInput{StartTime: now.Add(-time.Hour), EndTime: now,
			MetricDataQueries: []metrics.MetricDataQuery{{Id: "M1", MetricStat: ms}}}, `MetricDataQueries[0].Id: "M1"`},
		{"both", metrics.GetMetricDataInput{StartTime: now.Add(-time.Hour), EndTime: now,
			MetricDataQueries: []metrics.MetricDataQuery{{Id: "m1", MetricStat: ms, Expression: "m1"}}}, "exactly one"},
		{"bad period", metrics.GetMetricDataInput{StartTime: now.Add(-time.Hour), EndTime: now,
			MetricDataQueries: []metrics.MetricDataQuery{{Id: "m1", MetricStat: &metrics.MetricStatJSON{Metric: ms.Metric, Period: 7, Stat: "Sum"}}}}, "Period: 7"},
		{"bad stat", metrics.GetMetricDataInput{StartTime: now.Add(-time.Hour), EndTime: now,
			MetricDataQueries: []metrics.MetricDataQuery{{Id: "m1", MetricStat: &metrics.MetricStatJSON{Metric: ms.Metric, Period: 60, Stat: "p101"}}}}, "Stat"},
		{"times", metrics.GetMetricDataInput{StartTime: now, EndTime: now.Add(-time.Hour),
			MetricDataQueries: []metrics.MetricDataQuery{{Id: "m1", MetricStat: ms}}}, "is not before"},
		{"syntax", metrics.GetMetricDataInput{StartTime: now.Add(-time.Hour), EndTime: now,
			MetricDataQueries: []metrics.MetricDataQuery{{Id: "m1", MetricStat: ms}, {Id: "e1", Expression: "m1 +"}}}, "e1"},
		{"unknown id", metrics.GetMetricDataInput{StartTime: now.Add(-time.Hour), EndTime: now,
			MetricDataQueries: []metrics.MetricDataQuery{{Id: "m1", MetricStat: ms}, {Id: "e1", Expression: "m2 * 2"}}}, "m2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := st.GetMetricData(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want it to contain %q", err, tc.want)
			}
		})
	}
}
