package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"holdfast/internal/alarm"
)

// deps are what a rollout needs from its controller.
type deps struct {
	traffic      TrafficSetter
	alarms       AlarmStates
	client       *http.Client
	ctx          context.Context // parent of hook calls; cancelled by Close
	track        func(int)       // counts hook goroutines
	historyLimit int
}

// rollout is one rollout's state machine. Every method runs with mu held.
type rollout struct {
	mu       sync.Mutex
	spec     Spec
	id       string
	analysis *Analysis // with defaults; nil: alarms only
	steps    []StepStatus

	state, pausedFrom State
	reason            string
	step              int       // -1 before the first shift
	stepStart         time.Time // timer origin, moved forward by paused time; zero until the split is applied
	windowStart       time.Time // when the step's weight took effect: the analysis window start
	pausedAt          time.Time
	waitFrom          time.Time // when the step began waiting for data
	lastAnalysis      time.Time

	want, applied float64 // candidate share wanted and last accepted by the gateway
	splitOK       bool    // the gateway accepted want
	splitErr      string

	hook          *hookRun
	manualPromote bool
	promoteActor  string

	started, ended, asOf time.Time
	history              []Event
	pending              []LedgerEntry // written by the controller outside mu
}

func newRollout(spec Spec, id string, a *Analysis, now time.Time) *rollout {
	steps := make([]StepStatus, len(spec.Strategy.Steps))
	for i, s := range spec.Strategy.Steps {
		steps[i] = StepStatus{Weight: s.Weight, Duration: s.Duration}
	}
	if spec.Bake > 0 {
		steps[len(steps)-1].Duration = spec.Bake
	}
	return &rollout{spec: spec, id: id, analysis: a, steps: steps, state: StatePending, step: -1,
		splitOK: true, started: now, asOf: now}
}

func (r *rollout) event(now time.Time, action, msg string, v *Verdict) {
	w := 0.0
	if r.step >= 0 {
		w = r.steps[r.step].Weight
	}
	r.history = append(r.history, Event{Time: now, Action: action, Step: r.step, Weight: w, Message: msg, Verdict: v})
}

// record adds a ledger entry and the matching history event.
func (r *rollout) record(now time.Time, action, actor, reason string, v *Verdict) {
	r.event(now, action, reason, v)
	d := ledgerDetail{RolloutID: r.id, Stable: r.spec.Stable, Candidate: r.spec.Candidate,
		Strategy: r.spec.Strategy.Name, Steps: len(r.steps), Weight: r.want, Verdict: v}
	if r.step >= 0 {
		d.Step = r.step + 1
	}
	detail, _ := json.Marshal(d)
	r.pending = append(r.pending, LedgerEntry{Time: now, Kind: LedgerKind, Subject: r.spec.Route,
		Action: action, Actor: actor, Reason: reason, Detail: detail})
}

func (r *rollout) trimHistory(limit int) {
	if limit > 0 && len(r.history) > limit {
		r.history = slices.Delete(r.history, 0, len(r.history)-limit)
	}
}

// eval advances the state machine to now. v is a comparison made for the
// current step since the last eval, or nil.
func (r *rollout) eval(now time.Time, d *deps, v *Verdict) {
	if now.After(r.asOf) {
		r.asOf = now
	}
	if r.state.Terminal() {
		if !r.splitOK && r.state != StatePromoted {
			r.applySplit(now, d) // a rollback the gateway refused: keep trying
		}
		return
	}
	if r.state != StatePending {
		if reason, bad := r.checkAlarms(d); bad {
			r.rollback(now, d, ActionRollback, SystemActor, reason)
			return
		}
	}
	switch r.state {
	case StatePending:
		if h := r.spec.PreTrafficHook; h != nil {
			r.state = StatePreTrafficHook
			r.startHook(now, d, *h, PhasePreTraffic)
			return
		}
		r.shift(now, d, 0, SystemActor, "first step")
	case StatePreTrafficHook:
		if ok := r.hookDone(now, d); ok {
			r.shift(now, d, 0, SystemActor, "pre-traffic hook passed")
		}
	case StateShifting, StatePaused:
		r.evalShifting(now, d, v)
	case StatePostTrafficHook:
		if r.hook == nil || r.hookDone(now, d) {
			r.finish(now, d)
		}
	}
}

func (r *rollout) startHook(now time.Time, d *deps, h Hook, phase HookPhase) {
	p := HookPayload{RolloutID: r.id, Route: r.spec.Route, Stable: r.spec.Stable, Candidate: r.spec.Candidate,
		Phase: phase, Strategy: r.spec.Strategy.Name}
	r.hook = startHook(d.ctx, d.client, h, p, now, d.track)
	r.event(now, EventHook, fmt.Sprintf("%s hook started: POST %s", phase, h.URL), nil)
}

// hookDone reports whether the running hook passed; a failed hook rolls
// the rollout back.
func (r *rollout) hookDone(now time.Time, d *deps) bool {
	done, err := r.hook.result()
	if !done {
		return false
	}
	phase := r.hook.phase
	r.hook = nil
	if err != nil {
		r.rollback(now, d, ActionRollback, SystemActor, fmt.Sprintf("%s hook failed: %v", phase, err))
		return false
	}
	r.event(now, EventHook, fmt.Sprintf("%s hook passed", phase), nil)
	return true
}

// checkAlarms returns why the rollout must roll back, if it must.
func (r *rollout) checkAlarms(d *deps) (string, bool) {
	for _, name := range r.spec.Alarms {
		st, err := d.alarms.Status(name)
		if err != nil {
			if r.spec.IgnoreAlarmPollFailure {
				continue
			}
			return fmt.Sprintf("cannot read alarm %q: %v", name, err), true
		}
		if st.State == alarm.StateAlarm {
			return fmt.Sprintf("alarm %q is in ALARM: %s", name, st.Reason), true
		}
	}
	return "", false
}

// shift moves to step i and asks the gateway for its weight.
func (r *rollout) shift(now time.Time, d *deps, i int, actor, reason string) {
	if r.step >= 0 && r.steps[r.step].Ended.IsZero() {
		r.steps[r.step].Ended = now
	}
	r.state, r.pausedFrom = StateShifting, ""
	r.step = i
	r.want = r.steps[i].Weight
	r.stepStart, r.windowStart, r.waitFrom, r.lastAnalysis = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if r.analysis != nil && r.want >= 100 {
		r.steps[i].Verdict = &Verdict{Time: now, Step: i, Result: VerdictSkipped,
			Reason: "the candidate takes all traffic: no stable traffic to compare with; alarms only"}
	}
	r.applySplit(now, d)
	if r.splitOK {
		r.record(now, ActionStep, actor, fmt.Sprintf("step %d/%d: %s to %s (%s)", i+1, len(r.steps), fmtPct(r.want), r.spec.Candidate, reason), nil)
	}
}

// applySplit sends want to the gateway; on failure it is retried by eval.
func (r *rollout) applySplit(now time.Time, d *deps) {
	if err := d.traffic.SetSplit(r.spec.Route, r.spec.Stable, r.spec.Candidate, r.want); err != nil {
		r.splitOK, r.splitErr = false, err.Error()
		r.event(now, EventError, fmt.Sprintf("set split %s: %v (will retry)", fmtPct(r.want), err), nil)
		return
	}
	r.applied, r.splitOK, r.splitErr = r.want, true, ""
	if r.state == StateShifting && r.stepStart.IsZero() {
		r.stepStart, r.windowStart = now, now
		r.steps[r.step].Started = now
	}
}

func (r *rollout) evalShifting(now time.Time, d *deps, v *Verdict) {
	if !r.splitOK {
		r.applySplit(now, d)
		if !r.splitOK {
			return
		}
		r.record(now, ActionStep, SystemActor, fmt.Sprintf("step %d/%d: %s to %s (after a retry)", r.step+1, len(r.steps), fmtPct(r.want), r.spec.Candidate), nil)
	}
	st := &r.steps[r.step]
	if v != nil {
		prev := st.Verdict
		st.Verdict = v
		if prev == nil || prev.Result != v.Result {
			r.event(now, EventVerdict, string(v.Result)+": "+v.Reason, v)
		}
		if v.Result == VerdictFail {
			r.rollback(now, d, ActionRollback, SystemActor, fmt.Sprintf("analysis failed at step %d (%s): %s", r.step+1, fmtPct(st.Weight), v.Reason))
			return
		}
	}
	if r.state == StatePaused {
		return
	}
	last := r.step == len(r.steps)-1
	due := r.stepStart.Add(st.Duration)
	if last && r.manualPromote {
		due = r.stepStart
	}
	if now.Before(due) {
		return
	}
	if !last && r.analysis != nil && (st.Verdict == nil || st.Verdict.Result != VerdictPass || st.Verdict.Time.Before(due)) {
		why := "no comparison yet"
		if st.Verdict != nil {
			why = string(st.Verdict.Result) + ": " + st.Verdict.Reason
		}
		if r.waitFrom.IsZero() {
			r.waitFrom = now
			r.event(now, EventExtend, "step time is up; waiting for enough data to judge ("+why+")", nil)
		}
		if r.analysis.MaxWait > 0 && now.Sub(r.waitFrom) >= r.analysis.MaxWait {
			r.pause(now, SystemActor, fmt.Sprintf("no passing analysis %v after step %d's time was up (%s); resume to keep waiting, promote or abort", r.analysis.MaxWait, r.step+1, why))
		}
		return
	}
	if !last {
		reason := "step time is up"
		if st.Verdict != nil && st.Verdict.Result == VerdictPass {
			reason = "analysis passed: " + st.Verdict.Reason
		}
		r.shift(now, d, r.step+1, SystemActor, reason)
		return
	}
	st.Ended = now
	r.state = StatePostTrafficHook
	if h := r.spec.PostTrafficHook; h != nil {
		r.startHook(now, d, *h, PhasePostTraffic)
		return
	}
	r.finish(now, d)
}

// finish makes the candidate stable; a refusal is retried by eval.
func (r *rollout) finish(now time.Time, d *deps) {
	if err := d.traffic.Promote(r.spec.Route, r.spec.Candidate); err != nil {
		r.splitErr = err.Error()
		r.event(now, EventError, fmt.Sprintf("promote %s: %v (will retry)", r.spec.Candidate, err), nil)
		return
	}
	r.splitErr = ""
	r.state, r.ended = StatePromoted, now
	actor := SystemActor
	if r.manualPromote {
		actor = r.promoteActor
	}
	r.reason = fmt.Sprintf("%s is now the stable target of %s", r.spec.Candidate, r.spec.Route)
	r.record(now, ActionPromote, actor, r.reason, nil)
}

// rollback puts all traffic back on stable at once.
func (r *rollout) rollback(now time.Time, d *deps, action, actor, reason string) {
	if r.hook != nil {
		r.hook.cancel()
		r.hook = nil
	}
	if r.step >= 0 && r.steps[r.step].Ended.IsZero() {
		r.steps[r.step].Ended = now
	}
	r.state, r.pausedFrom, r.reason, r.ended = StateRolledBack, "", reason, now
	if action == ActionAbort {
		r.state = StateAborted
	}
	r.want = 0
	r.applySplit(now, d)
	r.record(now, action, actor, reason, nil)
}

func (r *rollout) pause(now time.Time, actor, reason string) {
	r.state, r.pausedFrom, r.pausedAt, r.reason = StatePaused, StateShifting, now, reason
	r.record(now, ActionPause, actor, reason, nil)
}

func (r *rollout) resume(now time.Time, actor, reason string) {
	if !r.stepStart.IsZero() && now.After(r.pausedAt) {
		r.stepStart = r.stepStart.Add(now.Sub(r.pausedAt)) // the step timer stood still
	}
	r.state, r.pausedFrom, r.reason, r.waitFrom = StateShifting, "", "", time.Time{}
	r.record(now, ActionResume, actor, reason, nil)
}

// analysisDue says whether a comparison should run now and over which
// window.
func (r *rollout) analysisDue(now time.Time) (due bool, step int, start time.Time) {
	if r.analysis == nil || (r.state != StateShifting && r.state != StatePaused) || !r.splitOK || r.windowStart.IsZero() {
		return false, 0, time.Time{}
	}
	st := r.steps[r.step]
	if st.Weight >= 100 {
		return false, 0, time.Time{}
	}
	timeUp := r.state == StateShifting && !now.Before(r.stepStart.Add(st.Duration))
	if !timeUp && r.analysis.Interval > 0 && !r.lastAnalysis.IsZero() && now.Sub(r.lastAnalysis) < r.analysis.Interval {
		return false, 0, time.Time{}
	}
	return true, r.step, r.windowStart
}

func (r *rollout) status() Status {
	s := Status{ID: r.id, Route: r.spec.Route, Stable: r.spec.Stable, Candidate: r.spec.Candidate,
		Strategy: r.spec.Strategy.Name, State: r.state, PausedFrom: r.pausedFrom, Reason: r.reason,
		Step: r.step, Steps: slices.Clone(r.steps), CandidatePercent: r.applied, SplitError: r.splitErr,
		Started: r.started, Ended: r.ended, AsOf: r.asOf, History: slices.Clone(r.history)}
	if r.step >= 0 && !r.stepStart.IsZero() && !r.state.Terminal() {
		s.StepStarted = r.windowStart
		s.StepDue = r.stepStart.Add(r.steps[r.step].Duration)
		if r.state == StatePaused {
			s.StepDue = s.StepDue.Add(r.asOf.Sub(r.pausedAt))
		}
	}
	if r.hook != nil {
		s.Hook = r.hook.phase
	}
	return s
}
