package alarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"time"
)

// ErrUnknownAlarm is returned for a name that is not a configured alarm.
var ErrUnknownAlarm = errors.New("unknown alarm")

// ErrClosed is returned after [Manager.Close].
var ErrClosed = errors.New("alarm manager closed")

// ManagerOptions configures a Manager. The zero value is usable.
type ManagerOptions struct {
	Logger       *slog.Logger // nil: discard
	HistoryLimit int          // per alarm; ≤ 0: DefaultHistoryLimit
	QueueSize    int          // per action; ≤ 0: DefaultQueueSize
}

// Manager holds metric and composite alarms, evaluates those that are due
// and hands transitions to subscribed actions. Lifecycle: NewManager →
// Update (and later reloads) → Eval on a schedule → Close.
type Manager struct {
	src  Source
	opts ManagerOptions
	log  *slog.Logger

	mu         sync.RWMutex
	metric     map[string]*Alarm
	composite  map[string]*Composite
	compOrder  []*Composite // children before parents
	metricList []*Alarm     // sorted by name

	subMu  sync.Mutex
	subs   []*subscription
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewManager returns an empty manager that reads datapoints from src.
func NewManager(src Source, opts ManagerOptions) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		src:       src,
		opts:      opts,
		log:       opts.Logger,
		metric:    map[string]*Alarm{},
		composite: map[string]*Composite{},
		ctx:       ctx,
		cancel:    cancel,
	}
}

// Update validates the whole new set of alarms and swaps it in, or changes
// nothing and returns every problem found. An alarm whose definition did not
// change keeps its schedule; one whose definition changed keeps its state and
// history (as CloudWatch's PutMetricAlarm does) and is due at once.
func (m *Manager) Update(now time.Time, metrics []Definition, composites []CompositeDefinition) error {
	var errs []error
	newMetric := map[string]*Alarm{}
	newComp := map[string]*Composite{}
	seen := map[string]bool{}
	dup := func(name string) bool {
		if seen[name] {
			errs = append(errs, fmt.Errorf("alarm %q: name: defined more than once; alarm names must be unique", name))
			return true
		}
		seen[name] = true
		return false
	}
	for _, d := range metrics {
		a, err := NewAlarm(d, m.src, now, m.opts.HistoryLimit)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !dup(d.Name) {
			newMetric[d.Name] = a
		}
	}
	var compNames []string
	for _, d := range composites {
		c, err := newComposite(d, now, m.opts.HistoryLimit)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !dup(d.Name) {
			newComp[d.Name] = c
			compNames = append(compNames, d.Name)
		}
	}
	for _, name := range compNames {
		c := newComp[name]
		for _, ref := range c.rule.refs() {
			if !seen[ref.name] {
				errs = append(errs, &ValidationError{Alarm: name, Problems: []FieldError{{
					"alarm_rule", fmt.Sprintf("column %d: unknown alarm %q; define it or fix the name", ref.pos+1, ref.name)}}})
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	order, err := orderComposites(newComp, compNames)
	if err != nil {
		return err
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	for name, a := range newMetric {
		old, ok := m.metric[name]
		switch {
		case ok && reflect.DeepEqual(old.def, a.def):
			newMetric[name] = old
		case ok:
			a.restore(old)
		}
	}
	for name, c := range newComp {
		if old, ok := m.composite[name]; ok {
			c.restore(old)
		}
	}
	for i, c := range order { // keep the reused pointers in order
		order[i] = newComp[c.def.Name]
	}
	m.metric, m.composite, m.compOrder = newMetric, newComp, order
	m.metricList = m.metricList[:0:0]
	for _, a := range newMetric {
		m.metricList = append(m.metricList, a)
	}
	sort.Slice(m.metricList, func(i, j int) bool { return m.metricList[i].def.Name < m.metricList[j].def.Name })
	return nil
}

// stateOf returns the current state of any alarm; the caller holds m.mu.
func (m *Manager) stateOf(name string) State {
	if a, ok := m.metric[name]; ok {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.state
	}
	if c, ok := m.composite[name]; ok {
		return c.currentState()
	}
	return StateInsufficientData
}

// evalComposites recomputes every composite; the caller holds m.mu.
func (m *Manager) evalComposites(now time.Time) []Transition {
	var out []Transition
	for _, c := range m.compOrder {
		if t := c.eval(m.stateOf, now); t != nil {
			out = append(out, *t)
		}
	}
	return out
}

// Eval evaluates every metric alarm that is due at now, then every composite
// alarm, queues the transitions for the subscribed actions and returns them.
// Source errors are recorded in each alarm's history and returned joined;
// the other alarms are still evaluated.
func (m *Manager) Eval(ctx context.Context, now time.Time) ([]Transition, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Transition
	var errs []error
	for _, a := range m.metricList {
		if !a.Due(now) {
			continue
		}
		t, err := a.Eval(ctx, now)
		if err != nil {
			m.log.Warn("alarm evaluation failed", logKeyAlarm, a.def.Name, logKeyErr, err)
			errs = append(errs, err)
		}
		if t != nil {
			out = append(out, *t)
		}
	}
	out = append(out, m.evalComposites(now)...)
	m.dispatch(out)
	return out, errors.Join(errs...)
}

// NextEvaluation returns the earliest time a metric alarm is due, or the
// zero time when one is due now or there are no alarms.
func (m *Manager) NextEvaluation() time.Time {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var next time.Time
	for i, a := range m.metricList {
		n := a.NextEvaluation()
		if n.IsZero() {
			return n
		}
		if i == 0 || n.Before(next) {
			next = n
		}
	}
	return next
}

// SetState sets an alarm's state until its next evaluation, as CloudWatch's
// SetAlarmState, to test actions. Composites are recomputed at once.
func (m *Manager) SetState(name string, s State, reason string, now time.Time) error {
	if _, err := ParseState(string(s)); err != nil {
		return err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	var t *Transition
	switch {
	case m.metric[name] != nil:
		t, _ = m.metric[name].SetState(s, reason, now)
	case m.composite[name] != nil:
		t = m.composite[name].setState(s, reason, now)
	default:
		return fmt.Errorf("set state of %q: %w", name, ErrUnknownAlarm)
	}
	var out []Transition
	if t != nil {
		out = append(out, *t)
	}
	out = append(out, m.evalCompositesExcept(name, now)...)
	m.dispatch(out)
	return nil
}

// evalCompositesExcept recomputes composites other than skip, so a composite
// set by SetState keeps that state until the next Eval.
func (m *Manager) evalCompositesExcept(skip string, now time.Time) []Transition {
	var out []Transition
	for _, c := range m.compOrder {
		if c.def.Name == skip {
			continue
		}
		if t := c.eval(m.stateOf, now); t != nil {
			out = append(out, *t)
		}
	}
	return out
}

// Status returns a snapshot of one alarm.
func (m *Manager) Status(name string) (Status, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if a, ok := m.metric[name]; ok {
		return a.Status(), nil
	}
	if c, ok := m.composite[name]; ok {
		return c.Status(), nil
	}
	return Status{}, fmt.Errorf("status of %q: %w", name, ErrUnknownAlarm)
}

// List returns a snapshot of every alarm, sorted by name.
func (m *Manager) List() []Status {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Status, 0, len(m.metric)+len(m.composite))
	for _, a := range m.metricList {
		out = append(out, a.Status())
	}
	for _, c := range m.composite {
		out = append(out, c.Status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// History returns one alarm's history, newest first.
func (m *Manager) History(name string) ([]HistoryItem, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if a, ok := m.metric[name]; ok {
		return a.History(), nil
	}
	if c, ok := m.composite[name]; ok {
		return c.History(), nil
	}
	return nil, fmt.Errorf("history of %q: %w", name, ErrUnknownAlarm)
}

// Subscribe calls a on every transition of the named alarms (of every alarm
// when none is named), from its own goroutine with a bounded queue. The name
// identifies the action in logs and [Manager.ActionStats].
func (m *Manager) Subscribe(name string, a Action, alarms ...string) error {
	m.subMu.Lock()
	defer m.subMu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, s := range m.subs {
		if s.name == name {
			return fmt.Errorf("subscribe %q: an action with that name is already subscribed", name)
		}
	}
	s := &subscription{
		name:   name,
		action: a,
		queue:  make(chan Transition, m.opts.QueueSize),
		log:    m.log,
	}
	if len(alarms) > 0 {
		s.alarms = map[string]bool{}
		for _, n := range alarms {
			s.alarms[n] = true
		}
	}
	m.subs = append(m.subs, s)
	m.wg.Add(1)
	go s.run(m.ctx, &m.wg)
	return nil
}

// ActionStats returns the counters of a subscribed action.
func (m *Manager) ActionStats(name string) (ActionStats, bool) {
	m.subMu.Lock()
	defer m.subMu.Unlock()
	for _, s := range m.subs {
		if s.name == name {
			return s.stats(), true
		}
	}
	return ActionStats{}, false
}

// dispatch queues transitions without blocking.
func (m *Manager) dispatch(ts []Transition) {
	if len(ts) == 0 {
		return
	}
	m.subMu.Lock()
	defer m.subMu.Unlock()
	if m.closed {
		return
	}
	for _, t := range ts {
		for _, s := range m.subs {
			if s.wants(t.Alarm) {
				s.offer(t)
			}
		}
	}
}

// Close stops the action goroutines (cancelling actions in progress) and
// waits for them. Queued transitions not yet fired are dropped. Close is
// idempotent.
func (m *Manager) Close() error {
	m.subMu.Lock()
	if m.closed {
		m.subMu.Unlock()
		return nil
	}
	m.closed = true
	m.cancel()
	m.subMu.Unlock()
	m.wg.Wait()
	return nil
}
