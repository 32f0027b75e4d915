package alarm

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkManagerEval1000 measures one scheduler tick: 1,000 one-second
// alarms (5 out of 5, range 7) due at once. The Source computes datapoints on
// the fly, so this is the evaluator's cost, not a store's.
func BenchmarkManagerEval1000(b *testing.B) {
	src := SourceFunc(func(_ context.Context, a *Definition, start, end time.Time) ([]Datapoint, error) {
		out := make([]Datapoint, 0, 7)
		for ts := start; ts.Before(end); ts = ts.Add(a.Period) {
			out = append(out, Datapoint{Timestamp: ts, Value: float64(ts.Unix() % 7), SampleCount: 10})
		}
		return out, nil
	})
	defs := make([]Definition, 1000)
	for i := range defs {
		defs[i] = Definition{
			Name:               fmt.Sprintf("alarm-%04d", i),
			Expression:         "m1",
			Period:             time.Second,
			EvaluationPeriods:  5,
			ComparisonOperator: GreaterThanThreshold,
			Threshold:          float64(i % 7),
		}
	}
	m := NewManager(src, ManagerOptions{})
	defer m.Close()
	if err := m.Update(t0, defs, nil); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	now := t0.Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		if _, err := m.Eval(ctx, now); err != nil {
			b.Fatal(err)
		}
	}
}
