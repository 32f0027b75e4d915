package flags

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"holdfast/internal/config"
	"holdfast/internal/flagstore"
	"holdfast/internal/state"
)

// ActorConfig names the config as the actor of what Configure changes.
const ActorConfig = "config"

// Sync is Configure with only declared flags and the default environment.
func (s *Service) Sync(ctx context.Context, declared []config.Flag) error {
	return s.Configure(ctx, &config.Config{Flags: declared})
}

// Configure brings the flag store in line with cfg: its environments (and
// their monitors) are created or updated, and flags declared under flags:
// that the document lacks are added in a new version deployed at once to
// each environment. The first version takes the config's defaults, or the
// values a store from before versioned flags kept. A flag already in the
// document keeps its value: the store wins over the config.
func (s *Service) Configure(ctx context.Context, cfg *config.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs, err := s.open(ctx, cfg.GatewayFlagEnvironment(), cfg.FlagContextKeys)
	if err != nil {
		return err
	}
	now := s.now()
	envs := environments(cfg)
	for _, e := range envs {
		if st, err := fs.Status(e.Name); err == nil && reflect.DeepEqual(st.Environment, e) {
			continue
		}
		if err := fs.PutEnvironment(ctx, e, ActorConfig, now); err != nil {
			return err
		}
	}
	s.declared = cfg
	return s.ensureAllDeclared(ctx, fs)
}

// ensureAllDeclared adds the declared flags to every configured
// environment. Callers hold s.mu.
func (s *Service) ensureAllDeclared(ctx context.Context, fs *flagstore.Service) error {
	legacy, err := s.legacyValues(ctx)
	if err != nil {
		return err
	}
	s.waiting = false
	for _, e := range environments(s.declared) {
		if err := s.ensureDeclared(ctx, fs, e.Name, s.declared.Flags, legacy); err != nil {
			return err
		}
	}
	return nil
}

// retryDeclared adds declared flags that waited for a deployment to end.
func (s *Service) retryDeclared(ctx context.Context, fs *flagstore.Service) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.waiting || s.declared == nil {
		return nil
	}
	return s.ensureAllDeclared(ctx, fs)
}

func environments(cfg *config.Config) []flagstore.Environment {
	if len(cfg.FlagEnvironments) == 0 {
		return []flagstore.Environment{{Name: config.DefaultFlagEnvironment}}
	}
	out := make([]flagstore.Environment, 0, len(cfg.FlagEnvironments))
	for _, e := range cfg.FlagEnvironments {
		fe := flagstore.Environment{Name: e.Name, Monitors: e.Monitors,
			OnInsufficientData: flagstore.InsufficientDataPolicy(e.OnInsufficientData)}
		if len(fe.Monitors) == 0 {
			fe.Monitors = nil
		}
		if e.RollbackWindow != nil {
			fe.RollbackWindow = e.RollbackWindow.D()
			if fe.RollbackWindow == 0 {
				fe.RollbackWindow = -1 // 0s in the config: no automatic revert after COMPLETE
			}
		}
		if fe.OnInsufficientData == flagstore.IgnoreInsufficientData {
			fe.OnInsufficientData = ""
		}
		out = append(out, fe)
	}
	return out
}

// legacyValues are the kill-switch values a state store from before
// versioned flags holds (its flags table), so upgrading keeps them.
func (s *Service) legacyValues(ctx context.Context) (map[string]bool, error) {
	list, err := s.st.Flags(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(list))
	for _, f := range list {
		out[f.Name] = f.Enabled
	}
	return out, nil
}

// ensureDeclared adds the declared flags env's document lacks in a new
// version and deploys it at once. Callers hold s.mu.
func (s *Service) ensureDeclared(ctx context.Context, fs *flagstore.Service, env string, declared []config.Flag, legacy map[string]bool) error {
	st, err := fs.Status(env)
	if err != nil {
		return err
	}
	base := st.Version
	if base == 0 {
		if vs := fs.Versions(); len(vs) > 0 {
			base = vs[len(vs)-1].Number // a new environment starts from the latest version
		}
	}
	doc := emptyDocument()
	if base > 0 {
		raw, err := fs.Content(base)
		if err != nil {
			return err
		}
		if doc, err = parseRaw(raw); err != nil {
			return fmt.Errorf("version %d: %w", base, err)
		}
	}
	var added []config.Flag
	for _, f := range declared {
		if _, ok := doc.flags[f.Name]; ok {
			continue
		}
		on := true
		if v, ok := legacy[f.Name]; ok {
			on = v
		} else if f.Default != nil {
			on = *f.Default
		}
		doc.add(f.Name, f.Description, on)
		added = append(added, f)
	}
	if len(added) == 0 && st.Latest != nil {
		return nil
	}
	if st.Latest != nil && st.Latest.State.Active() {
		s.log.Warn("flags declared in the config wait for the deployment in progress; until then the gateway treats them as on",
			"environment", env, "deployment", st.Latest.Number)
		s.waiting = true // retried by Run once the deployment ends
		return nil
	}
	now := s.now()
	version := base
	if len(added) > 0 {
		names := make([]string, len(added))
		for i, f := range added {
			names[i] = f.Name
		}
		content, err := doc.marshal()
		if err != nil {
			return err
		}
		v, err := fs.CreateVersion(ctx, content, "flags declared in config: "+strings.Join(names, ", "), ActorConfig, now)
		if err != nil {
			return fmt.Errorf("flags declared in config: %w", err)
		}
		version = v.Number
		for _, f := range added {
			detail, _ := json.Marshal(map[string]any{"enabled": doc.enabled(f.Name), "version": version, "environment": env})
			if _, err := s.st.RecordChange(ctx, state.Change{Time: now, Kind: "flag", Subject: f.Name, Action: "create",
				Actor: ActorConfig, Reason: "declared in config", Detail: detail}); err != nil {
				return err
			}
		}
	}
	if version == 0 {
		return nil // nothing declared, nothing stored yet
	}
	_, err = fs.StartDeployment(ctx, flagstore.DeployRequest{Environment: env, Version: version,
		Strategy: flagstore.AllAtOnce, Description: "flags declared in config", Actor: ActorConfig, IgnoreMonitors: true}, now)
	return err
}
