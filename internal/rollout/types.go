package rollout

import (
	"errors"
	"fmt"
	"time"

	"holdfast/internal/alarm"
)

// State is the state of a rollout.
type State string

// Rollout states.
const (
	StatePending         State = "PENDING"
	StatePreTrafficHook  State = "PRE_TRAFFIC_HOOK"
	StateShifting        State = "SHIFTING"
	StatePaused          State = "PAUSED"
	StatePostTrafficHook State = "POST_TRAFFIC_HOOK"
	StatePromoted        State = "PROMOTED"
	StateRolledBack      State = "ROLLED_BACK"
	StateAborted         State = "ABORTED"
)

// Terminal reports whether no further transition can happen.
func (s State) Terminal() bool {
	return s == StatePromoted || s == StateRolledBack || s == StateAborted
}

// TrafficSetter is what the controller needs of the gateway.
type TrafficSetter interface {
	// SetSplit sends candidatePercent of the route's traffic to candidate
	// and the rest to stable. It must take effect without dropping
	// requests; 0 puts everything back on stable.
	SetSplit(route, stable, candidate string, candidatePercent float64) error
	// Promote makes candidate the route's only (stable) target.
	Promote(route, candidate string) error
}

// AlarmStates reads alarm states; *alarm.Manager implements it.
type AlarmStates interface {
	Status(name string) (alarm.Status, error)
}

var _ AlarmStates = (*alarm.Manager)(nil)

// Spec describes a rollout to start.
type Spec struct {
	// ID names the rollout; "" makes one from the route and the start time.
	ID        string   `json:"id,omitempty"`
	Route     string   `json:"route"`
	Stable    string   `json:"stable"`
	Candidate string   `json:"candidate"`
	Strategy  Strategy `json:"strategy"`
	// Bake, when positive, replaces the duration of the final 100 % step:
	// how long alarms are still watched at 100 % before the post-traffic
	// hook and promotion.
	Bake time.Duration `json:"bake,omitempty"`
	// Alarms roll the rollout back when any is in ALARM.
	Alarms []string `json:"alarms,omitempty"`
	// IgnoreAlarmPollFailure carries on when an alarm's state cannot be
	// read (CodeDeploy's ignorePollAlarmFailure); by default it rolls back.
	IgnoreAlarmPollFailure bool `json:"ignore_alarm_poll_failure,omitempty"`
	// Analysis, when set, compares the candidate with stable at every step.
	Analysis        *Analysis `json:"analysis,omitempty"`
	PreTrafficHook  *Hook     `json:"pre_traffic_hook,omitempty"`
	PostTrafficHook *Hook     `json:"post_traffic_hook,omitempty"`
	Actor           string    `json:"actor,omitempty"`
	Reason          string    `json:"reason,omitempty"`
}

// Errors callers branch on.
var (
	// ErrInProgress: the route already has a rollout that has not ended.
	ErrInProgress = errors.New("a rollout is already in progress on this route")
	// ErrNoRollout: the route has no rollout.
	ErrNoRollout = errors.New("no rollout on this route")
	// ErrState: the operation does not apply in the rollout's state.
	ErrState = errors.New("not possible in the rollout's state")
	// ErrClosed: the controller is closed.
	ErrClosed = errors.New("rollout controller closed")
)

// InProgressError is returned by Start for a busy route.
type InProgressError struct {
	Route string
	ID    string
	State State
}

func (e *InProgressError) Error() string {
	return fmt.Sprintf("route %q: rollout %s is %s; abort it or wait for it to end before starting another", e.Route, e.ID, e.State)
}

// Unwrap returns ErrInProgress.
func (e *InProgressError) Unwrap() error { return ErrInProgress }

// StepStatus is one step of a rollout as it went.
type StepStatus struct {
	Weight   float64       `json:"weight"`
	Duration time.Duration `json:"duration"`
	Started  time.Time     `json:"started,omitzero"`
	Ended    time.Time     `json:"ended,omitzero"`
	// Verdict is the latest comparison at this step.
	Verdict *Verdict `json:"verdict,omitempty"`
}

// Event is one item of a rollout's history.
type Event struct {
	Time    time.Time `json:"time"`
	Action  string    `json:"action"` // a ledger action, or hook, verdict, extend, error
	Step    int       `json:"step"`   // 0-based; -1 before the first shift
	Weight  float64   `json:"weight"`
	Message string    `json:"message"`
	Verdict *Verdict  `json:"verdict,omitempty"`
}

// History event actions beyond the ledger actions.
const (
	EventHook    = "hook"
	EventVerdict = "verdict"
	EventExtend  = "extend"
	EventError   = "error"
)

// Status is a snapshot of a rollout.
type Status struct {
	ID        string `json:"id"`
	Route     string `json:"route"`
	Stable    string `json:"stable"`
	Candidate string `json:"candidate"`
	Strategy  string `json:"strategy"`
	State     State  `json:"state"`
	// PausedFrom is set while paused.
	PausedFrom State  `json:"paused_from,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// Step is the current step, 0-based; -1 before the first shift.
	Step  int          `json:"step"`
	Steps []StepStatus `json:"steps"`
	// CandidatePercent is the share the gateway last accepted.
	CandidatePercent float64 `json:"candidate_percent"`
	// StepStarted and StepDue: when the current step's weight took effect
	// and when its time is up (paused time excluded).
	StepStarted time.Time `json:"step_started,omitzero"`
	StepDue     time.Time `json:"step_due,omitzero"`
	// Hook is the phase of the hook running now, if any.
	Hook       HookPhase `json:"hook,omitempty"`
	SplitError string    `json:"split_error,omitempty"`
	Started    time.Time `json:"started"`
	Ended      time.Time `json:"ended,omitzero"`
	// AsOf is the time of the last evaluation or operation.
	AsOf    time.Time `json:"as_of"`
	History []Event   `json:"history"`
}
