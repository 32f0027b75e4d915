package rollout

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// renderEvents is how many recent history events Render shows.
const renderEvents = 5

// Render draws a rollout for a terminal `holdfast rollout watch`: a bar of
// the candidate's traffic share, the step table with timers and the latest
// verdicts, and the most recent events. It is pure (times are taken from
// the status, AsOf being "now") and no line is wider than width (minimum
// 40).
func Render(s Status, width int) string {
	width = max(width, 40)
	var b strings.Builder
	line := func(f string, a ...any) {
		l := fmt.Sprintf(f, a...)
		if utf8.RuneCountInString(l) > width {
			l = string([]rune(l)[:width-1]) + "…"
		}
		b.WriteString(strings.TrimRight(l, " "))
		b.WriteByte('\n')
	}
	state := string(s.State)
	if s.PausedFrom != "" {
		state += " (from " + string(s.PausedFrom) + ")"
	}
	line("%s  %s  route %s", s.ID, state, s.Route)
	line("%s -> %s  strategy %s", s.Stable, s.Candidate, s.Strategy)

	label := fmt.Sprintf(" %5.1f%% candidate", s.CandidatePercent)
	barW := width - 2 - len(label)
	fill := int(s.CandidatePercent/100*float64(barW) + 0.5)
	fill = min(max(fill, 0), barW)
	line("[%s%s]%s", strings.Repeat("#", fill), strings.Repeat(".", barW-fill), label)

	if s.Reason != "" {
		line("reason: %s", s.Reason)
	}
	if s.Hook != "" {
		line("hook: %s running", s.Hook)
	}
	if s.SplitError != "" {
		line("gateway: %s", s.SplitError)
	}
	if !s.StepDue.IsZero() && s.Step >= 0 {
		left := s.StepDue.Sub(s.AsOf)
		timer := fmtDur(left) + " left"
		if left < 0 {
			timer = "time up " + fmtDur(-left) + " ago, waiting for analysis"
		}
		line("step %d/%d at %s: %s in, %s", s.Step+1, len(s.Steps), fmtPct(s.Steps[s.Step].Weight), fmtDur(s.AsOf.Sub(s.StepStarted)), timer)
	}

	line("%-4s %7s %8s %8s  %s", "step", "weight", "hold", "ran", "analysis")
	for i, st := range s.Steps {
		mark := " "
		switch {
		case i == s.Step && !s.State.Terminal():
			mark = ">"
		case !st.Ended.IsZero():
			mark = "*"
		}
		ran := ""
		switch {
		case !st.Started.IsZero() && !st.Ended.IsZero():
			ran = fmtDur(st.Ended.Sub(st.Started))
		case !st.Started.IsZero():
			ran = fmtDur(s.AsOf.Sub(st.Started))
		}
		verdict := ""
		if v := st.Verdict; v != nil {
			verdict = string(v.Result)
			if v.Result != VerdictSkipped {
				verdict += fmt.Sprintf(" (n=%.0f/%.0f) %s", v.Candidate.Invocations, v.Stable.Invocations, v.Reason)
			}
		}
		line("%s%-3d %7s %8s %8s  %s", mark, i+1, fmtPct(st.Weight), fmtDur(st.Duration), ran, verdict)
	}
	if n := len(s.History); n > 0 {
		line("recent:")
		for _, e := range s.History[max(n-renderEvents, 0):] {
			line("  %s %-8s %s", e.Time.UTC().Format("15:04:05"), e.Action, e.Message)
		}
	}
	return b.String()
}

// fmtDur formats a duration to whole seconds: 4m30s, 1h2m0s, 0s.
func fmtDur(d time.Duration) string {
	return d.Truncate(time.Second).String()
}
