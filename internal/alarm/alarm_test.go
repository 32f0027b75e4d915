package alarm

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func newTestAlarm(t *testing.T, d Definition, src Source) *Alarm {
	t.Helper()
	a, err := NewAlarm(d, src, t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func metricDef(name string) Definition {
	return Definition{
		Name:               name,
		Metric:             &MetricStat{Namespace: "holdfast", MetricName: "Errors", Statistic: "Sum"},
		Period:             time.Minute,
		EvaluationPeriods:  1,
		ComparisonOperator: GreaterThanThreshold,
		Threshold:          2,
		SettleDelay:        -1,
	}
}

func TestComparisonOperators(t *testing.T) {
	tests := []struct {
		op    ComparisonOperator
		value float64
		want  State
	}{
		{GreaterThanThreshold, 3, StateAlarm},
		{GreaterThanThreshold, 2, StateOK},
		{GreaterThanThreshold, 1, StateOK},
		{GreaterThanOrEqualToThreshold, 3, StateAlarm},
		{GreaterThanOrEqualToThreshold, 2, StateAlarm},
		{GreaterThanOrEqualToThreshold, 1, StateOK},
		{LessThanThreshold, 1, StateAlarm},
		{LessThanThreshold, 2, StateOK},
		{LessThanThreshold, 3, StateOK},
		{LessThanOrEqualToThreshold, 1, StateAlarm},
		{LessThanOrEqualToThreshold, 2, StateAlarm},
		{LessThanOrEqualToThreshold, 3, StateOK},
	}
	for _, tt := range tests {
		t.Run(string(tt.op), func(t *testing.T) {
			src := newMapSource()
			d := metricDef("op")
			d.ComparisonOperator = tt.op
			src.put("op", t0, tt.value, 1)
			a := newTestAlarm(t, d, src)
			if _, err := a.Eval(context.Background(), t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if got := a.Status().State; got != tt.want {
				t.Errorf("%v %s 2: got %s, want %s", tt.value, tt.op, got, tt.want)
			}
		})
	}
}

// TestMOfNNonConsecutive: 3 out of 5 with breaching points that are not
// adjacent, and the reason text CloudWatch-style.
func TestMOfNNonConsecutive(t *testing.T) {
	src := newMapSource()
	d := metricDef("mofn")
	d.EvaluationPeriods, d.DatapointsToAlarm = 5, 3
	for i, v := range []float64{12, 0, 11, 1, 10} { // 10:00 … 10:04
		src.put("mofn", t0.Add(time.Duration(i)*time.Minute), v, 1)
	}
	// Make 10:04 the newest: evaluate at 10:05 and put 12 there instead.
	src.put("mofn", t0.Add(4*time.Minute), 12, 1)
	src.put("mofn", t0, 10, 1)
	a := newTestAlarm(t, d, src)
	if _, err := a.SetState(StateOK, "start", t0); err != nil {
		t.Fatal(err)
	}
	tr, err := a.Eval(context.Background(), t0.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if tr == nil || tr.To != StateAlarm || tr.From != StateOK {
		t.Fatalf("transition = %+v, want OK -> ALARM", tr)
	}
	want := "Threshold Crossed: 3 out of the last 5 datapoints [12.0 (28/11/26 10:04:00), 11.0 (28/11/26 10:02:00), 10.0 (28/11/26 10:00:00)] were greater than the threshold (2.0) (minimum 3 datapoints for OK -> ALARM transition)."
	if tr.Reason != want {
		t.Errorf("reason\n got %s\nwant %s", tr.Reason, want)
	}
	var rd struct {
		Period              int `json:"period"`
		EvaluatedDatapoints []struct {
			Timestamp string  `json:"timestamp"`
			Value     float64 `json:"value"`
		} `json:"evaluatedDatapoints"`
		Threshold float64 `json:"threshold"`
	}
	if err := json.Unmarshal(tr.ReasonData, &rd); err != nil {
		t.Fatalf("reason data %s: %v", tr.ReasonData, err)
	}
	if rd.Period != 60 || rd.Threshold != 2 || len(rd.EvaluatedDatapoints) != 5 || rd.EvaluatedDatapoints[0].Value != 12 {
		t.Errorf("reason data = %s", tr.ReasonData)
	}

	// Two breaching of the newest five: back to OK.
	src.put("mofn", t0.Add(5*time.Minute), 0, 1)
	tr, err = a.Eval(context.Background(), t0.Add(6*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if tr == nil || tr.To != StateOK {
		t.Fatalf("transition = %+v, want ALARM -> OK", tr)
	}
	if !strings.Contains(tr.Reason, "3 out of the last 5 datapoints [0.0 (28/11/26 10:05:00), 1.0 (28/11/26 10:03:00), 0.0 (28/11/26 10:01:00)] were not greater than the threshold (2.0)") {
		t.Errorf("reason = %s", tr.Reason)
	}
}

func TestLowSampleCountPercentile(t *testing.T) {
	tests := []struct {
		name    string
		mode    string
		samples float64
		want    State
	}{
		{"ignore, too few samples keeps state", LowSampleIgnore, 999, StateInsufficientData},
		{"ignore, enough samples", LowSampleIgnore, 1000, StateAlarm},
		{"evaluate, too few samples", LowSampleEvaluate, 5, StateAlarm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newMapSource()
			d := metricDef("p99")
			d.Metric.Statistic = "p99"
			d.EvaluateLowSampleCountPercentile = tt.mode
			src.put("p99", t0, 500, tt.samples)
			a := newTestAlarm(t, d, src)
			if _, err := a.Eval(context.Background(), t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			st := a.Status()
			if st.State != tt.want {
				t.Errorf("got %s, want %s", st.State, tt.want)
			}
			if skipped := st.LastEvalSkipped != ""; skipped != (tt.want == StateInsufficientData) {
				t.Errorf("LastEvalSkipped = %q", st.LastEvalSkipped)
			}
		})
	}
}

// TestOneSecondAlarmSteppedClock drives a 1-second alarm through
// OK → ALARM → OK with a stepped clock: each period is evaluated as soon as
// it closes plus the default 100 ms settle delay.
func TestOneSecondAlarmSteppedClock(t *testing.T) {
	src := newMapSource()
	d := metricDef("fast")
	d.Period = time.Second
	d.EvaluationPeriods, d.DatapointsToAlarm = 3, 2
	d.SettleDelay = 0 // default: 100 ms for 1 s
	a := newTestAlarm(t, d, src)
	if !a.Due(t0) || !a.NextEvaluation().IsZero() {
		t.Fatal("a new alarm must be due at once")
	}
	values := []float64{0, 0, 0, 5, 0, 5, 5, 0, 0, 0}
	var got []string
	now := t0
	for i, v := range values {
		src.put("fast", t0.Add(time.Duration(i)*time.Second), v, 1)
		// Step the clock 10 ms at a time until the alarm is due.
		steps := 0
		for now = now.Add(10 * time.Millisecond); !a.Due(now); now = now.Add(10 * time.Millisecond) {
			steps++
		}
		if i > 0 {
			wantDue := t0.Add(time.Duration(i+1)*time.Second + 100*time.Millisecond)
			if !now.Equal(wantDue) || !a.NextEvaluation().Equal(wantDue) {
				t.Fatalf("period %d due at %v (next %v), want %v", i, now, a.NextEvaluation(), wantDue)
			}
		}
		if i == 0 {
			now = t0.Add(time.Second + 100*time.Millisecond)
		}
		tr, err := a.Eval(context.Background(), now)
		if err != nil {
			t.Fatal(err)
		}
		if a.Due(now) {
			t.Fatalf("still due right after evaluation at %v", now)
		}
		if tr != nil {
			got = append(got, tr.Time.Sub(t0).String()+" "+string(tr.To))
		}
	}
	want := []string{"1.1s OK", "6.1s ALARM", "9.1s OK"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("transitions %v, want %v", got, want)
	}
}

func TestSourceErrorRecorded(t *testing.T) {
	src := newMapSource()
	src.setErr(errors.New("store unavailable"))
	a := newTestAlarm(t, metricDef("e"), src)
	_, err := a.Eval(context.Background(), t0.Add(time.Minute))
	if err == nil || !strings.Contains(err.Error(), "store unavailable") {
		t.Fatalf("err = %v", err)
	}
	st := a.Status()
	if st.State != StateInsufficientData || st.LastError == "" {
		t.Errorf("status = %+v", st)
	}
	h := a.History()
	if len(h) != 1 || h[0].Kind != HistoryError {
		t.Errorf("history = %+v", h)
	}
	if a.Due(t0.Add(time.Minute)) || !a.Due(t0.Add(2*time.Minute)) {
		t.Error("a failed evaluation must wait for the next period")
	}
}

func TestHistoryBounded(t *testing.T) {
	src := newMapSource()
	a, err := NewAlarm(metricDef("h"), src, t0, 3)
	if err != nil {
		t.Fatal(err)
	}
	states := []State{StateOK, StateAlarm, StateOK, StateAlarm, StateOK}
	for i, s := range states {
		if _, err := a.SetState(s, "test", t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	h := a.History()
	if len(h) != 3 {
		t.Fatalf("history has %d items, want 3", len(h))
	}
	if h[0].Transition.To != StateOK || !h[0].Time.Equal(t0.Add(4*time.Second)) || !h[2].Time.Equal(t0.Add(2*time.Second)) {
		t.Errorf("history = %+v", h)
	}
}

// TestSetStateRecomputed: SetState lasts until the next evaluation.
func TestSetStateRecomputed(t *testing.T) {
	src := newMapSource()
	src.put("s", t0, 0, 1)
	a := newTestAlarm(t, metricDef("s"), src)
	if _, err := a.Eval(context.Background(), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	tr, err := a.SetState(StateAlarm, "testing the pager", t0.Add(70*time.Second))
	if err != nil || tr == nil || tr.Reason != "testing the pager" {
		t.Fatalf("SetState = %+v, %v", tr, err)
	}
	if _, err := a.SetState("BROKEN", "x", t0); err == nil {
		t.Error("SetState accepted a bad state")
	}
	src.put("s", t0.Add(time.Minute), 1, 1)
	tr, err = a.Eval(context.Background(), t0.Add(2*time.Minute))
	if err != nil || tr == nil || tr.From != StateAlarm || tr.To != StateOK {
		t.Fatalf("Eval after SetState = %+v, %v", tr, err)
	}
}

func TestFormatValue(t *testing.T) {
	for in, want := range map[float64]string{12: "12.0", 0.25: "0.25", -3: "-3.0", 1e21: "1000000000000000000000.0"} {
		if got := formatValue(in); got != want {
			t.Errorf("formatValue(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestReasonText(t *testing.T) {
	tests := []struct {
		pattern string
		n, m    int
		treat   TreatMissingData
		prior   State
		want    string
	}{
		{"- - - - X", 3, 3, Missing, StateOK,
			"Insufficient Data: 1 datapoint [5.0 (28/11/26 10:04:00)] in the last 5 periods and was greater than the threshold (2.0); 2 more are needed to decide (missing data is treated as [Missing])."},
		{"- - X - -", 3, 3, Missing, StateOK,
			"Threshold Crossed: 1 out of the last 5 datapoints [5.0 (28/11/26 10:02:00)] was greater than the threshold (2.0) and no newer datapoint was received (the oldest breaching datapoint is at least 3 periods old)."},
		{"- - - - -", 3, 3, Breaching, StateOK,
			"Threshold Crossed: no datapoints were received for 5 periods and 3 missing datapoints were treated as [Breaching]."},
		{"- - - - -", 3, 3, NotBreaching, StateAlarm,
			"Threshold Crossed: no datapoints were received for 5 periods and 3 missing datapoints were treated as [NonBreaching]."},
		{"- - - - -", 3, 3, Missing, StateAlarm, "Insufficient Data: 5 datapoints were unknown."},
		{"0 - X - -", 3, 2, Breaching, StateOK,
			"Threshold Crossed: 1 out of the last 3 datapoints [5.0 (28/11/26 10:02:00)] was greater than the threshold (2.0) and 1 missing datapoint was treated as [Breaching] (minimum 2 datapoints for OK -> ALARM transition)."},
		{"0 - X - -", 3, 2, Missing, StateAlarm,
			"Threshold Crossed: 1 out of the last 3 datapoints [0.0 (28/11/26 10:00:00)] was not greater than the threshold (2.0) and 1 missing datapoint was not counted [missing]."},
		{"0 0 X 0 0", 3, 2, Missing, StateAlarm,
			"Threshold Crossed: 2 out of the last 3 datapoints [0.0 (28/11/26 10:04:00), 0.0 (28/11/26 10:03:00)] were not greater than the threshold (2.0) (minimum 2 datapoints for ALARM -> OK transition)."},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+string(tt.treat), func(t *testing.T) {
			src := newMapSource()
			d := metricDef("r")
			d.EvaluationPeriods, d.DatapointsToAlarm, d.TreatMissingData = tt.n, tt.m, tt.treat
			for i, tok := range strings.Fields(tt.pattern) {
				ts := t0.Add(time.Duration(i) * time.Minute)
				switch tok {
				case "X":
					src.put("r", ts, 5, 1)
				case "0":
					src.put("r", ts, 0, 1)
				}
			}
			a := newTestAlarm(t, d, src)
			if _, err := a.SetState(tt.prior, "prior", t0); err != nil {
				t.Fatal(err)
			}
			tr, err := a.Eval(context.Background(), t0.Add(5*time.Minute))
			if err != nil || tr == nil {
				t.Fatalf("Eval = %+v, %v", tr, err)
			}
			if tr.Reason != tt.want {
				t.Errorf("reason\n got %s\nwant %s", tr.Reason, tt.want)
			}
			if !json.Valid(tr.ReasonData) {
				t.Errorf("reason data is not JSON: %s", tr.ReasonData)
			}
		})
	}
}
