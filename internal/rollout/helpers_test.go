package rollout

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"holdfast/internal/alarm"
	"holdfast/internal/metrics"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a stepped clock shared by the controller and the store.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// splits is the TrafficSetter interface implemented in the test, recording
// what the gateway would be told (the gateway implementation comes later).
type splits struct {
	mu       sync.Mutex
	got      []float64
	promoted []string
	fail     error
}

func (s *splits) SetSplit(route, stable, candidate string, pct float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.got = append(s.got, pct)
	return nil
}

func (s *splits) Promote(route, candidate string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.promoted = append(s.promoted, route+"="+candidate)
	return nil
}

func (s *splits) list() []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]float64(nil), s.got...)
}

type ledger struct {
	mu  sync.Mutex
	got []LedgerEntry
}

func (l *ledger) Record(_ context.Context, e LedgerEntry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, e)
	return nil
}

func (l *ledger) actions() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.got {
		out = append(out, e.Action)
	}
	return out
}

// newAlarms is a real alarm manager with the named alarms (never evaluated
// here; their state is set with SetState).
func newAlarms(t *testing.T, names ...string) *alarm.Manager {
	t.Helper()
	m := alarm.NewManager(alarm.SourceFunc(func(context.Context, *alarm.Definition, time.Time, time.Time) ([]alarm.Datapoint, error) {
		return nil, nil
	}), alarm.ManagerOptions{})
	t.Cleanup(func() { m.Close() })
	var defs []alarm.Definition
	for _, n := range names {
		defs = append(defs, alarm.Definition{Name: n, Period: time.Second, EvaluationPeriods: 1,
			Metric:             &alarm.MetricStat{Namespace: gatewayNamespace, MetricName: metricErrors, Statistic: "Sum"},
			ComparisonOperator: alarm.GreaterThanThreshold, Threshold: 1})
	}
	if err := m.Update(t0, defs, nil); err != nil {
		t.Fatal(err)
	}
	return m
}

type env struct {
	clk    *clock
	store  *metrics.Store
	splits *splits
	ledger *ledger
	ctrl   *Controller
}

func newEnv(t *testing.T, alarms AlarmStates) *env {
	t.Helper()
	e := &env{clk: &clock{now: t0}, splits: &splits{}, ledger: &ledger{}}
	st, err := metrics.Open("", metrics.Options{Now: e.clk.Now, FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.store = st
	opts := Options{Traffic: e.splits, Metrics: &StoreReader{Store: st}, Ledger: e.ledger}
	if alarms != nil {
		opts.Alarms = alarms
	}
	e.ctrl, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ctrl.Close() })
	return e
}

// traffic records n requests a second for secs seconds from start, for one
// target, as the gateway's telemetry does: every errEvery-th one fails
// (0: none), latencies cycle through ms.
func (e *env) traffic(t *testing.T, target string, start time.Time, secs, n, errEvery int, ms ...float64) {
	t.Helper()
	h := func(name string) *metrics.Handle {
		hd, err := e.store.Handle(metrics.MetricID{Namespace: gatewayNamespace, Name: name,
			Dimensions: []metrics.Dimension{{Name: dimRoute, Value: "api"}, {Name: dimTarget, Value: target}}}, 1)
		if err != nil {
			t.Fatal(err)
		}
		return hd
	}
	inv, errs, dur := h(metricInvocations), h(metricErrors), h(metricDuration)
	k := 0
	for s := range secs {
		at := start.Add(time.Duration(s) * time.Second)
		for range n {
			k++
			failed := 0.0
			if errEvery > 0 && k%errEvery == 0 {
				failed = 1
			}
			for _, err := range []error{inv.Add(at, 1), errs.Add(at, failed), dur.Add(at, ms[k%len(ms)])} {
				if err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func (e *env) eval(t *testing.T, at time.Time) Status {
	t.Helper()
	e.clk.Set(at)
	if err := e.ctrl.Eval(context.Background(), at); err != nil {
		t.Fatal(err)
	}
	st, err := e.ctrl.Status("api")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func spec(strategy string) Spec {
	st, err := ParseStrategy(strategy)
	if err != nil {
		panic(err)
	}
	return Spec{Route: "api", Stable: "v1", Candidate: "v2", Strategy: st, Actor: "alice"}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling interval, not a wait for an event
	}
}

func sec(n int) time.Duration { return time.Duration(n) * time.Second }

func fmtSplits(s []float64) string { return fmt.Sprint(s) }
