package flagstore

import (
	"errors"
	"math"
	"strconv"
	"testing"
	"time"
)

func TestStrategySteps(t *testing.T) {
	tests := []struct {
		s         Strategy
		steps     []float64
		interval  time.Duration
		bake      time.Duration
		totalTime time.Duration
	}{
		{AllAtOnce, []float64{100}, 0, 10 * time.Minute, 10 * time.Minute},
		{Linear50PercentEvery30Seconds, []float64{50, 100}, 30 * time.Second, time.Minute, 2 * time.Minute},
		{Linear20PercentEvery6Minutes, []float64{20, 40, 60, 80, 100}, 6 * time.Minute, 30 * time.Minute, time.Hour},
		{Canary10Percent20Minutes, []float64{10, 20, 40, 80, 100}, 4 * time.Minute, 10 * time.Minute, 30 * time.Minute},
		{Strategy{GrowthType: Linear, GrowthFactor: 30, DeploymentDuration: 4 * time.Hour}, []float64{30, 60, 90, 100}, time.Hour, 0, 4 * time.Hour},
		{Strategy{GrowthType: Exponential, GrowthFactor: 2, DeploymentDuration: 70 * time.Minute}, []float64{2, 4, 8, 16, 32, 64, 100}, 10 * time.Minute, 0, 70 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.s.String(), func(t *testing.T) {
			if err := tt.s.Validate(); err != nil {
				t.Fatal(err)
			}
			got := tt.s.Steps()
			if len(got) != len(tt.steps) {
				t.Fatalf("steps = %v, want %v", got, tt.steps)
			}
			for i := range got {
				if math.Abs(got[i]-tt.steps[i]) > 1e-9 {
					t.Fatalf("steps = %v, want %v", got, tt.steps)
				}
			}
			if got := tt.s.StepInterval(); got != tt.interval {
				t.Errorf("interval = %v, want %v", got, tt.interval)
			}
			if got := tt.s.DeploymentDuration + tt.s.FinalBakeTime; got != tt.totalTime {
				t.Errorf("total = %v, want %v", got, tt.totalTime)
			}
			// Just before step k the percentage is step k-1's.
			for k := 1; k <= len(tt.steps); k++ {
				at := tt.interval * time.Duration(k)
				if p, step := tt.s.PercentAt(at); p != tt.steps[k-1] || step != k {
					t.Errorf("PercentAt(%v) = %v (step %d), want %v (step %d)", at, p, step, tt.steps[k-1], k)
				}
				if tt.interval > 0 {
					want := 0.0
					if k > 1 {
						want = tt.steps[k-2]
					}
					if p, _ := tt.s.PercentAt(at - time.Nanosecond); p != want {
						t.Errorf("PercentAt(%v) = %v, want %v", at-time.Nanosecond, p, want)
					}
				}
			}
		})
	}
}

func TestStrategyValidate(t *testing.T) {
	bad := []Strategy{
		{GrowthType: Linear, GrowthFactor: 0},
		{GrowthType: Linear, GrowthFactor: -5},
		{GrowthType: Linear, GrowthFactor: 100.5},
		{GrowthType: Linear, GrowthFactor: math.NaN()},
		{GrowthType: "STEP", GrowthFactor: 10},
		{GrowthType: Linear, GrowthFactor: 10, DeploymentDuration: 25 * time.Hour},
		{GrowthType: Linear, GrowthFactor: 10, FinalBakeTime: -time.Second},
	}
	for _, s := range bad {
		if err := s.Validate(); !errors.Is(err, ErrInvalidStrategy) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidStrategy", s, err)
		}
	}
	for _, name := range []string{"AllAtOnce", "AppConfig.Canary10Percent20Minutes"} {
		if _, ok := StrategyByName(name); !ok {
			t.Errorf("StrategyByName(%q) not found", name)
		}
	}
}

// TestDeploymentWalk walks each predefined strategy with a stepped clock and
// checks the state, the percentage, the share of entities on the new
// version, and that no entity goes back.
func TestDeploymentWalk(t *testing.T) {
	const entities = 20000
	for _, s := range PredefinedStrategies() {
		t.Run(s.Name, func(t *testing.T) {
			f := newFixture(t, Environment{})
			f.deploy(1, AllAtOnce, t0)
			f.eval(t0.Add(AllAtOnce.FinalBakeTime))
			start := t0.Add(time.Hour)
			f.deploy(2, s, start)
			steps := s.Steps()
			interval := s.StepInterval()
			var prev map[int]bool
			check := func(at time.Duration, wantState State, wantPct float64) {
				t.Helper()
				f.eval(start.Add(at))
				d := f.latest()
				if d.State != wantState || d.Percent != wantPct {
					t.Fatalf("at +%v: %s %g%%, want %s %g%%", at, d.State, d.Percent, wantState, wantPct)
				}
				got, on := f.share(entities)
				if math.Abs(got-wantPct) > 1.5 {
					t.Errorf("at +%v: %.2f%% of entities on the new version, want about %g%%", at, got, wantPct)
				}
				for e := range prev {
					if !on[e] {
						t.Fatalf("at +%v: entity client-%d went back to the old version", at, e)
					}
				}
				prev = on
			}
			if s.DeploymentDuration > 0 {
				check(0, Deploying, 0)
				for k := 1; k < len(steps); k++ {
					before := 0.0
					if k > 1 {
						before = steps[k-2]
					}
					check(interval*time.Duration(k)-time.Second, Deploying, before)
					check(interval*time.Duration(k), Deploying, steps[k-1])
				}
			}
			check(s.DeploymentDuration, Baking, 100)
			check(s.DeploymentDuration+s.FinalBakeTime-time.Second, Baking, 100)
			f.eval(start.Add(s.DeploymentDuration + s.FinalBakeTime))
			d := f.latest()
			if d.State != Complete || !d.CompletedAt.Equal(d.BakeEnd()) {
				t.Fatalf("after bake: %s completed %v, want COMPLETE at %v", d.State, d.CompletedAt, d.BakeEnd())
			}
			if got, _ := f.share(entities); got != 100 {
				t.Errorf("after COMPLETE %.2f%% on the new version, want 100", got)
			}
			// The ledger has the start, one entry per step, bake and complete.
			var steps2, deploys int
			for _, c := range f.changes() {
				switch c.Action {
				case ActionStep:
					steps2++
				case ActionDeploy:
					deploys++
				}
			}
			// first deployment: 1 step + bake + complete = 3; this one: len(steps) + bake + complete
			if want := 3 + len(steps) + 2; steps2 != want || deploys != 2 {
				t.Errorf("ledger: %d step entries, %d deploy entries; want %d and 2", steps2, deploys, want)
			}
		})
	}
}

// TestEntityResolution: during a deployment a context without an entity
// sees the old version; the entity may come from the entity attribute.
func TestEntityResolution(t *testing.T) {
	f := newFixture(t, Environment{})
	if v, known := f.svc.Bool("kill", "x"); v || known {
		t.Errorf("nothing deployed: Bool = %v, %v", v, known)
	}
	f.deploy(1, AllAtOnce, t0)
	f.eval(t0.Add(10 * time.Minute))
	f.deploy(2, Linear50PercentEvery30Seconds, t0.Add(time.Hour))
	f.eval(t0.Add(time.Hour + 30*time.Second))
	if r, err := f.svc.Evaluate("prod", "kill", EvalContext{}); err != nil || r.Version != 1 {
		t.Errorf("no entity: %+v, %v; want version 1", r, err)
	}
	// Find an entity on the new version; the attribute form agrees.
	for i := range 100 {
		e := "client-" + strconv.Itoa(i)
		if v, _ := f.svc.Bool("kill", e); !v {
			continue
		}
		r, err := f.svc.Evaluate("prod", "kill", EvalContext{Values: map[string]any{"entityId": e}})
		if err != nil || r.Version != 2 || !r.Enabled || r.Attributes["target"] != "new" {
			t.Errorf("entity via attribute: %+v, %v", r, err)
		}
		return
	}
	t.Fatal("no entity on the new version at 50%")
}
