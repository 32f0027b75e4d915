package monitor_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"holdfast/internal/alarm"
	"holdfast/internal/config"
	"holdfast/internal/metrics"
	"holdfast/internal/monitor"
)

const cfgText = `listeners:
  - name: public
    listen: 127.0.0.1:0
upstreams:
  - name: real
    url: http://127.0.0.1:1
routes:
  - name: orders
    targets:
      - upstream: real
        weight: 1
error_rate_alarm:
  period: 1s
  evaluation_periods: 3
  datapoints_to_alarm: 2
alarms:
  - name: slow
    metric: {namespace: holdfast/Gateway, name: Duration, dimensions: {Route: orders}, stat: p90}
    period: 1s
    evaluation_periods: 2
    comparison_operator: GreaterThanThreshold
    threshold: 100
`

// clock is a stepped clock shared by the store and the evaluator.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func setup(t testing.TB) (*clock, *metrics.Store, *monitor.Monitor) {
	t.Helper()
	cfg, err := config.Parse("c.yaml", []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	st, err := metrics.Open("", metrics.Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m := monitor.New(st, nil, nil)
	t.Cleanup(func() { m.Close() })
	if err := m.Update(c.t, cfg); err != nil {
		t.Fatal(err)
	}
	return c, st, m
}

// second records one second of gateway traffic: n requests, errs failing,
// each taking ms milliseconds, as telemetry records them.
func second(t testing.TB, st *metrics.Store, at time.Time, n, errs int, ms float64) {
	t.Helper()
	dims := []metrics.Dimension{{Name: "Route", Value: "orders"}}
	h := func(name string) *metrics.Handle {
		hd, err := st.Handle(metrics.MetricID{Namespace: "holdfast/Gateway", Name: name, Dimensions: dims}, 1)
		if err != nil {
			t.Fatal(err)
		}
		return hd
	}
	inv, er, dur := h("Invocations"), h("Errors"), h("Duration")
	for i := 0; i < n; i++ {
		ts := at.Add(time.Duration(i) * time.Second / time.Duration(n))
		inv.Add(ts, 1)
		v := 0.0
		if i < errs {
			v = 1
		}
		er.Add(ts, v)
		dur.Add(ts, ms)
	}
}

func TestErrorRateAndMetricAlarms(t *testing.T) {
	c, st, m := setup(t)
	ctx := context.Background()
	state := func(name string) alarm.State {
		s, err := m.Manager().Status(name)
		if err != nil {
			t.Fatal(err)
		}
		return s.State
	}
	step := func(n, errs int, ms float64) {
		second(t, st, c.t, n, errs, ms)
		c.t = c.t.Add(time.Second)
		// Evaluate after the period closed and settled.
		if _, err := m.Manager().Eval(ctx, c.t.Add(500*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 4; i++ {
		step(100, 0, 20)
	}
	if got := state("orders-error-rate"); got != alarm.StateOK {
		t.Fatalf("healthy traffic: error-rate alarm %s, want OK", got)
	}
	if got := state("slow"); got != alarm.StateOK {
		t.Fatalf("fast traffic: slow alarm %s, want OK", got)
	}
	// 5% errors for two seconds: 2 of 3 above 2% -> ALARM.
	step(100, 5, 20)
	step(100, 5, 20)
	if got := state("orders-error-rate"); got != alarm.StateAlarm {
		s, _ := m.Manager().Status("orders-error-rate")
		t.Fatalf("5%% errors: error-rate alarm %s (%s), want ALARM", got, s.Reason)
	}
	// Slow answers: p90 above 100 ms for 2 periods.
	step(100, 0, 250)
	step(100, 0, 250)
	if got := state("slow"); got != alarm.StateAlarm {
		s, _ := m.Manager().Status("slow")
		t.Fatalf("slow traffic: slow alarm %s (%s), want ALARM", got, s.Reason)
	}
	step(100, 0, 20)
	step(100, 0, 20)
	if got := state("orders-error-rate"); got != alarm.StateOK {
		t.Fatalf("recovered: error-rate alarm %s, want OK", got)
	}

	// The states are exported for Prometheus.
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector())
	want := `
# HELP holdfast_alarm_state 1 for the alarm's current state (OK, ALARM or INSUFFICIENT_DATA), 0 for the others.
# TYPE holdfast_alarm_state gauge
holdfast_alarm_state{alarm="orders-error-rate",state="ALARM"} 0
holdfast_alarm_state{alarm="orders-error-rate",state="INSUFFICIENT_DATA"} 0
holdfast_alarm_state{alarm="orders-error-rate",state="OK"} 1
holdfast_alarm_state{alarm="slow",state="ALARM"} 0
holdfast_alarm_state{alarm="slow",state="INSUFFICIENT_DATA"} 0
holdfast_alarm_state{alarm="slow",state="OK"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "holdfast_alarm_state"); err != nil {
		t.Fatal(err)
	}
	if def, ok := m.Definition("orders-error-rate"); !ok || !strings.Contains(string(def), "100 * m_err / m_inv") {
		t.Fatalf("Definition = %s, %v", def, ok)
	}
}

// BenchmarkEval1000AlarmsOver1hOf1sData: 1,000 metrics with an hour of
// 1-second data each, 1,000 alarms each reading its metric over that hour
// (60 one-minute periods); one op is one evaluation of all of them.
func BenchmarkEval1000AlarmsOver1hOf1sData(b *testing.B) {
	c := &clock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	st, err := metrics.Open("", metrics.Options{Now: c.now, MaxSeries: 2000})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const n = 1000
	start := c.t
	var alarms strings.Builder
	for i := 0; i < n; i++ {
		id := metrics.MetricID{Namespace: "bench", Name: "Latency", Dimensions: []metrics.Dimension{{Name: "Series", Value: fmt.Sprint(i)}}}
		h, err := st.Handle(id, 1)
		if err != nil {
			b.Fatal(err)
		}
		for s := 0; s < 3600; s++ {
			c.t = start.Add(time.Duration(s) * time.Second)
			h.Add(c.t, float64(s%100))
		}
		fmt.Fprintf(&alarms, `  - name: a%d
    metric: {namespace: bench, name: Latency, dimensions: {Series: "%d"}, stat: Average}
    period: 60s
    evaluation_periods: 60
    comparison_operator: GreaterThanThreshold
    threshold: 90
`, i, i)
	}
	c.t = start.Add(time.Hour)
	cfg, err := config.Parse("bench.yaml", []byte(`listeners: [{name: p, listen: "127.0.0.1:0"}]
upstreams: [{name: u, url: "http://127.0.0.1:1"}]
routes: [{name: r, targets: [{upstream: u, weight: 1}]}]
error_rate_alarm: {disabled: true}
alarms:
`+alarms.String()))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m := monitor.New(st, nil, slog.New(slog.NewTextHandler(io.Discard, nil))) // fresh alarms: every one is due
		if err := m.Update(c.t, cfg); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := m.Manager().Eval(ctx, c.t.Add(time.Minute)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for _, name := range []string{"a0", "a999"} {
			if s, _ := m.Manager().Status(name); s.State != alarm.StateOK || s.LastEvaluated.IsZero() {
				b.Fatalf("%s is %s (%s), want OK after an evaluation", name, s.State, s.Reason)
			}
		}
		m.Close()
	}
}
