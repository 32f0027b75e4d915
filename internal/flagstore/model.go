package flagstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// State is a deployment state (AppConfig's names).
type State string

// Deployment states.
const (
	Deploying   State = "DEPLOYING"
	Baking      State = "BAKING"
	Complete    State = "COMPLETE"
	RollingBack State = "ROLLING_BACK"
	RolledBack  State = "ROLLED_BACK"
	Reverted    State = "REVERTED"
)

// Active reports whether a deployment in this state blocks another one.
func (s State) Active() bool { return s == Deploying || s == Baking || s == RollingBack }

// Version is one immutable version of the flag document.
type Version struct {
	Number      int       `json:"number"`
	Description string    `json:"description"`
	Content     []byte    `json:"content"` // the document as submitted
	Actor       string    `json:"actor"`
	CreatedAt   time.Time `json:"created_at"`
}

// InsufficientDataPolicy says what INSUFFICIENT_DATA on a monitored alarm
// does. AppConfig's own pages disagree, so holdfast makes it a setting.
type InsufficientDataPolicy string

// Insufficient-data policies.
const (
	// IgnoreInsufficientData (the default): only ALARM rolls back.
	IgnoreInsufficientData InsufficientDataPolicy = "ignore"
	// RollbackOnInsufficientData treats INSUFFICIENT_DATA like ALARM.
	RollbackOnInsufficientData InsufficientDataPolicy = "rollback"
)

// DefaultRollbackWindow is how long after COMPLETE an ALARM still reverts.
const DefaultRollbackWindow = 7 * 24 * time.Hour

// Environment is where versions are deployed, with the alarms that watch it.
type Environment struct {
	Name     string   `json:"name"`
	Monitors []string `json:"monitors,omitempty"` // alarm names
	// RollbackWindow after COMPLETE during which a monitored ALARM reverts
	// to the previous version. 0 means DefaultRollbackWindow; negative
	// disables automatic revert after COMPLETE.
	RollbackWindow     time.Duration          `json:"rollback_window,omitempty"`
	OnInsufficientData InsufficientDataPolicy `json:"on_insufficient_data,omitempty"`
}

var envNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Validate checks the environment.
func (e Environment) Validate() error {
	if !envNamePattern.MatchString(e.Name) {
		return fmt.Errorf("environment name %q: use 1 to 64 letters, digits, '.', '_' or '-'", e.Name)
	}
	for i, m := range e.Monitors {
		if m == "" {
			return fmt.Errorf("environment %s: monitors[%d] is empty; give an alarm name", e.Name, i)
		}
	}
	switch e.OnInsufficientData {
	case "", IgnoreInsufficientData, RollbackOnInsufficientData:
	default:
		return fmt.Errorf("environment %s: on_insufficient_data %q; use ignore or rollback", e.Name, e.OnInsufficientData)
	}
	return nil
}

// Window is the effective rollback window (0 when disabled).
func (e Environment) Window() time.Duration {
	switch {
	case e.RollbackWindow == 0:
		return DefaultRollbackWindow
	case e.RollbackWindow < 0:
		return 0
	}
	return e.RollbackWindow
}

func (e Environment) insufficientData() InsufficientDataPolicy {
	if e.OnInsufficientData == "" {
		return IgnoreInsufficientData
	}
	return e.OnInsufficientData
}

// Deployment moves an environment from one version to another.
type Deployment struct {
	Environment string    `json:"environment"`
	Number      int       `json:"number"` // 1, 2, … per environment
	FromVersion int       `json:"from_version"`
	ToVersion   int       `json:"to_version"`
	Strategy    Strategy  `json:"strategy"`
	Description string    `json:"description,omitempty"`
	Actor       string    `json:"actor"`
	State       State     `json:"state"`
	Percent     float64   `json:"percent"`
	Step        int       `json:"step"`
	StartedAt   time.Time `json:"started_at"`
	// CompletedAt is when the deployment became COMPLETE (the end of its
	// bake); the rollback window counts from it.
	CompletedAt time.Time `json:"completed_at,omitzero"`
	// EndedAt is when it was rolled back or reverted.
	EndedAt time.Time `json:"ended_at,omitzero"`
	Reason  string    `json:"reason,omitempty"` // why it was rolled back or reverted
	// IgnoreMonitors: alarms neither roll this deployment back nor revert
	// it, and it does not bake (nothing watches the bake). An operator's
	// kill-switch flip during an incident must not be undone by the alarm
	// that prompted it.
	IgnoreMonitors bool `json:"ignore_monitors,omitempty"`
}

// BakeStart is when the deployment reaches 100% and starts baking.
func (d Deployment) BakeStart() time.Time { return d.StartedAt.Add(d.Strategy.DeploymentDuration) }

// BakeEnd is when baking ends and the deployment is COMPLETE; at once
// after 100% when the deployment ignores monitors.
func (d Deployment) BakeEnd() time.Time {
	if d.IgnoreMonitors {
		return d.BakeStart()
	}
	return d.BakeStart().Add(d.Strategy.FinalBakeTime)
}

// Change is a change-ledger entry; it has the fields of internal/state's
// Change so the lead can store it there.
type Change struct {
	Time    time.Time       `json:"time"`
	Kind    string          `json:"kind"`    // always "flag"
	Subject string          `json:"subject"` // <app>/<env>/<profile>
	Action  string          `json:"action"`  // see the Action constants
	Actor   string          `json:"actor"`
	Reason  string          `json:"reason,omitempty"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

// Ledger kind and actions.
const (
	LedgerKind           = "flag"
	ActionCreateVersion  = "create-version"
	ActionDeploy         = "deploy"
	ActionStep           = "step"
	ActionRollback       = "rollback"
	ActionRevert         = "revert"
	ActionConfigure      = "configure"
	ActorAlarmController = "flagstore"
)

// Errors callers branch on.
var (
	ErrUnknownEnvironment   = errors.New("unknown environment")
	ErrUnknownVersion       = errors.New("unknown version")
	ErrUnknownFlag          = errors.New("unknown flag")
	ErrNoVersion            = errors.New("no version deployed")
	ErrDeploymentInProgress = errors.New("a deployment is in progress")
	ErrNoDeployment         = errors.New("no deployment in progress")
	ErrCannotRevert         = errors.New("cannot revert")
	ErrVetoed               = errors.New("version vetoed by validator")
)
