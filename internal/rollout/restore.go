package rollout

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Restore puts back a rollout kept from an earlier run of the daemon, so
// its status and history outlive a restart. A rollout that had not ended
// ends now as ROLLED_BACK, with a ledger entry: the gateway starts with
// all traffic on stable, and nothing watched the candidate in between.
// A route that already has a rollout in this controller is refused.
func (c *Controller) Restore(ctx context.Context, st Status, now time.Time) (Status, error) {
	if st.Route == "" || st.ID == "" {
		return Status{}, fmt.Errorf("restore rollout: route and id are required")
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return Status{}, ErrClosed
	}
	if c.routes[st.Route] != nil {
		c.mu.Unlock()
		return Status{}, fmt.Errorf("restore rollout %s: route %q already has one", st.ID, st.Route)
	}
	r := &rollout{
		spec: Spec{ID: st.ID, Route: st.Route, Stable: st.Stable, Candidate: st.Candidate,
			Strategy: Strategy{Name: st.Strategy}},
		id: st.ID, steps: slices.Clone(st.Steps), state: st.State, reason: st.Reason, step: st.Step,
		applied: st.CandidatePercent, want: st.CandidatePercent, splitOK: true,
		started: st.Started, ended: st.Ended, asOf: st.AsOf, history: slices.Clone(st.History),
	}
	if r.step >= len(r.steps) {
		r.step = len(r.steps) - 1
	}
	c.routes[st.Route] = r
	r.mu.Lock()
	c.mu.Unlock()
	if !r.state.Terminal() {
		if now.After(r.asOf) {
			r.asOf = now
		}
		was := fmt.Sprintf("%s at %s", r.state, fmtPct(r.applied))
		if r.step >= 0 && r.steps[r.step].Ended.IsZero() {
			r.steps[r.step].Ended = now
		}
		r.state, r.pausedFrom, r.ended = StateRolledBack, "", now
		r.want, r.applied = 0, 0
		r.reason = fmt.Sprintf("holdfast restarted while the rollout was %s; all traffic is back on %s — start it again", was, r.spec.Stable)
		r.record(now, ActionRollback, SystemActor, r.reason, nil)
	}
	out := r.status()
	r.mu.Unlock()
	c.flush(ctx, r)
	return out, nil
}
