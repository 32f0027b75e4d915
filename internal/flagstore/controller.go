package flagstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"holdfast/internal/alarm"
)

var _ alarm.Action = (*Service)(nil)

// DeployRequest asks to move an environment to a version.
type DeployRequest struct {
	Environment string
	Version     int
	Strategy    Strategy
	Description string
	Actor       string
	// IgnoreMonitors: see Deployment.IgnoreMonitors.
	IgnoreMonitors bool
}

// StartDeployment starts moving an environment to a version; it refuses
// while another deployment of the environment is active. A strategy with
// no duration (AllAtOnce) reaches 100% at once and starts baking.
func (s *Service) StartDeployment(ctx context.Context, req DeployRequest, now time.Time) (Deployment, error) {
	if err := req.Strategy.Validate(); err != nil {
		return Deployment{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flush(ctx); err != nil {
		return Deployment{}, err
	}
	st, ok := s.envs[req.Environment]
	if !ok {
		return Deployment{}, fmt.Errorf("%w %q; create it first", ErrUnknownEnvironment, req.Environment)
	}
	if _, ok := s.versions[req.Version]; !ok {
		return Deployment{}, fmt.Errorf("%w %d", ErrUnknownVersion, req.Version)
	}
	latest := st.latest()
	if latest != nil && latest.State.Active() {
		return Deployment{}, fmt.Errorf("%w in %s: #%d (%s, version %d → %d); wait for it, or stop it",
			ErrDeploymentInProgress, req.Environment, latest.Number, latest.State, latest.FromVersion, latest.ToVersion)
	}
	d := Deployment{
		Environment: req.Environment, Number: 1, FromVersion: servedVersion(latest), ToVersion: req.Version,
		Strategy: req.Strategy, Description: req.Description, Actor: req.Actor, State: Deploying, StartedAt: now,
		IgnoreMonitors: req.IgnoreMonitors,
	}
	if latest != nil {
		d.Number = latest.Number + 1
	}
	changes := []Change{s.change(now, d.Environment, ActionDeploy, req.Actor,
		fmt.Sprintf("deployment #%d: version %d → %d by %s: %s", d.Number, d.FromVersion, d.ToVersion, d.Strategy, req.Description),
		s.detail(&d, nil))}
	changes = append(changes, s.advance(&d, now)...)
	if err := s.store.SaveDeployment(ctx, d, changes...); err != nil {
		return Deployment{}, fmt.Errorf("store deployment: %w", err)
	}
	st.deployments = append(st.deployments, d)
	s.publish()
	return d, nil
}

func (s *Service) detail(d *Deployment, t *alarm.Transition) map[string]any {
	m := map[string]any{
		"deployment": d.Number, "from_version": d.FromVersion, "to_version": d.ToVersion,
		"state": d.State, "percent": d.Percent, "strategy": d.Strategy.Name,
	}
	if t != nil {
		m["alarm"], m["alarm_state"], m["alarm_reason"] = t.Alarm, t.To, t.Reason
	}
	if d.IgnoreMonitors {
		m["ignore_monitors"] = true
	}
	return m
}

// advance moves d through the states its strategy reaches by now and
// returns a ledger entry for each step.
func (s *Service) advance(d *Deployment, now time.Time) []Change {
	var out []Change
	for {
		switch d.State {
		case Deploying:
			p, step := d.Strategy.PercentAt(now.Sub(d.StartedAt))
			if p > d.Percent {
				d.Percent, d.Step = p, step
				at := d.StartedAt.Add(d.Strategy.StepInterval() * time.Duration(step))
				if p >= 100 {
					at = d.BakeStart()
				}
				out = append(out, s.change(at, d.Environment, ActionStep, ActorAlarmController,
					fmt.Sprintf("deployment #%d step %d: %g%% of entities on version %d", d.Number, step, p, d.ToVersion),
					s.detail(d, nil)))
			}
			if now.Before(d.BakeStart()) {
				return out
			}
			d.State = Baking
			msg := fmt.Sprintf("deployment #%d at 100%%: baking until %s", d.Number, d.BakeEnd().UTC().Format(time.RFC3339))
			if d.IgnoreMonitors {
				msg = fmt.Sprintf("deployment #%d at 100%%: monitors ignored, no bake", d.Number)
			}
			out = append(out, s.change(d.BakeStart(), d.Environment, ActionStep, ActorAlarmController, msg, s.detail(d, nil)))
		case Baking:
			if now.Before(d.BakeEnd()) {
				return out
			}
			d.State, d.CompletedAt = Complete, d.BakeEnd()
			reason := fmt.Sprintf("deployment #%d complete: version %d", d.Number, d.ToVersion)
			if w := s.envs[d.Environment].env.Window(); w > 0 && !d.IgnoreMonitors {
				reason += "; an alarm reverts it until " + d.CompletedAt.Add(w).UTC().Format(time.RFC3339)
			}
			out = append(out, s.change(d.CompletedAt, d.Environment, ActionStep, ActorAlarmController, reason, s.detail(d, nil)))
		case RollingBack:
			d.State = RolledBack
			return out
		default:
			return out
		}
	}
}

// Eval advances every active deployment to now: steps, bake, completion,
// and the end of a rollback. Call it periodically with the current time.
func (s *Service) Eval(ctx context.Context, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.After(s.lastNow) {
		s.lastNow = now
	}
	if err := s.flush(ctx); err != nil {
		return err
	}
	var errs []error
	changed := false
	for _, name := range sortedKeys(s.envs) {
		st := s.envs[name]
		var before State
		if l := st.latest(); l != nil {
			before = l.State
		}
		if err := s.pollAlarms(ctx, st, now); err != nil {
			errs = append(errs, err)
		}
		latest := st.latest()
		if latest != nil && latest.State != before {
			continue // rolled back by the poll: published; finished at the next Eval, like Fire
		}
		if latest == nil || !latest.State.Active() {
			continue
		}
		d := *latest
		changes := s.advance(&d, now)
		if d == *latest {
			continue
		}
		if err := s.store.SaveDeployment(ctx, d, changes...); err != nil {
			errs = append(errs, fmt.Errorf("store deployment %s #%d: %w", d.Environment, d.Number, err))
			continue // retried at the next Eval; traffic stays where it was
		}
		*latest = d
		changed = true
	}
	if changed {
		s.publish()
	}
	return errors.Join(errs...)
}

// flush stores the safety changes that were applied while the store failed.
func (s *Service) flush(ctx context.Context) error {
	for len(s.pending) > 0 {
		p := s.pending[0]
		if err := s.store.SaveDeployment(ctx, p.d, p.changes...); err != nil {
			return fmt.Errorf("store pending rollback of %s #%d: %w", p.d.Environment, p.d.Number, err)
		}
		s.pending = s.pending[1:]
	}
	return nil
}

// applySafety applies a rollback or revert in memory and publishes it at
// once, then stores it; if the store fails the change stays in effect and
// is stored by a later Eval.
func (s *Service) applySafety(ctx context.Context, st *envState, d Deployment, c Change) error {
	*st.latest() = d
	s.publish()
	if len(s.pending) == 0 {
		if err := s.store.SaveDeployment(ctx, d, c); err == nil {
			return nil
		}
	}
	s.pending = append(s.pending, pendingSave{d: d, changes: []Change{c}})
	s.log.Error("flag rollback applied but not stored; retrying at the next evaluation",
		"environment", d.Environment, "deployment", d.Number, "state", d.State)
	return fmt.Errorf("%s #%d is %s but the store failed; it will be stored later", d.Environment, d.Number, d.State)
}

// Stop stops an environment's deployment in progress: every entity goes
// back to the previous version (ROLLED_BACK).
func (s *Service) Stop(ctx context.Context, env, actor, reason string, now time.Time) (Deployment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.envs[env]
	if !ok {
		return Deployment{}, fmt.Errorf("%w %q", ErrUnknownEnvironment, env)
	}
	latest := st.latest()
	if latest == nil || !latest.State.Active() {
		return Deployment{}, fmt.Errorf("%w in %s", ErrNoDeployment, env)
	}
	d := *latest
	d.State, d.EndedAt, d.Reason = RolledBack, now, "stopped by "+actor+": "+reason
	c := s.change(now, env, ActionRollback, actor,
		fmt.Sprintf("deployment #%d stopped; back to version %d: %s", d.Number, d.FromVersion, reason), s.detail(&d, nil))
	return d, s.applySafety(ctx, st, d, c)
}

// Revert returns an environment whose latest deployment is COMPLETE to the
// version before it (REVERTED). A manual revert is not limited to the
// rollback window.
func (s *Service) Revert(ctx context.Context, env, actor, reason string, now time.Time) (Deployment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.envs[env]
	if !ok {
		return Deployment{}, fmt.Errorf("%w %q", ErrUnknownEnvironment, env)
	}
	latest := st.latest()
	switch {
	case latest == nil:
		return Deployment{}, fmt.Errorf("%w %s: nothing was deployed", ErrCannotRevert, env)
	case latest.State.Active():
		return Deployment{}, fmt.Errorf("%w %s: deployment #%d is %s; stop it instead", ErrCannotRevert, env, latest.Number, latest.State)
	case latest.State != Complete:
		return Deployment{}, fmt.Errorf("%w %s: deployment #%d is already %s", ErrCannotRevert, env, latest.Number, latest.State)
	case latest.FromVersion == 0:
		return Deployment{}, fmt.Errorf("%w %s: deployment #%d has no previous version", ErrCannotRevert, env, latest.Number)
	}
	d := *latest
	d.State, d.EndedAt, d.Reason = Reverted, now, "reverted by "+actor+": "+reason
	c := s.change(now, env, ActionRevert, actor,
		fmt.Sprintf("deployment #%d reverted; back to version %d: %s", d.Number, d.FromVersion, reason), s.detail(&d, nil))
	return d, s.applySafety(ctx, st, d, c)
}

// Fire implements alarm.Action: a monitored alarm going to ALARM (or to
// INSUFFICIENT_DATA, where the environment says so) rolls back a
// deployment in DEPLOYING or BAKING, and reverts a COMPLETE one inside the
// rollback window. The transition's time is the clock.
func (s *Service) Fire(ctx context.Context, t alarm.Transition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.Time.IsZero() {
		t.Time = s.lastNow
	}
	var errs []error
	for _, name := range sortedKeys(s.envs) {
		if err := s.onAlarm(ctx, s.envs[name], t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// onAlarm applies an alarm transition to one environment; callers hold s.mu.
func (s *Service) onAlarm(ctx context.Context, st *envState, t alarm.Transition) error {
	name, now := st.env.Name, t.Time
	trigger := t.To == alarm.StateAlarm ||
		t.To == alarm.StateInsufficientData && st.env.insufficientData() == RollbackOnInsufficientData
	latest := st.latest()
	if !monitors(st.env, t.Alarm) || !trigger || latest == nil || latest.IgnoreMonitors {
		return nil
	}
	why := fmt.Sprintf("alarm %s went to %s: %s", t.Alarm, t.To, t.Reason)
	d := *latest
	var c Change
	switch {
	case d.State == Deploying || d.State == Baking:
		d.State, d.EndedAt, d.Reason = RollingBack, now, why
		c = s.change(now, name, ActionRollback, "alarm/"+t.Alarm,
			fmt.Sprintf("deployment #%d rolled back to version %d at %g%%: %s", d.Number, d.FromVersion, d.Percent, why), s.detail(&d, &t))
	case d.State == Complete && st.env.Window() > 0 && now.Before(d.CompletedAt.Add(st.env.Window())):
		if d.FromVersion == 0 {
			s.log.Warn("alarm inside the rollback window, but there is no previous version to revert to",
				"environment", name, "deployment", d.Number, "alarm", t.Alarm)
			return nil
		}
		d.State, d.EndedAt, d.Reason = Reverted, now, why
		c = s.change(now, name, ActionRevert, "alarm/"+t.Alarm,
			fmt.Sprintf("deployment #%d reverted to version %d inside the rollback window (until %s): %s",
				d.Number, d.FromVersion, d.CompletedAt.Add(st.env.Window()).UTC().Format(time.RFC3339), why), s.detail(&d, &t))
	default:
		return nil
	}
	s.log.Warn("flag deployment rolled back by alarm", "environment", name, "deployment", d.Number,
		"state", d.State, "alarm", t.Alarm, "reason", t.Reason)
	return s.applySafety(ctx, st, d, c)
}

// pollAlarms asks Config.AlarmState for every monitored alarm of an
// environment whose latest deployment can still be rolled back or
// reverted, and treats a bad state like a transition into it. This covers a
// transition the alarm Manager dropped and an alarm already in ALARM when
// the deployment started. Callers hold s.mu.
func (s *Service) pollAlarms(ctx context.Context, st *envState, now time.Time) error {
	if s.cfg.AlarmState == nil {
		return nil
	}
	d := st.latest()
	if d == nil || d.IgnoreMonitors || !(d.State == Deploying || d.State == Baking ||
		d.State == Complete && st.env.Window() > 0 && now.Before(d.CompletedAt.Add(st.env.Window()))) {
		return nil
	}
	for _, name := range st.env.Monitors {
		state, ok := s.cfg.AlarmState(name)
		if !ok || state == alarm.StateOK {
			continue
		}
		t := alarm.Transition{Alarm: name, To: state, Reason: "in " + string(state) + " at evaluation", Time: now}
		if err := s.onAlarm(ctx, st, t); err != nil {
			return err
		}
		if st.latest().State != d.State {
			return nil
		}
	}
	return nil
}

func monitors(e Environment, alarmName string) bool {
	for _, m := range e.Monitors {
		if m == alarmName {
			return true
		}
	}
	return false
}
