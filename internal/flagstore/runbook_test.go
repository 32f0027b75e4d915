package flagstore

import (
	"strings"
	"testing"
	"time"
)

func TestRunbook(t *testing.T) {
	f := newFixture(t, Environment{Monitors: []string{"errors", "latency"}})
	f.deploy(1, AllAtOnce, t0)
	f.eval(t0.Add(10 * time.Minute))
	f.deploy(2, AllAtOnce, t0.Add(time.Hour))
	f.eval(t0.Add(time.Hour + 10*time.Minute))
	got := f.svc.Runbook("prod", "kill")
	for _, want := range []string{
		`RUNBOOK: flag "kill" in shop/prod/flags`,
		"Routes orders to the new cluster when on.",
		"enabled: true",
		"target: new",
		"holdfast flags deploy --env prod --version N --strategy AllAtOnce",
		"holdfast flags revert --env prod",
		"Monitored alarms: errors, latency.",
		"For 7 days after a deployment completes, an ALARM still reverts it",
		"INSUFFICIENT_DATA is ignored.",
		"automatic revert to version 1 applies until 2026-03-08T13:10:00Z",
		"Last changed by alice",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("runbook lacks %q:\n%s", want, got)
		}
	}
	if got := f.svc.Runbook("prod", "nope"); !strings.Contains(got, "not in the version deployed") {
		t.Errorf("runbook of an unknown flag:\n%s", got)
	}
	if got := f.svc.Runbook("qa", "kill"); !strings.Contains(got, "unknown environment") {
		t.Errorf("runbook of an unknown environment:\n%s", got)
	}
}
