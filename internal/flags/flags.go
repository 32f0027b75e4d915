// Package flags serves holdfast's flags to the data plane.
//
// The gateway asks Bool(name, entity) on every request; the answer comes from
// an immutable in-memory snapshot behind an atomic pointer, so a lookup never
// waits on the state store and keeps answering from the last good snapshot
// when the store is unavailable. Writes go to the store first (flag value and
// ledger entry in one transaction) and then publish a new snapshot, so a flip
// is visible to the next request.
//
// The entity argument (the request's client key) is unused by boolean flags;
// it is there so versioned flags with gradual deployments can choose per
// entity without changing the data plane's interface.
package flags

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"holdfast/internal/config"
	"holdfast/internal/state"
)

// ErrUnknownFlag is returned for a flag the store does not have.
var ErrUnknownFlag = errors.New("unknown flag")

// Store is what the service needs of the state store.
type Store interface {
	EnsureFlag(ctx context.Context, name, description string, def bool, actor string) (bool, error)
	Flags(ctx context.Context) ([]state.Flag, error)
	SetFlag(ctx context.Context, name string, enabled bool, actor, reason string) (state.Flag, state.Change, error)
}

var _ Store = (*state.Store)(nil)

type snapshot struct {
	byName map[string]state.Flag
	at     time.Time
}

// Service holds the flag snapshot and writes through to the store.
type Service struct {
	store  Store
	log    *slog.Logger
	snap   atomic.Pointer[snapshot]
	writes sync.Mutex // serialises set+publish so snapshots never go back in time
}

// New returns a service with an empty snapshot; call Sync to fill it.
func New(store Store, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	s := &Service{store: store, log: log.With("component", "flags")}
	s.snap.Store(&snapshot{byName: map[string]state.Flag{}})
	return s
}

// Sync creates the declared flags that the store lacks (with their default,
// or on when no default is given) and loads the snapshot.
func (s *Service) Sync(ctx context.Context, declared []config.Flag) error {
	for _, f := range declared {
		def := true
		if f.Default != nil {
			def = *f.Default
		}
		created, err := s.store.EnsureFlag(ctx, f.Name, f.Description, def, "config")
		if err != nil {
			return err
		}
		if created {
			s.log.Info("flag created", "flag", f.Name, "enabled", def)
		}
	}
	return s.Refresh(ctx)
}

// Refresh reloads the snapshot from the store. On error the last good
// snapshot stays in place.
func (s *Service) Refresh(ctx context.Context) error {
	s.writes.Lock()
	defer s.writes.Unlock()
	list, err := s.store.Flags(ctx)
	if err != nil {
		return fmt.Errorf("refresh flags: %w", err)
	}
	m := make(map[string]state.Flag, len(list))
	for _, f := range list {
		m[f.Name] = f
	}
	s.snap.Store(&snapshot{byName: m, at: time.Now()})
	return nil
}

// Run refreshes the snapshot every interval until ctx ends, so changes
// written to the store by another process are picked up. Errors are logged
// and the data plane keeps the last good snapshot.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := s.Refresh(ctx)
			switch {
			case err != nil && !failing && ctx.Err() == nil:
				s.log.Warn("state store unavailable; serving the last good flags", "err", err)
				failing = true
			case err == nil && failing:
				s.log.Info("state store available again")
				failing = false
			}
		}
	}
}

// Bool answers a boolean flag for the data plane. known is false for a flag
// the store does not have.
func (s *Service) Bool(name, entity string) (value, known bool) {
	f, ok := s.snap.Load().byName[name]
	return f.Enabled, ok
}

// Get returns one flag from the snapshot.
func (s *Service) Get(name string) (state.Flag, error) {
	f, ok := s.snap.Load().byName[name]
	if !ok {
		return f, fmt.Errorf("flag %q: %w", name, ErrUnknownFlag)
	}
	return f, nil
}

// List returns every flag, by name.
func (s *Service) List() []state.Flag {
	m := s.snap.Load().byName
	out := make([]state.Flag, 0, len(m))
	for _, f := range m {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Set writes a new value (and its ledger entry) to the store, then publishes
// it to the data plane. An unknown flag changes nothing.
func (s *Service) Set(ctx context.Context, name string, enabled bool, actor, reason string) (state.Flag, state.Change, error) {
	s.writes.Lock()
	defer s.writes.Unlock()
	f, c, err := s.store.SetFlag(ctx, name, enabled, actor, reason)
	if errors.Is(err, state.ErrNotFound) {
		return f, c, fmt.Errorf("flag %q: %w", name, ErrUnknownFlag)
	}
	if err != nil {
		return f, c, err
	}
	old := s.snap.Load().byName
	m := make(map[string]state.Flag, len(old))
	for k, v := range old {
		m[k] = v
	}
	m[name] = f
	s.snap.Store(&snapshot{byName: m, at: time.Now()})
	s.log.Info("flag set", "flag", name, "enabled", enabled, "actor", actor, "reason", reason, "change", c.ID)
	return f, c, nil
}
