package rollout

import (
	"testing"
)

// Every predefined strategy with the built-in comparison, on a stepped
// clock: no step is left, and nothing is promoted, before both targets have
// enough requests in the step's window; with them, each step gets its
// share for its time and the candidate is promoted at the end.
func TestPredefinedStrategiesNeverPromoteWithoutData(t *testing.T) {
	for _, name := range PredefinedNames() {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			sp := spec(name)
			sp.Analysis = &Analysis{MinSamples: 100}
			if _, err := e.ctrl.Start(bg, sp, t0); err != nil {
				t.Fatal(err)
			}
			steps := sp.Strategy.Steps
			now := t0
			for i, step := range steps[:len(steps)-1] {
				due := now.Add(step.Duration)
				if i == 0 { // time up, no data: the step waits, long past its time
					for _, at := range []int{0, 1, 3600} {
						st := e.eval(t, due.Add(sec(at)))
						if st.State != StateShifting || st.Step != 0 || st.CandidatePercent != step.Weight {
							t.Fatalf("no data, %ds past step 1's time: %s step %d at %v%%", at, st.State, st.Step, st.CandidatePercent)
						}
						if v := st.Steps[0].Verdict; v == nil || v.Result != VerdictInsufficient {
							t.Fatalf("no data: verdict %+v", v)
						}
					}
					due = due.Add(sec(3600 + 30))
				}
				// Enough requests on both sides within the step's window.
				e.traffic(t, "v1", due.Add(-sec(20)), 10, 30, 0, 10, 12)
				e.traffic(t, "v2", due.Add(-sec(20)), 10, 20, 0, 10, 12)
				if i > 0 { // step 1's time is long up: it moves as soon as the data is there
					if st := e.eval(t, due.Add(-sec(1))); st.Step != i {
						t.Fatalf("step %d left before its time", i+1)
					}
				}
				st := e.eval(t, due)
				if st.Step != i+1 || st.CandidatePercent != steps[i+1].Weight {
					t.Fatalf("with data at step %d's end: %s step %d at %v%% (%+v)", i+1, st.State, st.Step, st.CandidatePercent, st.Steps[i].Verdict)
				}
				if v := st.Steps[i].Verdict; v == nil || v.Result != VerdictPass || v.Candidate.Invocations < 100 {
					t.Fatalf("step %d passed on %+v", i+1, v)
				}
				now = due
			}
			if st := e.eval(t, now.Add(steps[len(steps)-1].Duration)); st.State != StatePromoted {
				t.Fatalf("end: %s %s", st.State, st.Reason)
			}
		})
	}
}
