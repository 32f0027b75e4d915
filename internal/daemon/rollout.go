package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"holdfast/internal/alarm"
	"holdfast/internal/api"
	"holdfast/internal/config"
	"holdfast/internal/gateway"
	"holdfast/internal/rollout"
	"holdfast/internal/state"
)

// RolloutTick is how often the rollout controller is evaluated: step
// timers, analysis, hook completions. Alarms act sooner, through Fire.
const RolloutTick = 250 * time.Millisecond

// rollouts wires the rollout controller into the daemon: the gateway's
// splits, the alarm manager, the metrics store, the ledger, and the state
// store that keeps the latest status and promoted target of each route.
type rollouts struct {
	d      *Daemon
	ctl    *rollout.Controller
	splits *gateway.Splits
	store  *state.Store
	probe  *http.Client

	startMu sync.Mutex // one start at a time: checks, then Start
	saveMu  sync.Mutex
	saved   map[string]string // route -> fingerprint of the kept status
	routing map[string]string // route -> kept routing JSON
}

var _ api.Rollouts = (*rollouts)(nil)

// openRollouts makes the splits, with the promoted targets of the last
// run, before the first gateway is built.
func (d *Daemon) openRollouts(ctx context.Context) error {
	d.splits = gateway.NewSplits(d.log)
	recs, err := d.store.Rollouts(ctx)
	if err != nil {
		return fmt.Errorf("rollouts: %w", err)
	}
	promoted := map[string]gateway.SplitState{}
	for _, r := range recs {
		var st gateway.SplitState
		if len(r.Routing) > 0 && json.Unmarshal(r.Routing, &st) == nil {
			promoted[r.Route] = st
		}
	}
	d.splits.Restore(promoted)
	return nil
}

// startRollouts starts the controller once the gateway serves: it brings
// back the statuses of the last run, subscribes to alarm transitions and
// evaluates every RolloutTick until ctx ends.
func (d *Daemon) startRollouts(ctx context.Context) error {
	d.splits.Attach(d.handler)
	ctl, err := rollout.New(rollout.Options{
		Traffic: d.splits,
		Alarms:  d.monitor.Manager(),
		Metrics: &rollout.StoreReader{Store: d.metrics},
		Ledger:  rollout.StateLedger{Store: d.store},
		Logger:  d.log.With("component", "rollout"),
	})
	if err != nil {
		return err
	}
	r := &rollouts{d: d, ctl: ctl, splits: d.splits, store: d.store, saved: map[string]string{},
		routing: map[string]string{}, probe: &http.Client{}}
	d.rollouts = r
	recs, err := d.store.Rollouts(ctx)
	if err != nil {
		return fmt.Errorf("rollouts: %w", err)
	}
	now := time.Now()
	for _, rec := range recs {
		if len(rec.Routing) > 0 {
			r.routing[rec.Route] = string(rec.Routing)
		}
		if len(rec.Status) == 0 {
			continue
		}
		var st rollout.Status
		if err := json.Unmarshal(rec.Status, &st); err != nil {
			d.log.Warn("kept rollout status unreadable; dropped", "route", rec.Route, "err", err)
			continue
		}
		if _, err := ctl.Restore(ctx, st, now); err != nil {
			d.log.Warn("kept rollout not restored", "route", rec.Route, "err", err)
		}
	}
	r.persist(ctx)
	if err := d.monitor.Manager().Subscribe("rollouts", alarm.ActionFunc(r.fire)); err != nil {
		return fmt.Errorf("rollouts: %w", err)
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		t := time.NewTicker(RolloutTick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if err := ctl.Eval(ctx, now); err != nil {
					return
				}
				r.persist(ctx)
			}
		}
	}()
	return nil
}

// closeRollouts stops the controller (its hooks) after the tick stopped.
func (d *Daemon) closeRollouts() {
	if d.rollouts != nil {
		d.rollouts.persist(context.Background())
		d.rollouts.ctl.Close()
	}
	if d.splits != nil {
		d.splits.Close()
	}
}

// rolloutAPI is the API's view of the rollouts; nil before Start.
func (d *Daemon) rolloutAPI() api.Rollouts {
	if d.rollouts == nil {
		return nil
	}
	return d.rollouts
}

// fire hands an alarm transition to the controller, which rolls back the
// rollouts watching that alarm at once, and names in the ledger every
// rollout that was live when an alarm went to ALARM.
func (r *rollouts) fire(ctx context.Context, t alarm.Transition) error {
	var live []rollout.Status
	if t.To == alarm.StateAlarm {
		for _, st := range r.ctl.List() {
			if !st.State.Terminal() {
				live = append(live, st)
			}
		}
	}
	err := r.ctl.Fire(ctx, t)
	for _, st := range live {
		detail, _ := json.Marshal(map[string]any{"rollout_id": st.ID, "route": st.Route, "candidate": st.Candidate,
			"candidate_percent": st.CandidatePercent, "state": st.State})
		if _, lerr := r.store.RecordChange(ctx, state.Change{Time: t.Time, Kind: "alarm", Subject: t.Alarm, Action: "alarm",
			Actor: rollout.SystemActor, Reason: fmt.Sprintf("%s went to ALARM during rollout %s of route %s (%s at %v%%)",
				t.Alarm, st.ID, st.Route, st.Candidate, st.CandidatePercent), Detail: detail}); lerr != nil {
			r.d.log.Error("alarm note lost", "alarm", t.Alarm, "err", lerr)
		}
	}
	r.persist(ctx)
	return err
}

// persist keeps every status that changed and every promoted target.
func (r *rollouts) persist(ctx context.Context) {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	for _, st := range r.ctl.List() {
		fp := fingerprint(st)
		if r.saved[st.Route] == fp {
			continue
		}
		raw, err := json.Marshal(st)
		if err == nil {
			err = r.store.PutRolloutStatus(ctx, st.Route, raw)
		}
		if err != nil {
			r.d.log.Error("rollout status not kept", "route", st.Route, "err", err)
			continue
		}
		r.saved[st.Route] = fp
	}
	promoted := r.splits.Promoted()
	routes := map[string]bool{}
	for route := range promoted {
		routes[route] = true
	}
	for route := range r.routing {
		routes[route] = true
	}
	for route := range routes {
		want := ""
		if p, ok := promoted[route]; ok {
			b, _ := json.Marshal(p)
			want = string(b)
		}
		if r.routing[route] == want {
			continue
		}
		if err := r.store.PutRolloutRouting(ctx, route, json.RawMessage(want)); err != nil {
			r.d.log.Error("promoted target not kept", "route", route, "err", err)
			continue
		}
		if want == "" {
			delete(r.routing, route)
		} else {
			r.routing[route] = want
		}
	}
}

// fingerprint changes whenever a status says something new.
func fingerprint(st rollout.Status) string {
	last := ""
	if n := len(st.History); n > 0 {
		e := st.History[n-1]
		last = e.Time.String() + e.Action + e.Message
	}
	return fmt.Sprint(st.ID, st.State, st.Step, st.CandidatePercent, len(st.History), last, st.SplitError, st.Hook)
}

// StartRollout checks the request completely, then starts the rollout.
func (r *rollouts) StartRollout(ctx context.Context, route string, req api.RolloutStartRequest, actor string) (rollout.Status, error) {
	r.startMu.Lock()
	defer r.startMu.Unlock()
	cfg := r.d.Config()
	rc := routeByName(cfg, route)
	if rc == nil {
		return rollout.Status{}, fmt.Errorf("no route named %q", route)
	}
	if cur, err := r.ctl.Status(route); err == nil && !cur.State.Terminal() {
		return rollout.Status{}, &rollout.InProgressError{Route: route, ID: cur.ID, State: cur.State}
	}
	rr := cfg.RolloutOf(rc)
	name := strings.TrimSpace(req.Strategy)
	if name == "" {
		name = rr.Strategy
	}
	strategy, err := rollout.ParseStrategy(name)
	if err != nil {
		return rollout.Status{}, err
	}
	cand, candURL, candUp, err := resolveCandidate(cfg, strings.TrimSpace(req.Candidate))
	if err != nil {
		return rollout.Status{}, err
	}
	stable, err := r.splits.Stable(route)
	if err != nil {
		return rollout.Status{}, err
	}
	if stable == cand {
		return rollout.Status{}, fmt.Errorf("candidate %q is already the stable target of route %q", cand, route)
	}
	if err := r.checkHealth(ctx, cfg, rr, stable, candURL, candUp); err != nil {
		return rollout.Status{}, err
	}
	spec := rollout.Spec{Route: route, Stable: stable, Candidate: cand, Strategy: strategy, Bake: rr.Bake.D(),
		Alarms: *rr.Alarms, IgnoreAlarmPollFailure: rr.IgnoreAlarmPollFailure, Analysis: rr.AnalysisSpec(),
		Actor: actor, Reason: req.Reason}
	for _, h := range []struct {
		c   *config.RolloutHook
		dst **rollout.Hook
	}{{rr.PreTrafficHook, &spec.PreTrafficHook}, {rr.PostTrafficHook, &spec.PostTrafficHook}} {
		if h.c == nil {
			continue
		}
		if err := checkAnswers(ctx, h.c.URL); err != nil {
			return rollout.Status{}, err
		}
		*h.dst = &rollout.Hook{URL: h.c.URL, Timeout: h.c.Timeout.D()}
	}
	st, err := r.ctl.Start(ctx, spec, time.Now())
	if err != nil {
		return rollout.Status{}, err
	}
	r.persist(ctx)
	return st, nil
}

// resolveCandidate returns the candidate's target name, its base URL and
// its upstream config (nil for an inline URL).
func resolveCandidate(cfg *config.Config, c string) (name, base string, up *config.Upstream, err error) {
	if gateway.IsTargetURL(c) {
		n, err := gateway.NormalizeTargetURL(c)
		return n, n, nil, err
	}
	if up = cfg.UpstreamByName(c); up == nil {
		names := make([]string, len(cfg.Upstreams))
		for i, u := range cfg.Upstreams {
			names[i] = u.Name
		}
		return "", "", nil, fmt.Errorf("candidate %q: no upstream of that name (known: %s), and not an http:// URL", c, strings.Join(names, ", "))
	}
	return up.Name, up.URL, up, nil
}

// checkHealth probes the candidate once before any traffic moves: the
// rollout's health_check path, else the candidate's or the stable
// upstream's health check path (2xx wanted), else / (any answer below 500).
func (r *rollouts) checkHealth(ctx context.Context, cfg *config.Config, rr config.RouteRollout, stable, base string, candUp *config.Upstream) error {
	path, strict := rr.HealthCheck.Path, true
	if path == "" && candUp != nil && candUp.HealthCheck != nil {
		path = candUp.HealthCheck.Path
	}
	if su := cfg.UpstreamByName(stable); path == "" && su != nil && su.HealthCheck != nil {
		path = su.HealthCheck.Path
	}
	if path == "" {
		path, strict = "/", false
	}
	target := strings.TrimSuffix(base, "/") + path
	ctx, cancel := context.WithTimeout(ctx, rr.HealthCheck.Timeout.D())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("candidate health check GET %s: %w", target, err)
	}
	resp, err := r.probe.Do(req)
	if err != nil {
		return fmt.Errorf("candidate failed its health check before any traffic: GET %s: %v", target, unwrapURLError(err))
	}
	resp.Body.Close()
	if (strict && resp.StatusCode/100 != 2) || resp.StatusCode >= 500 {
		return fmt.Errorf("candidate failed its health check before any traffic: GET %s answered %s", target, resp.Status)
	}
	return nil
}

// checkAnswers checks that a hook's host accepts connections; the hook
// itself is called only at its phase.
func checkAnswers(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("hook %s: %w", raw, err)
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(dctx, "tcp", host)
	if err != nil {
		return fmt.Errorf("hook %s does not answer: %v; fix it or remove it from the route's rollout", raw, err)
	}
	c.Close()
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func routeByName(cfg *config.Config, name string) *config.Route {
	for i := range cfg.Routes {
		if cfg.Routes[i].Name == name {
			return &cfg.Routes[i]
		}
	}
	return nil
}

// Rollout returns a route's latest rollout.
func (r *rollouts) Rollout(route string) (rollout.Status, error) { return r.ctl.Status(route) }

// Rollouts returns every route's latest rollout.
func (r *rollouts) Rollouts() []rollout.Status { return r.ctl.List() }

// RolloutAction aborts, pauses, resumes or promotes.
func (r *rollouts) RolloutAction(ctx context.Context, route, action, actor, reason string) (rollout.Status, error) {
	ops := map[string]func(context.Context, string, string, string, time.Time) (rollout.Status, error){
		api.RolloutAbort: r.ctl.Abort, api.RolloutPause: r.ctl.Pause, api.RolloutResume: r.ctl.Resume, api.RolloutPromote: r.ctl.Promote,
	}
	op, ok := ops[action]
	if !ok {
		return rollout.Status{}, fmt.Errorf("no rollout action %q; use %s", action, strings.Join(slices.Sorted(maps.Keys(ops)), ", "))
	}
	st, err := op(ctx, route, actor, reason, time.Now())
	r.persist(ctx)
	return st, err
}
