package flagstore

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"holdfast/internal/alarm"
)

func TestAlarmRollback(t *testing.T) {
	s := Linear20PercentEvery6Minutes
	start := t0.Add(time.Hour)
	tests := []struct {
		name       string
		env        Environment
		alarmName  string
		to         alarm.State
		at         time.Duration // after start
		wantState  State
		wantAction string // ledger action of the last entry, "" for none
	}{
		{"alarm while deploying", Environment{Monitors: []string{"errors"}}, "errors", alarm.StateAlarm, 13 * time.Minute, RollingBack, ActionRollback},
		{"alarm while baking", Environment{Monitors: []string{"errors"}}, "errors", alarm.StateAlarm, 45 * time.Minute, RollingBack, ActionRollback},
		{"unmonitored alarm", Environment{Monitors: []string{"errors"}}, "latency", alarm.StateAlarm, 13 * time.Minute, Deploying, ""},
		{"OK is nothing", Environment{Monitors: []string{"errors"}}, "errors", alarm.StateOK, 13 * time.Minute, Deploying, ""},
		{"insufficient data ignored by default", Environment{Monitors: []string{"errors"}}, "errors", alarm.StateInsufficientData, 13 * time.Minute, Deploying, ""},
		{"insufficient data rolls back when set", Environment{Monitors: []string{"errors"}, OnInsufficientData: RollbackOnInsufficientData},
			"errors", alarm.StateInsufficientData, 45 * time.Minute, RollingBack, ActionRollback},
		{"revert inside the window", Environment{Monitors: []string{"errors"}}, "errors", alarm.StateAlarm, time.Hour + 6*24*time.Hour, Reverted, ActionRevert},
		{"no revert at the window's end", Environment{Monitors: []string{"errors"}}, "errors", alarm.StateAlarm, time.Hour + 7*24*time.Hour, Complete, ""},
		{"custom window", Environment{Monitors: []string{"errors"}, RollbackWindow: time.Hour}, "errors", alarm.StateAlarm, time.Hour + 59*time.Minute, Reverted, ActionRevert},
		{"window disabled", Environment{Monitors: []string{"errors"}, RollbackWindow: -1}, "errors", alarm.StateAlarm, time.Hour + time.Minute, Complete, ""},
		{"insufficient data reverts when set", Environment{Monitors: []string{"errors"}, OnInsufficientData: RollbackOnInsufficientData},
			"errors", alarm.StateInsufficientData, 2 * time.Hour, Reverted, ActionRevert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.env)
			f.deploy(1, AllAtOnce, t0)
			f.eval(t0.Add(time.Hour - time.Second))
			f.deploy(2, s, start)
			f.eval(start.Add(tt.at))
			before := len(f.changes())
			f.fire(tt.alarmName, tt.to, start.Add(tt.at))
			d := f.latest()
			if d.State != tt.wantState {
				t.Fatalf("state = %s, want %s", d.State, tt.wantState)
			}
			cs := f.changes()
			if tt.wantAction == "" {
				if len(cs) != before {
					t.Fatalf("ledger grew by %d entries, want none: %+v", len(cs)-before, cs[before:])
				}
				return
			}
			if len(cs) != before+1 {
				t.Fatalf("ledger grew by %d entries, want 1", len(cs)-before)
			}
			c := cs[len(cs)-1]
			if c.Action != tt.wantAction || c.Kind != "flag" || c.Subject != "shop/prod/flags" || c.Actor != "alarm/"+tt.alarmName ||
				!strings.Contains(c.Reason, "alarm errors went to "+string(tt.to)) || !strings.Contains(c.Reason, "7 errors > 2") {
				t.Errorf("ledger entry = %+v", c)
			}
			// Everyone is on version 1 (kill off) at once.
			if got, _ := f.share(2000); got != 0 {
				t.Errorf("%.2f%% still on the new version", got)
			}
			if tt.wantState == RollingBack {
				f.eval(start.Add(tt.at + time.Second))
				if got := f.latest().State; got != RolledBack {
					t.Errorf("after Eval: %s, want ROLLED_BACK", got)
				}
			}
			// A new deployment is allowed again.
			f.deploy(2, AllAtOnce, start.Add(tt.at+time.Minute))
		})
	}
}

func TestStopRevertAndErrors(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Environment{Monitors: []string{"errors"}})
	if _, err := f.svc.Revert(ctx, "prod", "bob", "x", t0); !errors.Is(err, ErrCannotRevert) {
		t.Errorf("revert with nothing deployed = %v", err)
	}
	f.deploy(1, Linear50PercentEvery30Seconds, t0)
	if _, err := f.svc.StartDeployment(ctx, DeployRequest{Environment: "prod", Version: 2, Strategy: AllAtOnce}, t0.Add(time.Second)); !errors.Is(err, ErrDeploymentInProgress) {
		t.Errorf("second deployment = %v, want ErrDeploymentInProgress", err)
	}
	if _, err := f.svc.Revert(ctx, "prod", "bob", "x", t0); !errors.Is(err, ErrCannotRevert) {
		t.Errorf("revert while deploying = %v", err)
	}
	f.eval(t0.Add(2 * time.Minute))
	if _, err := f.svc.Revert(ctx, "prod", "bob", "x", t0.Add(3*time.Minute)); !errors.Is(err, ErrCannotRevert) {
		t.Errorf("revert of the first version = %v, want ErrCannotRevert (no previous version)", err)
	}
	// Stop a deployment of version 2 half way.
	f.deploy(2, Linear50PercentEvery30Seconds, t0.Add(time.Hour))
	f.eval(t0.Add(time.Hour + 40*time.Second))
	if got, _ := f.share(4000); got < 45 || got > 55 {
		t.Fatalf("half way: %.1f%% on", got)
	}
	d, err := f.svc.Stop(ctx, "prod", "bob", "customers complain", t0.Add(time.Hour+45*time.Second))
	if err != nil || d.State != RolledBack {
		t.Fatalf("Stop = %+v, %v", d, err)
	}
	if got, _ := f.share(4000); got != 0 {
		t.Errorf("after stop %.1f%% on", got)
	}
	if _, err := f.svc.Stop(ctx, "prod", "bob", "again", t0.Add(time.Hour+46*time.Second)); !errors.Is(err, ErrNoDeployment) {
		t.Errorf("second stop = %v", err)
	}
	// Deploy again, complete, and revert by hand after the window.
	f.deploy(2, AllAtOnce, t0.Add(2*time.Hour))
	f.eval(t0.Add(2*time.Hour + 10*time.Minute))
	if v, known := f.svc.Bool("kill", "anyone"); !v || !known {
		t.Fatalf("Bool after COMPLETE = %v, %v", v, known)
	}
	d, err = f.svc.Revert(ctx, "prod", "bob", "rollback drill", t0.Add(30*24*time.Hour))
	if err != nil || d.State != Reverted || d.FromVersion != 1 {
		t.Fatalf("Revert = %+v, %v", d, err)
	}
	if v, known := f.svc.Bool("kill", "anyone"); v || !known {
		t.Errorf("Bool after revert = %v, %v", v, known)
	}
	if _, err := f.svc.Revert(ctx, "prod", "bob", "again", t0.Add(31*24*time.Hour)); !errors.Is(err, ErrCannotRevert) {
		t.Errorf("second revert = %v", err)
	}
	// Unknown things.
	if _, err := f.svc.StartDeployment(ctx, DeployRequest{Environment: "prod", Version: 9, Strategy: AllAtOnce}, t0); !errors.Is(err, ErrUnknownVersion) {
		t.Errorf("unknown version = %v", err)
	}
	if _, err := f.svc.StartDeployment(ctx, DeployRequest{Environment: "qa", Version: 1, Strategy: AllAtOnce}, t0); !errors.Is(err, ErrUnknownEnvironment) {
		t.Errorf("unknown environment = %v", err)
	}
	bad := Strategy{GrowthType: Linear, GrowthFactor: 0}
	if _, err := f.svc.StartDeployment(ctx, DeployRequest{Environment: "prod", Version: 1, Strategy: bad}, t0); !errors.Is(err, ErrInvalidStrategy) {
		t.Errorf("bad strategy = %v", err)
	}
	if n := len(f.svc.Versions()); n != 2 {
		t.Errorf("versions = %d", n)
	}
}

// TestAlarmManagerRollsBack subscribes the service to a real alarm Manager
// and forces the alarm; the action runs on the manager's goroutine, so the
// test polls with a deadline.
func TestAlarmManagerRollsBack(t *testing.T) {
	f := newFixture(t, Environment{Monitors: []string{"errors"}})
	f.deploy(1, AllAtOnce, t0)
	f.eval(t0.Add(11 * time.Minute))
	start := t0.Add(time.Hour)
	f.deploy(2, Canary10Percent20Minutes, start)
	f.eval(start.Add(9 * time.Minute))

	m := alarm.NewManager(alarm.SourceFunc(func(context.Context, *alarm.Definition, time.Time, time.Time) ([]alarm.Datapoint, error) {
		return nil, nil
	}), alarm.ManagerOptions{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { m.Close() })
	def := alarm.Definition{Name: "errors", Metric: &alarm.MetricStat{Namespace: "holdfast", MetricName: "Errors", Statistic: "Sum"},
		Period: time.Minute, EvaluationPeriods: 1, ComparisonOperator: alarm.GreaterThanThreshold, Threshold: 2, SettleDelay: -1}
	if err := m.Update(start, []alarm.Definition{def}, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Subscribe("flagstore", f.svc, f.svc.MonitoredAlarms()...); err != nil {
		t.Fatal(err)
	}
	if err := m.SetState("errors", alarm.StateAlarm, "error rate 12% > 5%", start.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.latest().State != RollingBack {
		if time.Now().After(deadline) {
			t.Fatalf("state = %s, want ROLLING_BACK", f.latest().State)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cs := f.changes()
	if c := cs[len(cs)-1]; c.Action != ActionRollback || !strings.Contains(c.Reason, "error rate 12% > 5%") {
		t.Errorf("last ledger entry = %+v", c)
	}
}

// TestEvalPollsAlarmState: with Config.AlarmState, Eval rolls back a
// deployment whose monitored alarm is already in ALARM (no transition was
// seen), and ignores INSUFFICIENT_DATA by default.
func TestEvalPollsAlarmState(t *testing.T) {
	f := newFixture(t, Environment{Monitors: []string{"errors", "latency"}})
	states := map[string]alarm.State{"errors": alarm.StateOK, "latency": alarm.StateInsufficientData}
	svc, err := New(Config{App: "shop", Profile: "flags", DefaultEnvironment: "prod", Logger: quiet,
		AlarmState: func(n string) (alarm.State, bool) { s, ok := states[n]; return s, ok }}, f.store)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	f.deploy(1, AllAtOnce, t0)
	f.eval(t0.Add(10 * time.Minute))
	start := t0.Add(time.Hour)
	f.deploy(2, Canary10Percent20Minutes, start)
	f.eval(start.Add(5 * time.Minute))
	if d := f.latest(); d.State != Deploying || d.Percent != 10 {
		t.Fatalf("with INSUFFICIENT_DATA ignored: %s %g%%", d.State, d.Percent)
	}
	states["errors"] = alarm.StateAlarm
	f.eval(start.Add(6 * time.Minute))
	d := f.latest()
	if d.State != RollingBack || !strings.Contains(d.Reason, "alarm errors went to ALARM") {
		t.Fatalf("after polling ALARM: %s (%s)", d.State, d.Reason)
	}
	f.eval(start.Add(7 * time.Minute))
	if d := f.latest(); d.State != RolledBack {
		t.Fatalf("state = %s, want ROLLED_BACK", d.State)
	}
}
