package alarm

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// CompositeDefinition is a composite alarm: ALARM while its rule is true,
// OK otherwise.
type CompositeDefinition struct {
	Name        string
	Description string
	AlarmRule   string
}

// Composite is the state machine of one composite alarm.
type Composite struct {
	def  CompositeDefinition
	rule *Rule

	mu         sync.Mutex
	state      State
	reason     string
	reasonData json.RawMessage
	updated    time.Time
	lastEval   time.Time
	hist       history
}

// newComposite parses the rule; names are checked by the Manager.
func newComposite(def CompositeDefinition, now time.Time, historyLimit int) (*Composite, error) {
	var ps []FieldError
	ps = append(ps, validateName("name", def.Name)...)
	rule, err := ParseRule(def.AlarmRule)
	if err != nil {
		ps = append(ps, FieldError{"alarm_rule", err.Error()})
	}
	if len(ps) > 0 {
		return nil, &ValidationError{Alarm: def.Name, Problems: ps}
	}
	return &Composite{
		def:     def,
		rule:    rule,
		state:   StateInsufficientData,
		reason:  "Unchecked: Initial alarm creation",
		updated: now,
		hist:    history{limit: historyLimit},
	}, nil
}

// Rule returns the parsed AlarmRule.
func (c *Composite) Rule() *Rule { return c.rule }

type childState struct {
	Name  string `json:"name"`
	State State  `json:"state"`
}

// eval recomputes the state from the children's states.
func (c *Composite) eval(state func(string) State, now time.Time) *Transition {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastEval = now
	to := StateOK
	verdict := "FALSE"
	if c.rule.Eval(state) {
		to, verdict = StateAlarm, "TRUE"
	}
	if to == c.state {
		return nil
	}
	var children []childState
	var parts []string
	for _, name := range c.rule.Names() {
		s := state(name)
		children = append(children, childState{name, s})
		parts = append(parts, fmt.Sprintf("%s is %s", name, s))
	}
	reason := fmt.Sprintf("AlarmRule %s evaluated to %s: %s.", c.rule.String(), verdict, strings.Join(parts, ", "))
	data, _ := json.Marshal(map[string]any{"version": "1.0", "alarmRule": c.def.AlarmRule, "children": children})
	return c.transition(to, reason, data, now)
}

func (c *Composite) transition(to State, reason string, data json.RawMessage, now time.Time) *Transition {
	t := &Transition{Alarm: c.def.Name, From: c.state, To: to, Reason: reason, ReasonData: data, Time: now}
	c.state, c.reason, c.reasonData, c.updated = to, reason, data, now
	c.hist.add(HistoryItem{Time: now, Kind: HistoryStateUpdate, Summary: fmt.Sprintf("Alarm updated from %s to %s", t.From, t.To), Transition: t})
	return t
}

func (c *Composite) setState(s State, reason string, now time.Time) *Transition {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s == c.state {
		return nil
	}
	data, _ := json.Marshal(map[string]string{"version": "1.0", "setBy": "SetState"})
	return c.transition(s, reason, data, now)
}

// Status returns a snapshot of the composite alarm.
func (c *Composite) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Status{
		Name:          c.def.Name,
		Composite:     true,
		State:         c.state,
		Reason:        c.reason,
		ReasonData:    c.reasonData,
		StateUpdated:  c.updated,
		LastEvaluated: c.lastEval,
	}
}

// History returns the composite's history, newest first.
func (c *Composite) History() []HistoryItem {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hist.list()
}

func (c *Composite) currentState() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

func (c *Composite) restore(old *Composite) {
	old.mu.Lock()
	defer old.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state, c.reason, c.reasonData, c.updated = old.state, old.reason, old.reasonData, old.updated
	c.hist.items = append([]HistoryItem(nil), old.hist.items...)
}

// orderComposites returns the composites so that every composite comes after
// the composites its rule refers to, or an error naming a cycle.
func orderComposites(comps map[string]*Composite, names []string) ([]*Composite, error) {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var order []*Composite
	var stack []string
	var visit func(name string) error
	visit = func(name string) error {
		switch color[name] {
		case black:
			return nil
		case grey:
			i := 0
			for stack[i] != name {
				i++
			}
			cycle := append(append([]string(nil), stack[i:]...), name)
			return fmt.Errorf("composite alarms form a cycle: %s; a composite cannot depend on itself", strings.Join(cycle, " -> "))
		}
		color[name] = grey
		stack = append(stack, name)
		for _, child := range comps[name].rule.Names() {
			if _, ok := comps[child]; ok {
				if err := visit(child); err != nil {
					return err
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[name] = black
		order = append(order, comps[name])
		return nil
	}
	for _, name := range names {
		if err := visit(name); err != nil {
			return nil, err
		}
	}
	return order, nil
}
