package rollout

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"holdfast/internal/metrics"
)

// Gateway metric names and dimensions, as internal/telemetry records them.
// They are repeated here rather than imported: telemetry imports the
// gateway, and the gateway is to import this package.
const (
	gatewayNamespace  = "holdfast/Gateway"
	dimRoute          = "Route"
	dimTarget         = "Target"
	metricInvocations = "Invocations"
	metricErrors      = "Errors"
	metricDuration    = "Duration"
)

// StoreReader is the MetricReader over the metrics store: it reads the
// gateway's Invocations, Errors and Duration series of a Route and Target.
type StoreReader struct {
	Store *metrics.Store
	// Namespace of the gateway metrics; "" means holdfast/Gateway.
	Namespace string
}

var _ MetricReader = (*StoreReader)(nil)

// p95Precision is the relative width at which the p95 search stops; the
// store's sketches are accurate to 1 % anyway.
const p95Precision = 0.002

// TargetWindow sums Invocations and Errors over [start, end) and finds the
// p95 of Duration over the whole window. The store keeps a sketch per
// period and answers percentiles per period only, so the window p95 is
// found by bisection on the trimmed count TC(:x), which, unlike a
// percentile, adds up across periods: the p95 is the least x with at least
// 95 % of the window's samples at or below it.
func (r *StoreReader) TargetWindow(route, target string, start, end time.Time) (TargetStats, error) {
	var out TargetStats
	if !end.After(start) {
		return out, nil
	}
	period := time.Second
	if end.Sub(start) > 2*time.Hour { // beyond that 1 s data may have been rolled up
		period = time.Minute
	}
	ns := r.Namespace
	if ns == "" {
		ns = gatewayNamespace
	}
	id := func(name string) metrics.MetricID {
		return metrics.MetricID{Namespace: ns, Name: name, Dimensions: []metrics.Dimension{{Name: dimRoute, Value: route}, {Name: dimTarget, Value: target}}}
	}
	fold := func(name, stat string, f func(acc, v float64) float64, init float64) (float64, bool, error) {
		s, err := r.Store.Query(metrics.MetricStatQuery{Metric: id(name), Period: period, Stat: stat, Start: start, End: end})
		if err != nil {
			return 0, false, fmt.Errorf("query %s %s of %s/%s: %w", name, stat, route, target, err)
		}
		acc := init
		for _, p := range s.Points {
			acc = f(acc, p.V)
		}
		return acc, len(s.Points) > 0, nil
	}
	sum := func(a, v float64) float64 { return a + v }
	var err error
	if out.Invocations, _, err = fold(metricInvocations, "Sum", sum, 0); err != nil {
		return out, err
	}
	if out.Errors, _, err = fold(metricErrors, "Sum", sum, 0); err != nil {
		return out, err
	}
	lo, ok, err := fold(metricDuration, "Minimum", math.Min, math.Inf(1))
	if err != nil || !ok {
		return out, err
	}
	hi, _, err := fold(metricDuration, "Maximum", math.Max, math.Inf(-1))
	if err != nil {
		return out, err
	}
	countLE := func(x float64) (float64, error) {
		c, _, err := fold(metricDuration, "TC(:"+strconv.FormatFloat(x, 'g', -1, 64)+")", sum, 0)
		return c, err
	}
	total, err := countLE(hi) // only periods with a sketch count
	if err != nil || total <= 0 {
		return out, err
	}
	rank := 0.95 * total
	if c, err := countLE(lo); err != nil {
		return out, err
	} else if c >= rank {
		out.P95, out.HasP95 = lo, true
		return out, nil
	}
	for i := 0; i < 64 && hi-lo > p95Precision*math.Max(math.Abs(hi), 1e-9); i++ {
		mid := lo + (hi-lo)/2
		if lo > 0 {
			mid = math.Sqrt(lo * hi) // latencies spread over orders of magnitude
		}
		c, err := countLE(mid)
		if err != nil {
			return out, err
		}
		if c >= rank {
			hi = mid
		} else {
			lo = mid
		}
	}
	out.P95, out.HasP95 = hi, true
	return out, nil
}
