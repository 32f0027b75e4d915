package flagstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"holdfast/internal/alarm"
)

// Validator can veto a version before it is stored (AppConfig's LAMBDA
// validator; see WebhookValidator).
type Validator interface {
	Validate(ctx context.Context, content []byte, version int) error
}

// Config configures a Service: one application and configuration profile.
type Config struct {
	App     string
	Profile string
	// DefaultEnvironment is the environment Bool reads.
	DefaultEnvironment string
	// EntityAttribute names the context attribute that holds the entity
	// (default "entityId"): $entityId in rules is EvalContext.Entity.
	EntityAttribute string
	// ContextKeys, when set, are the only context attributes rules may use.
	ContextKeys []string
	Validators  []Validator
	// AlarmState, when set, is polled by Eval for the monitored alarms of
	// environments that can still roll back or revert, so a dropped
	// transition or an alarm already in ALARM is not missed. With an
	// alarm.Manager m: func(n string) (alarm.State, bool) {
	// st, err := m.Status(n); return st.State, err == nil }.
	AlarmState func(name string) (alarm.State, bool)
	Logger     *slog.Logger
}

// DefaultEntityAttribute is Config.EntityAttribute's default.
const DefaultEntityAttribute = "entityId"

// Service is the flag store: versions, environments, deployments and the
// data-plane snapshot. Its methods are safe for concurrent use.
type Service struct {
	cfg   Config
	store Store
	log   *slog.Logger

	mu       sync.Mutex // serialises changes; the snapshot is read without it
	versions map[int]*compiled
	meta     map[int]Version
	envs     map[string]*envState
	pending  []pendingSave // safety changes applied in memory, not yet stored
	lastNow  time.Time

	snap atomic.Pointer[snapshot]
}

type envState struct {
	env         Environment
	deployments []Deployment // oldest first
}

func (e *envState) latest() *Deployment {
	if len(e.deployments) == 0 {
		return nil
	}
	return &e.deployments[len(e.deployments)-1]
}

type pendingSave struct {
	d       Deployment
	changes []Change
}

type compiled struct {
	number int
	doc    *Document
}

// New returns a Service with nothing loaded; call Load.
func New(cfg Config, store Store) (*Service, error) {
	if cfg.App == "" || cfg.Profile == "" {
		return nil, errors.New("flagstore: Config.App and Config.Profile are required")
	}
	if store == nil {
		return nil, errors.New("flagstore: a Store is required")
	}
	if cfg.EntityAttribute == "" {
		cfg.EntityAttribute = DefaultEntityAttribute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{
		cfg: cfg, store: store, log: cfg.Logger.With("component", "flagstore"),
		versions: map[int]*compiled{}, meta: map[int]Version{}, envs: map[string]*envState{},
	}
	s.snap.Store(&snapshot{envs: map[string]*envSnap{}})
	return s, nil
}

// Load reads versions, environments and deployments from the store and
// publishes the snapshot. On error the previous state stays in place.
func (s *Service) Load(ctx context.Context) error {
	vs, err := s.store.Versions(ctx)
	if err != nil {
		return fmt.Errorf("load flag versions: %w", err)
	}
	versions := map[int]*compiled{}
	meta := map[int]Version{}
	// A stored version was valid when stored: a later, narrower list of
	// context keys applies to new versions only.
	opts := s.parseOptions()
	opts.ContextKeys = nil
	for _, v := range vs {
		doc, err := ParseDocument(v.Content, opts)
		if err != nil {
			return fmt.Errorf("load flag version %d: %w", v.Number, err)
		}
		versions[v.Number] = &compiled{number: v.Number, doc: doc}
		meta[v.Number] = v
	}
	es, err := s.store.Environments(ctx)
	if err != nil {
		return fmt.Errorf("load flag environments: %w", err)
	}
	envs := map[string]*envState{}
	for _, e := range es {
		ds, err := s.store.Deployments(ctx, e.Name)
		if err != nil {
			return fmt.Errorf("load deployments of %s: %w", e.Name, err)
		}
		envs[e.Name] = &envState{env: e, deployments: ds}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.versions, s.meta, s.envs, s.pending = versions, meta, envs, nil
	s.publish()
	return nil
}

func (s *Service) parseOptions() ParseOptions {
	return ParseOptions{ContextKeys: s.cfg.ContextKeys, EntityAttribute: s.cfg.EntityAttribute}
}

// Subject is the ledger subject of an environment: <app>/<env>/<profile>.
func (s *Service) Subject(env string) string { return s.cfg.App + "/" + env + "/" + s.cfg.Profile }

func (s *Service) change(now time.Time, env, action, actor, reason string, detail map[string]any) Change {
	var raw json.RawMessage
	if detail != nil {
		raw, _ = json.Marshal(detail)
	}
	return Change{Time: now, Kind: LedgerKind, Subject: s.Subject(env), Action: action, Actor: actor, Reason: reason, Detail: raw}
}

// CreateVersion validates content (schema, constraints, then each
// Validator in order) and stores it as the next immutable version.
func (s *Service) CreateVersion(ctx context.Context, content []byte, description, actor string, now time.Time) (Version, error) {
	doc, err := ParseDocument(content, s.parseOptions())
	if err != nil {
		return Version{}, err
	}
	s.mu.Lock()
	next := 1
	for n := range s.meta {
		next = max(next, n+1)
	}
	s.mu.Unlock()
	for _, v := range s.cfg.Validators {
		if err := v.Validate(ctx, content, next); err != nil {
			return Version{}, err
		}
	}
	v := Version{Description: description, Content: append([]byte(nil), content...), Actor: actor, CreatedAt: now}
	c := s.change(now, "*", ActionCreateVersion, actor, description, nil)
	v, err = s.store.CreateVersion(ctx, v, c)
	if err != nil {
		return Version{}, fmt.Errorf("store flag version: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.versions[v.Number] = &compiled{number: v.Number, doc: doc}
	s.meta[v.Number] = v
	return v, nil
}

// Versions lists the versions, oldest first.
func (s *Service) Versions() []Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Version, 0, len(s.meta))
	for _, v := range s.meta {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out
}

// PutEnvironment creates an environment or replaces its settings; its
// deployments are kept.
func (s *Service) PutEnvironment(ctx context.Context, e Environment, actor string, now time.Time) error {
	if err := e.Validate(); err != nil {
		return err
	}
	c := s.change(now, e.Name, ActionConfigure, actor, "environment settings", map[string]any{
		"monitors": e.Monitors, "rollback_window": e.Window().String(), "on_insufficient_data": e.insufficientData()})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.store.PutEnvironment(ctx, e, c); err != nil {
		return fmt.Errorf("store environment %s: %w", e.Name, err)
	}
	if st, ok := s.envs[e.Name]; ok {
		st.env = e
	} else {
		s.envs[e.Name] = &envState{env: e}
	}
	s.publish()
	return nil
}

// Status is an environment's state.
type Status struct {
	Environment Environment
	// Version is what every entity sees outside a deployment (0: none).
	Version int
	// Latest is the latest deployment, if any.
	Latest *Deployment
	// RevertUntil is the end of the rollback window of a COMPLETE latest
	// deployment (zero otherwise).
	RevertUntil time.Time
}

// Status returns an environment's status.
func (s *Service) Status(env string) (Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.envs[env]
	if !ok {
		return Status{}, fmt.Errorf("%w %q", ErrUnknownEnvironment, env)
	}
	out := Status{Environment: st.env}
	if d := st.latest(); d != nil {
		dc := *d
		out.Latest = &dc
		out.Version = servedVersion(d)
		if d.State == Complete && st.env.Window() > 0 && !d.IgnoreMonitors {
			out.RevertUntil = d.CompletedAt.Add(st.env.Window())
		}
	}
	return out, nil
}

// Deployments lists an environment's deployments, oldest first.
func (s *Service) Deployments(env string) ([]Deployment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.envs[env]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownEnvironment, env)
	}
	return append([]Deployment(nil), st.deployments...), nil
}

// MonitoredAlarms lists the alarms any environment monitors, for
// alarm.Manager.Subscribe.
func (s *Service) MonitoredAlarms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, st := range s.envs {
		for _, m := range st.env.Monitors {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	sort.Strings(out)
	return out
}

// servedVersion is the version everyone sees outside the deployment's
// percentage (the old one while deploying).
func servedVersion(d *Deployment) int {
	if d == nil {
		return 0
	}
	if d.State == Complete {
		return d.ToVersion
	}
	return d.FromVersion
}
