// Package flags connects holdfast's versioned flag store (internal/flagstore)
// to the daemon: it keeps the store's environments in step with the config,
// makes the config's declared flags the first version of the flag document,
// turns a kill-switch flip into a deployment, runs the deployments' clock,
// and feeds alarm transitions to the store's monitors.
//
// The gateway asks Bool(name, entity) on every request; the answer comes
// from the flag store's immutable in-memory snapshot, so a lookup never
// waits on the state store and keeps answering from the last good document
// when the store is unavailable.
package flags

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"holdfast/internal/alarm"
	"holdfast/internal/config"
	"holdfast/internal/flagstore"
	"holdfast/internal/state"
)

// The flag store's application and profile (AppConfig's names); ledger
// subjects are App/ENVIRONMENT/Profile.
const (
	App     = "holdfast"
	Profile = "flags"
)

// ErrUnknownFlag is returned for a flag the deployed document does not have.
var ErrUnknownFlag = errors.New("unknown flag")

// ErrNeedsRestart is returned when a config changes what the flag store
// was opened with: the gateway's environment or the context keys.
var ErrNeedsRestart = errors.New("needs a restart")

// ErrEnvironmentChanged is returned when a config moves the gateway to
// another flag environment.
var ErrEnvironmentChanged = fmt.Errorf("the gateway's flag environment changed: %w", ErrNeedsRestart)

// Service is the daemon's flag service.
type Service struct {
	st  *state.Store
	log *slog.Logger
	now func() time.Time

	fs  atomic.Pointer[flagstore.Service] // nil until the first Configure
	env atomic.Pointer[string]            // the gateway's environment
	mgr atomic.Pointer[alarm.Manager]     // for polling monitored alarms

	mu       sync.Mutex     // serialises Configure and Set
	keys     []string       // the context keys the store was opened with
	declared *config.Config // the last config configured
	waiting  bool           // declared flags wait for a deployment to end
}

// New returns a service over the state store; call Configure (or Sync)
// before use. Until then every flag is unknown.
func New(st *state.Store, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{st: st, log: log.With("component", "flags"), now: time.Now}
}

// Store is the versioned flag store (nil before Configure).
func (s *Service) Store() *flagstore.Service { return s.fs.Load() }

// Environment is the environment the gateway and OFREP read.
func (s *Service) Environment() string {
	if e := s.env.Load(); e != nil {
		return *e
	}
	return config.DefaultFlagEnvironment
}

func (s *Service) open(ctx context.Context, env string, keys []string) (*flagstore.Service, error) {
	if fs := s.fs.Load(); fs != nil {
		if cur := s.Environment(); cur != env {
			return nil, fmt.Errorf("%w from %s to %s; restart holdfast to change it", ErrEnvironmentChanged, cur, env)
		}
		if !slices.Equal(keys, s.keys) {
			return nil, fmt.Errorf("%w: flag_context_keys changed; restart holdfast to change them", ErrNeedsRestart)
		}
		return fs, nil
	}
	fs, err := flagstore.New(flagstore.Config{
		App: App, Profile: Profile, DefaultEnvironment: env, Logger: s.log,
		ContextKeys: keys, AlarmState: s.alarmState,
	}, flagstore.NewStateStore(s.st, App, Profile))
	if err != nil {
		return nil, err
	}
	if err := fs.Load(ctx); err != nil {
		return nil, err
	}
	s.env.Store(&env)
	s.keys = slices.Clone(keys)
	s.fs.Store(fs)
	return fs, nil
}

func (s *Service) alarmState(name string) (alarm.State, bool) {
	m := s.mgr.Load()
	if m == nil {
		return "", false
	}
	st, err := m.Status(name)
	return st.State, err == nil
}

// Watch feeds every transition of m's alarms to the flag store (which acts
// on those its environments monitor, so the monitors can change on reload
// without resubscribing) and lets its clock poll their states.
func (s *Service) Watch(m *alarm.Manager) error {
	fs := s.fs.Load()
	if fs == nil {
		return errors.New("flags: Watch before Configure")
	}
	if !s.mgr.CompareAndSwap(nil, m) {
		return errors.New("flags: already watching an alarm manager")
	}
	return m.Subscribe("flag-deployments", fs)
}

// Bool answers a kill-switch lookup for entity (the request's client key)
// in the gateway's environment. known is false for a flag the deployed
// document does not have.
func (s *Service) Bool(name, entity string) (value, known bool) {
	fs := s.fs.Load()
	if fs == nil {
		return false, false
	}
	return fs.Bool(name, entity)
}

// Run advances deployments (steps, bake, completion, rollbacks) every
// interval until ctx ends. Errors are logged; the data plane keeps the
// last good document.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fs := s.fs.Load()
			if fs == nil {
				continue
			}
			err := fs.Eval(ctx, s.now())
			if err == nil {
				err = s.retryDeclared(ctx, fs)
			}
			switch {
			case err != nil && !failing && ctx.Err() == nil:
				s.log.Warn("flag deployments not advanced; serving the last good flags", "err", err)
				failing = true
			case err == nil && failing:
				s.log.Info("flag deployments advancing again")
				failing = false
			}
		}
	}
}

// Refresh reloads the flag store from the state store. On error the last
// good document keeps serving.
func (s *Service) Refresh(ctx context.Context) error {
	fs := s.fs.Load()
	if fs == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := fs.Load(ctx); err != nil {
		return fmt.Errorf("refresh flags: %w", err)
	}
	return nil
}

// List returns every flag of the document the gateway's environment
// serves (outside a deployment's new share), by name.
func (s *Service) List() []state.Flag {
	fs := s.fs.Load()
	if fs == nil {
		return []state.Flag{}
	}
	env := s.Environment()
	st, err := fs.Status(env)
	if err != nil || st.Version == 0 {
		return []state.Flag{}
	}
	doc, err := fs.Document(st.Version)
	if err != nil {
		return []state.Flag{}
	}
	var at time.Time
	var by string
	if d := st.Latest; d != nil {
		at, by = d.StartedAt, d.Actor
		if !d.EndedAt.IsZero() {
			at = d.EndedAt
		}
	}
	out := make([]state.Flag, 0, len(doc.Flags))
	for name, def := range doc.Flags {
		out = append(out, state.Flag{Name: name, Description: def.Description, Enabled: doc.Values[name].Enabled,
			Version: int64(st.Version), UpdatedAt: at.UTC(), UpdatedBy: by})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get returns one flag of the served document.
func (s *Service) Get(name string) (state.Flag, error) {
	for _, f := range s.List() {
		if f.Name == name {
			return f, nil
		}
	}
	return state.Flag{}, fmt.Errorf("flag %q: %w", name, ErrUnknownFlag)
}
