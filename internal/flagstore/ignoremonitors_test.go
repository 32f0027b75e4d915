package flagstore

import (
	"context"
	"testing"
	"time"

	"holdfast/internal/alarm"
)

// TestIgnoreMonitors: a deployment that ignores monitors completes without
// a bake, is neither rolled back nor reverted by an alarm (fired or
// polled), and leaves no rollback window.
func TestIgnoreMonitors(t *testing.T) {
	f := newFixture(t, Environment{Monitors: []string{"errors"}})
	f.svc.cfg.AlarmState = func(string) (alarm.State, bool) { return alarm.StateAlarm, true }
	f.deploy(1, AllAtOnce, t0)
	d, err := f.svc.StartDeployment(context.Background(), DeployRequest{Environment: "prod", Version: 2,
		Strategy: AllAtOnce, Actor: "oncall", IgnoreMonitors: true}, t0)
	if err == nil {
		t.Fatal("a second deployment started while the first bakes")
	}
	f.svc.cfg.AlarmState = nil
	f.fire("errors", alarm.StateAlarm, t0.Add(time.Second)) // rolls deployment 1 back
	f.eval(t0.Add(2 * time.Second))
	f.svc.cfg.AlarmState = func(string) (alarm.State, bool) { return alarm.StateAlarm, true }
	d, err = f.svc.StartDeployment(context.Background(), DeployRequest{Environment: "prod", Version: 2,
		Strategy: AllAtOnce, Actor: "oncall", IgnoreMonitors: true}, t0.Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if d.State != Complete || !d.CompletedAt.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("deployment = %s completed %v; want COMPLETE at once", d.State, d.CompletedAt)
	}
	f.eval(t0.Add(4 * time.Second)) // polls the alarm, in ALARM
	f.fire("errors", alarm.StateAlarm, t0.Add(5*time.Second))
	if got := f.latest(); got.State != Complete {
		t.Fatalf("alarm changed the operator's deployment to %s", got.State)
	}
	if v, _ := f.svc.Bool("kill", "anyone"); !v {
		t.Fatal("the operator's version is not served")
	}
	if st, _ := f.svc.Status("prod"); !st.RevertUntil.IsZero() {
		t.Errorf("RevertUntil = %v, want none", st.RevertUntil)
	}
}
