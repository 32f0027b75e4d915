package rollout

import (
	"fmt"
	"strings"
)

// Line is a one-line summary of a rollout, for logs and for `holdfast
// rollout watch` when its output is not a terminal: the time, the state,
// the candidate's share, the step and its timer, the latest verdict and
// the latest event. Like Render it is pure; AsOf is "now".
func Line(s Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s %s->%s %s", s.AsOf.UTC().Format("15:04:05"), s.Route, s.State, s.Stable, s.Candidate, fmtPct(s.CandidatePercent))
	if s.Step >= 0 && s.Step < len(s.Steps) {
		fmt.Fprintf(&b, " step %d/%d", s.Step+1, len(s.Steps))
		if !s.StepDue.IsZero() {
			if left := s.StepDue.Sub(s.AsOf); left >= 0 {
				fmt.Fprintf(&b, " (%s left)", fmtDur(left))
			} else {
				b.WriteString(" (waiting for analysis)")
			}
		}
		if v := s.Steps[s.Step].Verdict; v != nil {
			fmt.Fprintf(&b, " analysis %s", v.Result)
			if v.Result != VerdictSkipped {
				fmt.Fprintf(&b, " (n=%.0f/%.0f)", v.Candidate.Invocations, v.Stable.Invocations)
			}
		}
	}
	if s.Hook != "" {
		fmt.Fprintf(&b, " hook %s running", s.Hook)
	}
	if n := len(s.History); n > 0 {
		e := s.History[n-1]
		fmt.Fprintf(&b, " | %s: %s", e.Action, strings.Join(strings.Fields(e.Message), " "))
	}
	return b.String()
}
