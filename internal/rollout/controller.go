package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"holdfast/internal/alarm"
)

// Options configures a Controller.
type Options struct {
	Traffic TrafficSetter // required
	Alarms  AlarmStates   // required for rollouts with alarms
	Metrics MetricReader  // required for rollouts with analysis
	Ledger  Ledger        // nil: no ledger
	// HTTPClient calls hooks (default: a client with no overall timeout;
	// each hook has its own).
	HTTPClient *http.Client
	Logger     *slog.Logger // nil: discard
	// HistoryLimit is how many events a rollout keeps (default 500).
	HistoryLimit int
}

// Controller runs at most one rollout per route. Lifecycle: New → Start
// rollouts → Eval on a schedule (and Fire from the alarm manager) → Close.
type Controller struct {
	opts Options
	log  *slog.Logger
	deps deps

	mu     sync.Mutex
	routes map[string]*rollout // the latest rollout of each route
	seq    int
	closed bool

	ledgerMu sync.Mutex // keeps ledger entries in order
	cancel   context.CancelFunc
	hooks    sync.WaitGroup
}

var _ alarm.Action = (*Controller)(nil)

// New returns a controller.
func New(opts Options) (*Controller, error) {
	if opts.Traffic == nil {
		return nil, errors.New("rollout controller: Options.Traffic is required")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HistoryLimit <= 0 {
		opts.HistoryLimit = 500
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Controller{opts: opts, log: opts.Logger, routes: map[string]*rollout{}, cancel: cancel}
	c.deps = deps{traffic: opts.Traffic, alarms: opts.Alarms, client: opts.HTTPClient, ctx: ctx,
		historyLimit: opts.HistoryLimit, track: func(n int) { c.hooks.Add(n) }}
	return c, nil
}

// validate checks a spec completely before anything changes.
func (c *Controller) validate(spec *Spec) (*Analysis, error) {
	var errs []string
	bad := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	if spec.Route == "" {
		bad("route: empty; name the route to roll out")
	}
	if spec.Stable == "" || spec.Candidate == "" {
		bad("stable and candidate: both targets are required")
	} else if spec.Stable == spec.Candidate {
		bad("candidate %q: it is already the stable target", spec.Candidate)
	}
	if len(spec.Strategy.Steps) == 0 {
		bad("strategy: none given; use one of %s", strings.Join(PredefinedNames(), ", "))
	} else if _, err := Steps(spec.Strategy.Steps); err != nil {
		bad("strategy %q: %v", spec.Strategy.Name, err)
	}
	if spec.Bake < 0 || spec.Bake > MaxStepDuration {
		bad("bake %v: give a duration from 0 to %v", spec.Bake, MaxStepDuration)
	}
	if len(spec.Alarms) > 0 && c.opts.Alarms == nil {
		bad("alarms: this controller has no alarm manager")
	} else {
		for _, name := range spec.Alarms {
			if _, err := c.opts.Alarms.Status(name); err != nil {
				bad("alarms: %v", err)
			}
		}
	}
	var a *Analysis
	if spec.Analysis != nil {
		if c.opts.Metrics == nil {
			bad("analysis: this controller has no metrics reader")
		}
		ad, err := spec.Analysis.withDefaults()
		if err != nil {
			bad("%v", err)
		}
		a = &ad
	}
	for _, h := range []struct {
		name string
		h    *Hook
	}{{"pre_traffic_hook", spec.PreTrafficHook}, {"post_traffic_hook", spec.PostTrafficHook}} {
		if h.h != nil {
			if err := h.h.validate(h.name); err != nil {
				bad("%v", err)
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("rollout of route %q: %s", spec.Route, strings.Join(errs, "; "))
	}
	return a, nil
}

// Start validates spec and starts the rollout: it records the start and
// takes the first transition (starts the pre-traffic hook, or shifts the
// first step). Nothing changes when it fails; a route with a rollout that
// has not ended gets an *InProgressError.
func (c *Controller) Start(ctx context.Context, spec Spec, now time.Time) (Status, error) {
	spec.Alarms = slices.Clone(spec.Alarms)
	spec.Strategy.Steps = slices.Clone(spec.Strategy.Steps)
	a, err := c.validate(&spec)
	if err != nil {
		return Status{}, err
	}
	if spec.Actor == "" {
		spec.Actor = SystemActor
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return Status{}, ErrClosed
	}
	if old := c.routes[spec.Route]; old != nil {
		old.mu.Lock()
		busy := !old.state.Terminal() || !old.splitOK
		id, st := old.id, old.state
		old.mu.Unlock()
		if busy {
			c.mu.Unlock()
			return Status{}, &InProgressError{Route: spec.Route, ID: id, State: st}
		}
	}
	c.seq++
	id := spec.ID
	if id == "" {
		id = fmt.Sprintf("%s-%s-%d", spec.Route, now.UTC().Format("20060102T150405Z"), c.seq)
	}
	r := newRollout(spec, id, a, now)
	c.routes[spec.Route] = r
	r.mu.Lock() // before c.mu is released, so no Eval sees it half started
	c.mu.Unlock()
	reason := spec.Reason
	if reason == "" {
		reason = fmt.Sprintf("roll out %s on %s with %s", spec.Candidate, spec.Route, spec.Strategy.Name)
	}
	r.record(now, ActionStart, spec.Actor, reason, nil)
	r.eval(now, &c.deps, nil)
	st := r.status()
	r.mu.Unlock()
	c.flush(ctx, r)
	return st, nil
}

// Eval advances every rollout to now: hook completions, alarm checks,
// comparisons, step timers, retries of refused splits.
func (c *Controller) Eval(ctx context.Context, now time.Time) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	rs := make([]*rollout, 0, len(c.routes))
	for _, r := range c.routes {
		rs = append(rs, r)
	}
	c.mu.Unlock()
	for _, r := range rs {
		c.evalOne(ctx, r, now)
	}
	return nil
}

func (c *Controller) evalOne(ctx context.Context, r *rollout, now time.Time) {
	r.mu.Lock()
	due, step, start := r.analysisDue(now)
	route, stable, cand := r.spec.Route, r.spec.Stable, r.spec.Candidate
	var a Analysis
	if due {
		a = *r.analysis
	}
	r.mu.Unlock()
	var v *Verdict
	if due { // the store is read without holding the rollout, so Fire is never delayed
		v = c.compare(a, route, stable, cand, step, start, now)
	}
	r.mu.Lock()
	if v != nil {
		r.lastAnalysis = now
		if r.step != step || (r.state != StateShifting && r.state != StatePaused) {
			v = nil // the rollout moved on meanwhile
		}
	}
	r.eval(now, &c.deps, v)
	r.trimHistory(c.deps.historyLimit)
	r.mu.Unlock()
	c.flush(ctx, r)
}

func (c *Controller) compare(a Analysis, route, stable, cand string, step int, start, now time.Time) *Verdict {
	v := &Verdict{Time: now, Step: step, WindowStart: start, WindowEnd: now}
	var err error
	if v.Stable, err = c.opts.Metrics.TargetWindow(route, stable, start, now); err == nil {
		v.Candidate, err = c.opts.Metrics.TargetWindow(route, cand, start, now)
	}
	if err != nil {
		v.Result, v.Reason = VerdictError, "cannot read metrics: "+err.Error()
		return v
	}
	v.Result, v.Reason = Compare(a, v.Stable, v.Candidate)
	return v
}

// flush writes the rollout's pending ledger entries, in order.
func (c *Controller) flush(ctx context.Context, r *rollout) {
	if c.opts.Ledger == nil {
		r.mu.Lock()
		r.pending = nil
		r.mu.Unlock()
		return
	}
	c.ledgerMu.Lock()
	defer c.ledgerMu.Unlock()
	r.mu.Lock()
	entries := r.pending
	r.pending = nil
	r.mu.Unlock()
	for _, e := range entries {
		if err := c.opts.Ledger.Record(ctx, e); err != nil {
			c.log.Error("rollout ledger entry lost", "route", e.Subject, "action", e.Action, "err", err)
		}
	}
}

// manual runs op on the route's rollout.
func (c *Controller) manual(ctx context.Context, route string, now time.Time, op func(r *rollout) error) (Status, error) {
	c.mu.Lock()
	r := c.routes[route]
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return Status{}, ErrClosed
	}
	if r == nil {
		return Status{}, fmt.Errorf("route %q: %w", route, ErrNoRollout)
	}
	r.mu.Lock()
	if now.After(r.asOf) {
		r.asOf = now
	}
	err := op(r)
	st := r.status()
	r.mu.Unlock()
	c.flush(ctx, r)
	return st, err
}

func stateErr(op string, r *rollout, want string) error {
	return fmt.Errorf("%s rollout %s on %q: it is %s; %s: %w", op, r.id, r.spec.Route, r.state, want, ErrState)
}

// Abort stops the rollout and puts all traffic back on stable at once.
func (c *Controller) Abort(ctx context.Context, route, actor, reason string, now time.Time) (Status, error) {
	return c.manual(ctx, route, now, func(r *rollout) error {
		if r.state.Terminal() {
			return stateErr("abort", r, "it has already ended")
		}
		r.rollback(now, &c.deps, ActionAbort, actorOr(actor), "aborted by hand: "+reasonOr(reason))
		return nil
	})
}

// Pause holds the current step: no further shift, the step timer stops;
// alarms and comparisons still roll back.
func (c *Controller) Pause(ctx context.Context, route, actor, reason string, now time.Time) (Status, error) {
	return c.manual(ctx, route, now, func(r *rollout) error {
		if r.state != StateShifting {
			return stateErr("pause", r, "only a rollout that is shifting traffic can be paused")
		}
		r.pause(now, actorOr(actor), reasonOr(reason))
		return nil
	})
}

// Resume continues a paused rollout; the step keeps the time it had left.
func (c *Controller) Resume(ctx context.Context, route, actor, reason string, now time.Time) (Status, error) {
	return c.manual(ctx, route, now, func(r *rollout) error {
		if r.state != StatePaused {
			return stateErr("resume", r, "only a paused rollout can be resumed")
		}
		r.resume(now, actorOr(actor), reasonOr(reason))
		return nil
	})
}

// Promote skips the remaining steps and the bake time: the candidate gets
// 100 % now, then the post-traffic hook runs (alarms still watched) and the
// candidate becomes stable.
func (c *Controller) Promote(ctx context.Context, route, actor, reason string, now time.Time) (Status, error) {
	return c.manual(ctx, route, now, func(r *rollout) error {
		if r.state != StateShifting && r.state != StatePaused {
			return stateErr("promote", r, "promote applies once traffic is shifting (after the pre-traffic hook, before 100% is confirmed)")
		}
		r.manualPromote, r.promoteActor = true, actorOr(actor)
		if last := len(r.steps) - 1; r.step != last {
			r.shift(now, &c.deps, last, r.promoteActor, "promoted by hand: "+reasonOr(reason))
		} else {
			r.state, r.pausedFrom = StateShifting, ""
			r.event(now, ActionPromote, "promote requested by hand: "+reasonOr(reason), nil)
		}
		r.eval(now, &c.deps, nil)
		return nil
	})
}

func actorOr(a string) string {
	if a == "" {
		return "unknown"
	}
	return a
}

func reasonOr(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}

// Fire implements alarm.Action: a transition to ALARM of one of a live
// rollout's alarms rolls it back at once, without waiting for Eval.
func (c *Controller) Fire(ctx context.Context, t alarm.Transition) error {
	if t.To != alarm.StateAlarm {
		return nil
	}
	c.mu.Lock()
	rs := make([]*rollout, 0, len(c.routes))
	for _, r := range c.routes {
		rs = append(rs, r)
	}
	c.mu.Unlock()
	for _, r := range rs {
		r.mu.Lock()
		hit := !r.state.Terminal() && slices.Contains(r.spec.Alarms, t.Alarm)
		if hit {
			now := t.Time
			if now.IsZero() {
				now = r.asOf
			}
			if now.After(r.asOf) {
				r.asOf = now
			}
			r.rollback(now, &c.deps, ActionRollback, SystemActor, fmt.Sprintf("alarm %q went to ALARM: %s", t.Alarm, t.Reason))
		}
		r.mu.Unlock()
		if hit {
			c.flush(ctx, r)
		}
	}
	return nil
}

// Status returns the latest rollout of a route.
func (c *Controller) Status(route string) (Status, error) {
	c.mu.Lock()
	r := c.routes[route]
	c.mu.Unlock()
	if r == nil {
		return Status{}, fmt.Errorf("route %q: %w", route, ErrNoRollout)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status(), nil
}

// List returns the latest rollout of every route, by route.
func (c *Controller) List() []Status {
	c.mu.Lock()
	rs := make([]*rollout, 0, len(c.routes))
	for _, r := range c.routes {
		rs = append(rs, r)
	}
	c.mu.Unlock()
	out := make([]Status, 0, len(rs))
	for _, r := range rs {
		r.mu.Lock()
		out = append(out, r.status())
		r.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Route, b.Route) })
	return out
}

// Close cancels running hooks and waits for them. Rollouts keep their
// state (a hook cancelled by Close is not judged). Close is idempotent.
func (c *Controller) Close() error {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.mu.Unlock()
	if !already {
		c.cancel()
	}
	c.hooks.Wait()
	return nil
}
