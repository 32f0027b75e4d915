package telemetry_test

import (
	"testing"
	"time"

	"holdfast/internal/gateway"
	"holdfast/internal/metrics"
	"holdfast/internal/telemetry"
)

func TestObserveLandsInTheMetricsStore(t *testing.T) {
	st, err := metrics.Open("", metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tel := telemetry.New()
	tel.AttachStore(st)
	a := tel.Target("orders", "real")
	b := tel.Target("orders", "mock")
	a.Observe(200, gateway.ErrNone, 10*time.Millisecond)
	a.Observe(502, gateway.ErrConnect, 30*time.Millisecond)
	b.Observe(200, gateway.ErrNone, 20*time.Millisecond)
	b.Observe(504, gateway.ErrTimeout, 40*time.Millisecond)

	start, end := time.Now().Add(-time.Minute), time.Now().Add(time.Minute)
	sum := func(name string, dims ...metrics.Dimension) float64 {
		t.Helper()
		s, err := st.Query(metrics.MetricStatQuery{Metric: metrics.MetricID{Namespace: telemetry.Namespace, Name: name, Dimensions: dims},
			Period: 5 * time.Minute, Stat: "Sum", Start: start, End: end})
		if err != nil {
			t.Fatal(err)
		}
		total := 0.0
		for _, p := range s.Points {
			total += p.V
		}
		return total
	}
	route := metrics.Dimension{Name: telemetry.DimRoute, Value: "orders"}
	real := metrics.Dimension{Name: telemetry.DimTarget, Value: "real"}
	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"route invocations", sum(telemetry.MetricInvocations, route), 4},
		{"route errors", sum(telemetry.MetricErrors, route), 2},
		{"route duration ms", sum(telemetry.MetricDuration, route), 100},
		{"real invocations", sum(telemetry.MetricInvocations, route, real), 2},
		{"real errors", sum(telemetry.MetricErrors, route, real), 1},
		{"real connect errors", sum(telemetry.MetricErrors, route, real, metrics.Dimension{Name: telemetry.DimKind, Value: "connect"}), 1},
		{"real timeout errors", sum(telemetry.MetricErrors, route, real, metrics.Dimension{Name: telemetry.DimKind, Value: "timeout"}), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

// BenchmarkObserveWithStore is the gateway's per-request telemetry cost with
// the metrics store attached: Prometheus counters, the in-process snapshot
// and six metric-store points (target and route series).
func BenchmarkObserveWithStore(b *testing.B) {
	st, err := metrics.Open("", metrics.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	tel := telemetry.New()
	tel.AttachStore(st)
	rec := tel.Target("orders", "real")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec.Observe(200, gateway.ErrNone, 3*time.Millisecond)
	}
}
