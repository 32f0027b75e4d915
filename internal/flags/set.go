package flags

import (
	"context"
	"encoding/json"
	"fmt"

	"holdfast/internal/flagstore"
	"holdfast/internal/state"
)

// SetRequest flips a boolean flag in the gateway's environment.
type SetRequest struct {
	Name    string
	Enabled bool
	Actor   string
	Reason  string
	// Strategy, when set, makes the flip a monitored deployment with that
	// strategy (it is refused while another deployment runs). Without it
	// the flip is an operator's: AllAtOnce, not rolled back or reverted by
	// alarms, and it supersedes (stops) a deployment in progress.
	Strategy *flagstore.Strategy
}

// SetResult is what a flip did.
type SetResult struct {
	Flag       state.Flag
	Change     state.Change // the flag's "set" entry in the ledger
	Deployment flagstore.Deployment
}

// Set flips a flag with AllAtOnce; see SetRequest.
func (s *Service) Set(ctx context.Context, name string, enabled bool, actor, reason string) (state.Flag, state.Change, error) {
	r, err := s.SetFlag(ctx, SetRequest{Name: name, Enabled: enabled, Actor: actor, Reason: reason})
	return r.Flag, r.Change, err
}

// SetFlag creates a version of the served document with the flag's
// enabled value changed and deploys it. An unknown flag (or one with
// variants, which needs a version of its own) changes nothing.
func (s *Service) SetFlag(ctx context.Context, req SetRequest) (SetResult, error) {
	fs := s.fs.Load()
	if fs == nil {
		return SetResult{}, fmt.Errorf("flag %q: %w", req.Name, ErrUnknownFlag)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	env := s.Environment()
	st, doc, err := servedDocument(fs, env, req.Name)
	if err != nil {
		return SetResult{}, err
	}
	was := doc.enabled(req.Name)
	if d := st.Latest; d != nil && d.State.Active() {
		if req.Strategy != nil {
			return SetResult{}, fmt.Errorf("%w in %s: #%d (%s); stop it first, or flip without --strategy to supersede it",
				flagstore.ErrDeploymentInProgress, env, d.Number, d.State)
		}
		what := fmt.Sprintf("%s %s", req.Name, onOff(req.Enabled))
		if _, err := fs.Stop(ctx, env, req.Actor, "superseded by "+what+": "+req.Reason, s.now()); err != nil {
			return SetResult{}, err
		}
		// The stop put everyone back on the previous version: flip that one.
		if _, doc, err = servedDocument(fs, env, req.Name); err != nil {
			return SetResult{}, err
		}
	}
	return s.flipOn(ctx, fs, env, req, doc, was)
}

// servedDocument returns env's status and the document of the version it
// serves, checking that it has flag name without variants.
func servedDocument(fs *flagstore.Service, env, name string) (flagstore.Status, *rawDoc, error) {
	st, err := fs.Status(env)
	if err != nil {
		return st, nil, err
	}
	if st.Version == 0 {
		return st, nil, fmt.Errorf("flag %q: %w (nothing is deployed to %s)", name, ErrUnknownFlag, env)
	}
	raw, err := fs.Content(st.Version)
	if err != nil {
		return st, nil, err
	}
	doc, err := parseRaw(raw)
	if err != nil {
		return st, nil, err
	}
	if _, ok := doc.flags[name]; !ok {
		return st, nil, fmt.Errorf("flag %q: %w in version %d deployed to %s", name, ErrUnknownFlag, st.Version, env)
	}
	if doc.hasVariants(name) {
		return st, nil, fmt.Errorf("flag %q has variants; create a version with holdfast flags create-version and deploy it", name)
	}
	return st, doc, nil
}

func (s *Service) flipOn(ctx context.Context, fs *flagstore.Service, env string, req SetRequest, doc *rawDoc, was bool) (SetResult, error) {
	doc.setEnabled(req.Name, req.Enabled)
	content, err := doc.marshal()
	if err != nil {
		return SetResult{}, err
	}
	now := s.now()
	what := fmt.Sprintf("%s %s", req.Name, onOff(req.Enabled))
	v, err := fs.CreateVersion(ctx, content, what+": "+req.Reason, req.Actor, now)
	if err != nil {
		return SetResult{}, err
	}
	strategy, monitored := flagstore.AllAtOnce, false
	if req.Strategy != nil {
		strategy, monitored = *req.Strategy, true
	}
	d, err := fs.StartDeployment(ctx, flagstore.DeployRequest{Environment: env, Version: v.Number, Strategy: strategy,
		Description: what + ": " + req.Reason, Actor: req.Actor, IgnoreMonitors: !monitored}, now)
	if err != nil {
		return SetResult{}, err
	}
	detail, _ := json.Marshal(map[string]any{"from": was, "to": req.Enabled, "version": v.Number,
		"environment": env, "deployment": d.Number, "strategy": strategy.Name, "monitored": monitored})
	c, err := s.st.RecordChange(ctx, state.Change{Time: now, Kind: "flag", Subject: req.Name, Action: "set",
		Actor: req.Actor, Reason: req.Reason, Detail: detail})
	if err != nil {
		// The deployment and its own ledger entries are stored; only the
		// per-flag summary is missing.
		s.log.Error("flag flipped but its summary entry was not recorded", "flag", req.Name, "err", err)
	}
	s.log.Info("flag set", "flag", req.Name, "enabled", req.Enabled, "actor", req.Actor, "reason", req.Reason,
		"version", v.Number, "deployment", d.Number, "strategy", strategy.Name)
	f := state.Flag{Name: req.Name, Enabled: req.Enabled, Version: int64(v.Number), UpdatedAt: now.UTC(), UpdatedBy: req.Actor}
	if got, err := s.getLocked(fs, env, req.Name); err == nil {
		f.Description = got.Description
	}
	return SetResult{Flag: f, Change: c, Deployment: d}, nil
}

func (s *Service) getLocked(fs *flagstore.Service, env, name string) (flagstore.FlagDefinition, error) {
	st, err := fs.Status(env)
	if err != nil {
		return flagstore.FlagDefinition{}, err
	}
	doc, err := fs.Document(st.Version)
	if err != nil {
		return flagstore.FlagDefinition{}, err
	}
	return doc.Flags[name], nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
