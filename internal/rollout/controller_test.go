package rollout

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"holdfast/internal/alarm"
)

var bg = context.Background()

func TestHealthyCanaryIsPromoted(t *testing.T) {
	e := newEnv(t, nil)
	sp := spec("canary:10%:1m")
	sp.Analysis = &Analysis{MinSamples: 50}
	st, err := e.ctrl.Start(bg, sp, t0)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateShifting || st.CandidatePercent != 10 {
		t.Fatalf("after Start: %s at %v%%", st.State, st.CandidatePercent)
	}
	e.traffic(t, "v1", t0, 60, 90, 100, 10, 12, 15)
	e.traffic(t, "v2", t0, 60, 10, 100, 11, 12, 14)
	if st = e.eval(t, t0.Add(sec(30))); st.Steps[0].Verdict == nil || st.Steps[0].Verdict.Result != VerdictPass {
		t.Fatalf("verdict at 30s: %+v", st.Steps[0].Verdict)
	}
	st = e.eval(t, t0.Add(sec(60)))
	if st.Step != 1 || st.CandidatePercent != 100 {
		t.Fatalf("at 60s: step %d at %v%%", st.Step, st.CandidatePercent)
	}
	v := st.Steps[0].Verdict
	if v.Candidate.Invocations != 600 || v.Stable.Invocations != 5400 || v.Stable.Errors != 54 || !v.Candidate.HasP95 {
		t.Errorf("verdict numbers: %+v", v)
	}
	if st = e.eval(t, t0.Add(sec(61))); st.State != StatePromoted {
		t.Fatalf("at 61s: %s %s", st.State, st.Reason)
	}
	if got, want := fmtSplits(e.splits.list()), "[10 100]"; got != want {
		t.Errorf("splits %s, want %s", got, want)
	}
	if got, want := strings.Join(e.ledger.actions(), ","), "start,step,step,promote"; got != want {
		t.Errorf("ledger %s, want %s", got, want)
	}
	if !slices.Equal(e.splits.promoted, []string{"api=v2"}) {
		t.Errorf("promoted %v", e.splits.promoted)
	}
}

// Every predefined strategy, walked with a stepped clock and no analysis:
// the share at each step and the time it lasts are CodeDeploy's.
func TestPredefinedStrategiesWalk(t *testing.T) {
	for _, name := range PredefinedNames() {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			sp := spec(name)
			if _, err := e.ctrl.Start(bg, sp, t0); err != nil {
				t.Fatal(err)
			}
			now := t0
			for i, step := range sp.Strategy.Steps {
				st := e.eval(t, now)
				if st.State != StateShifting && !(st.State == StatePromoted && i == len(sp.Strategy.Steps)-1) {
					t.Fatalf("step %d: %s", i, st.State)
				}
				if st.CandidatePercent != step.Weight {
					t.Fatalf("step %d: share %v, want %v", i, st.CandidatePercent, step.Weight)
				}
				if step.Duration > 0 {
					if st := e.eval(t, now.Add(step.Duration-1)); st.Step != i {
						t.Fatalf("step %d left before its %v", i, step.Duration)
					}
				}
				now = now.Add(step.Duration)
			}
			if st := e.eval(t, now); st.State != StatePromoted {
				t.Fatalf("end: %s", st.State)
			}
		})
	}
}

func TestAlarmRollsBackWithinOneEval(t *testing.T) {
	am := newAlarms(t, "api-errors")
	e := newEnv(t, am)
	sp := spec("Linear10PercentEvery1Minute")
	sp.Alarms = []string{"api-errors"}
	if _, err := e.ctrl.Start(bg, sp, t0); err != nil {
		t.Fatal(err)
	}
	e.eval(t, t0.Add(sec(60)))
	if err := am.SetState("api-errors", alarm.StateAlarm, "errors above 1", t0.Add(sec(70))); err != nil {
		t.Fatal(err)
	}
	st := e.eval(t, t0.Add(sec(71)))
	if st.State != StateRolledBack || !strings.Contains(st.Reason, `alarm "api-errors" is in ALARM`) {
		t.Fatalf("%s: %s", st.State, st.Reason)
	}
	if got, want := fmtSplits(e.splits.list()), "[10 20 0]"; got != want {
		t.Errorf("splits %s, want %s", got, want)
	}
	if got := e.ledger.actions(); got[len(got)-1] != ActionRollback {
		t.Errorf("ledger %v", got)
	}
}

func TestAlarmActionRollsBackWithoutEval(t *testing.T) {
	am := newAlarms(t, "api-errors", "other")
	e := newEnv(t, am)
	if err := am.Subscribe("rollouts", e.ctrl); err != nil {
		t.Fatal(err)
	}
	sp := spec("Canary10Percent5Minutes")
	sp.Alarms = []string{"api-errors"}
	if _, err := e.ctrl.Start(bg, sp, t0); err != nil {
		t.Fatal(err)
	}
	am.SetState("other", alarm.StateAlarm, "not ours", t0.Add(sec(5)))
	am.SetState("api-errors", alarm.StateAlarm, "5xx", t0.Add(sec(10)))
	waitFor(t, "rollback by the alarm action", func() bool {
		st, _ := e.ctrl.Status("api")
		return st.State == StateRolledBack
	})
	st, _ := e.ctrl.Status("api")
	if got, want := fmtSplits(e.splits.list()), "[10 0]"; got != want || !st.Ended.Equal(t0.Add(sec(10))) {
		t.Errorf("splits %s (want %s), ended %v: %s", got, want, st.Ended, st.Reason)
	}
}

func TestAnalysisFailsOnCandidateErrors(t *testing.T) {
	e := newEnv(t, nil)
	sp := spec("canary:10%:5m")
	sp.Analysis = &Analysis{MinSamples: 100, ErrorRateMargin: 0.02}
	e.ctrl.Start(bg, sp, t0)
	e.traffic(t, "v1", t0, 20, 90, 100, 10) // 1 % errors
	e.traffic(t, "v2", t0, 20, 10, 5, 10)   // 20 % errors
	st := e.eval(t, t0.Add(sec(20)))
	if st.State != StateRolledBack || !strings.Contains(st.Reason, "error rate 20% vs stable 1% exceeds the 2% margin") {
		t.Fatalf("%s: %s", st.State, st.Reason)
	}
	v := st.Steps[0].Verdict
	if v.Result != VerdictFail || v.Candidate.Errors != 40 || v.Candidate.Invocations != 200 {
		t.Errorf("verdict %+v", v)
	}
	if got, want := fmtSplits(e.splits.list()), "[10 0]"; got != want {
		t.Errorf("splits %s, want %s", got, want)
	}
}

func TestAnalysisFailsOnCandidateLatency(t *testing.T) {
	e := newEnv(t, nil)
	sp := spec("canary:10%:5m")
	sp.Analysis = &Analysis{MinSamples: 100}
	e.ctrl.Start(bg, sp, t0)
	e.traffic(t, "v1", t0, 20, 90, 0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100) // p95 ≈ 100
	e.traffic(t, "v2", t0, 20, 10, 0, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150)
	st := e.eval(t, t0.Add(sec(20)))
	if st.State != StateRolledBack || !strings.Contains(st.Reason, "p95 150.") {
		t.Fatalf("%s: %s", st.State, st.Reason)
	}
	v := st.Steps[0].Verdict
	if v.Stable.P95 < 98 || v.Stable.P95 > 102 || v.Candidate.P95 < 147 || v.Candidate.P95 > 153 {
		t.Errorf("p95 stable %v candidate %v, want ≈100 and ≈150", v.Stable.P95, v.Candidate.P95)
	}
}

func TestInsufficientSamplesWait(t *testing.T) {
	e := newEnv(t, nil)
	sp := spec("canary:10%:1m")
	sp.Analysis = &Analysis{MinSamples: 100, MaxWait: 5 * 60e9}
	e.ctrl.Start(bg, sp, t0)
	e.traffic(t, "v1", t0, 60, 20, 0, 10)
	e.traffic(t, "v2", t0, 60, 1, 0, 10) // 60 < 100
	st := e.eval(t, t0.Add(sec(60)))
	if st.State != StateShifting || st.Step != 0 || st.Steps[0].Verdict.Result != VerdictInsufficient {
		t.Fatalf("%s step %d %+v", st.State, st.Step, st.Steps[0].Verdict)
	}
	if st = e.eval(t, t0.Add(sec(120))); st.Step != 0 || st.CandidatePercent != 10 {
		t.Fatalf("moved on without data: step %d %v%%", st.Step, st.CandidatePercent)
	}
	if !slices.ContainsFunc(st.History, func(ev Event) bool { return ev.Action == EventExtend }) {
		t.Error("no extend event in history")
	}
	if st = e.eval(t, t0.Add(sec(60+300))); st.State != StatePaused || !strings.Contains(st.Reason, "no passing analysis") {
		t.Fatalf("after MaxWait: %s %s", st.State, st.Reason)
	}
	e.ctrl.Resume(bg, "api", "bob", "more traffic coming", t0.Add(sec(400)))
	e.traffic(t, "v2", t0.Add(sec(400)), 50, 1, 0, 10)
	if st = e.eval(t, t0.Add(sec(450))); st.Step != 1 || st.CandidatePercent != 100 {
		t.Fatalf("with enough data: %s step %d %v", st.State, st.Step, st.Steps[0].Verdict)
	}
	if got, want := fmtSplits(e.splits.list()), "[10 100]"; got != want {
		t.Errorf("splits %s, want %s", got, want)
	}
}

func TestPauseResumeAbortPromote(t *testing.T) {
	e := newEnv(t, nil)
	e.ctrl.Start(bg, spec("canary:10%:10m"), t0)
	st, err := e.ctrl.Pause(bg, "api", "bob", "looking", t0.Add(sec(60)))
	if err != nil || st.State != StatePaused {
		t.Fatalf("pause: %v %s", err, st.State)
	}
	if _, err := e.ctrl.Pause(bg, "api", "bob", "", t0.Add(sec(61))); !errors.Is(err, ErrState) {
		t.Errorf("second pause: %v", err)
	}
	if st = e.eval(t, t0.Add(sec(20*60))); st.Step != 0 || st.State != StatePaused {
		t.Fatalf("paused rollout moved: %s step %d", st.State, st.Step)
	}
	e.ctrl.Resume(bg, "api", "bob", "fine", t0.Add(sec(20*60)))
	// 60 s had run before the pause: 9 minutes are left.
	if st = e.eval(t, t0.Add(sec(20*60+9*60-1))); st.Step != 0 {
		t.Fatal("step ended early after resume")
	}
	if st = e.eval(t, t0.Add(sec(20*60+9*60))); st.Step != 1 {
		t.Fatalf("step did not end on time after resume: step %d", st.Step)
	}

	e2 := newEnv(t, nil)
	e2.ctrl.Start(bg, spec("Linear10PercentEvery10Minutes"), t0)
	st, err = e2.ctrl.Promote(bg, "api", "carol", "urgent fix", t0.Add(sec(5)))
	if err != nil || st.State != StatePromoted {
		t.Fatalf("promote: %v %s", err, st.State)
	}
	if got, want := fmtSplits(e2.splits.list()), "[10 100]"; got != want {
		t.Errorf("splits %s, want %s", got, want)
	}

	e3 := newEnv(t, nil)
	e3.ctrl.Start(bg, spec("Linear10PercentEvery1Minute"), t0)
	e3.eval(t, t0.Add(sec(60)))
	st, err = e3.ctrl.Abort(bg, "api", "dave", "wrong build", t0.Add(sec(61)))
	if err != nil || st.State != StateAborted || st.CandidatePercent != 0 {
		t.Fatalf("abort: %v %s %v", err, st.State, st.CandidatePercent)
	}
	if _, err := e3.ctrl.Abort(bg, "api", "dave", "", t0.Add(sec(62))); !errors.Is(err, ErrState) {
		t.Errorf("second abort: %v", err)
	}
	if got, want := strings.Join(e3.ledger.actions(), ","), "start,step,step,abort"; got != want {
		t.Errorf("ledger %s, want %s", got, want)
	}
	if e3.ledger.got[3].Actor != "dave" || !strings.Contains(e3.ledger.got[3].Reason, "wrong build") {
		t.Errorf("abort entry %+v", e3.ledger.got[3])
	}
}

func TestOneRolloutPerRoute(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := e.ctrl.Start(bg, spec("Canary10Percent5Minutes"), t0); err != nil {
		t.Fatal(err)
	}
	_, err := e.ctrl.Start(bg, spec("AllAtOnce"), t0.Add(sec(1)))
	var ip *InProgressError
	if !errors.As(err, &ip) || !errors.Is(err, ErrInProgress) || ip.State != StateShifting {
		t.Fatalf("second Start: %v", err)
	}
	if got, want := fmtSplits(e.splits.list()), "[10]"; got != want {
		t.Errorf("splits %s, want %s: the rejected rollout moved traffic", got, want)
	}
	e.ctrl.Abort(bg, "api", "bob", "", t0.Add(sec(2)))
	if _, err := e.ctrl.Start(bg, spec("AllAtOnce"), t0.Add(sec(3))); err != nil {
		t.Fatalf("Start after abort: %v", err)
	}
}

func TestStartRejectsBadSpecs(t *testing.T) {
	am := newAlarms(t, "known")
	e := newEnv(t, am)
	tests := []struct {
		edit func(*Spec)
		want string
	}{
		{func(s *Spec) { s.Candidate = "v1" }, `candidate "v1": it is already the stable target`},
		{func(s *Spec) { s.Strategy = Strategy{} }, "strategy: none given; use one of Canary10Percent5Minutes"},
		{func(s *Spec) { s.Alarms = []string{"nope"} }, `alarms: status of "nope": unknown alarm`},
		{func(s *Spec) { s.PreTrafficHook = &Hook{URL: "ftp://x"} }, "pre_traffic_hook.url"},
		{func(s *Spec) { s.Analysis = &Analysis{MinSamples: -1} }, "analysis.min_samples"},
		{func(s *Spec) { s.Strategy.Steps = []Step{{120, 0}} }, "outside (0, 100]"},
	}
	for _, tt := range tests {
		sp := spec("Canary10Percent5Minutes")
		tt.edit(&sp)
		if _, err := e.ctrl.Start(bg, sp, t0); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Start = %v, want %q", err, tt.want)
		}
	}
	if len(e.splits.list()) != 0 || len(e.ledger.actions()) != 0 {
		t.Errorf("rejected starts changed something: %v %v", e.splits.list(), e.ledger.actions())
	}
}

func TestRefusedRollbackIsRetried(t *testing.T) {
	e := newEnv(t, nil)
	e.ctrl.Start(bg, spec("Canary10Percent5Minutes"), t0)
	e.splits.mu.Lock()
	e.splits.fail = errors.New("gateway reloading")
	e.splits.mu.Unlock()
	st, _ := e.ctrl.Abort(bg, "api", "bob", "", t0.Add(sec(1)))
	if st.SplitError == "" {
		t.Fatal("no split error shown")
	}
	if _, err := e.ctrl.Start(bg, spec("AllAtOnce"), t0.Add(sec(2))); !errors.Is(err, ErrInProgress) {
		t.Errorf("Start while the rollback is not applied: %v", err)
	}
	e.splits.mu.Lock()
	e.splits.fail = nil
	e.splits.mu.Unlock()
	if st = e.eval(t, t0.Add(sec(3))); st.CandidatePercent != 0 || st.SplitError != "" {
		t.Errorf("after retry: %v%% %q", st.CandidatePercent, st.SplitError)
	}
}
