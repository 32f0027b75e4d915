package alarm

import (
	"encoding/json"
	"fmt"
	"time"
)

// State is an alarm state.
type State string

// Alarm states.
const (
	StateOK               State = "OK"
	StateAlarm            State = "ALARM"
	StateInsufficientData State = "INSUFFICIENT_DATA"
)

// ParseState accepts OK, ALARM or INSUFFICIENT_DATA.
func ParseState(s string) (State, error) {
	switch st := State(s); st {
	case StateOK, StateAlarm, StateInsufficientData:
		return st, nil
	}
	return "", fmt.Errorf("state %q: use OK, ALARM or INSUFFICIENT_DATA", s)
}

// Transition is a change of an alarm's state. Actions receive one per change.
type Transition struct {
	Alarm      string          `json:"alarm"`
	From       State           `json:"from"`
	To         State           `json:"to"`
	Reason     string          `json:"reason"`
	ReasonData json.RawMessage `json:"reason_data,omitempty"`
	Time       time.Time       `json:"time"`
}

// HistoryKind says what a history item records.
type HistoryKind string

// History item kinds (CloudWatch's HistoryItemType names).
const (
	HistoryStateUpdate HistoryKind = "StateUpdate"
	HistoryError       HistoryKind = "Error"
)

// HistoryItem is one entry of an alarm's bounded history.
type HistoryItem struct {
	Time    time.Time   `json:"time"`
	Kind    HistoryKind `json:"kind"`
	Summary string      `json:"summary"`
	// Transition is set for StateUpdate items.
	Transition *Transition `json:"transition,omitempty"`
}

// DefaultHistoryLimit is how many history items an alarm keeps by default.
const DefaultHistoryLimit = 100

// history is a bounded ring of items, oldest dropped first.
type history struct {
	limit int
	items []HistoryItem
}

func (h *history) add(it HistoryItem) {
	limit := h.limit
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	if len(h.items) >= limit {
		copy(h.items, h.items[len(h.items)-limit+1:])
		h.items = h.items[:limit-1]
	}
	h.items = append(h.items, it)
}

// list returns the items, newest first.
func (h *history) list() []HistoryItem {
	out := make([]HistoryItem, len(h.items))
	for i, it := range h.items {
		out[len(out)-1-i] = it
	}
	return out
}

// Status is a snapshot of an alarm.
type Status struct {
	Name            string          `json:"name"`
	Composite       bool            `json:"composite"`
	State           State           `json:"state"`
	Reason          string          `json:"reason"`
	ReasonData      json.RawMessage `json:"reason_data,omitempty"`
	StateUpdated    time.Time       `json:"state_updated"`
	LastEvaluated   time.Time       `json:"last_evaluated,omitzero"`
	NextEvaluation  time.Time       `json:"next_evaluation,omitzero"`
	LastError       string          `json:"last_error,omitempty"`
	LastEvalSkipped string          `json:"last_eval_skipped,omitempty"`
}
