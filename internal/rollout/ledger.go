package rollout

import (
	"context"
	"encoding/json"
	"time"

	"holdfast/internal/state"
)

// LedgerKind is the kind of every ledger entry this package writes.
const LedgerKind = "rollout"

// Ledger actions.
const (
	ActionStart    = "start"
	ActionStep     = "step"
	ActionRollback = "rollback"
	ActionPromote  = "promote"
	ActionAbort    = "abort"
	ActionPause    = "pause"
	ActionResume   = "resume"
)

// SystemActor is the actor of the changes the controller makes by itself.
const SystemActor = "holdfast"

// LedgerEntry is one change-ledger entry: Kind is "rollout", Subject the
// route.
type LedgerEntry struct {
	Time    time.Time       `json:"time"`
	Kind    string          `json:"kind"`
	Subject string          `json:"subject"`
	Action  string          `json:"action"`
	Actor   string          `json:"actor"`
	Reason  string          `json:"reason,omitempty"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

// Ledger records changes. Record errors are logged, never block a rollback.
type Ledger interface {
	Record(ctx context.Context, e LedgerEntry) error
}

// StateLedger is the Ledger over the state store's change ledger.
type StateLedger struct{ Store *state.Store }

var _ Ledger = StateLedger{}

// Record appends e to the change ledger.
func (l StateLedger) Record(ctx context.Context, e LedgerEntry) error {
	_, err := l.Store.RecordChange(ctx, state.Change{Time: e.Time, Kind: e.Kind, Subject: e.Subject,
		Action: e.Action, Actor: e.Actor, Reason: e.Reason, Detail: e.Detail})
	return err
}

// ledgerDetail is the Detail of every entry.
type ledgerDetail struct {
	RolloutID string   `json:"rollout_id"`
	Stable    string   `json:"stable"`
	Candidate string   `json:"candidate"`
	Strategy  string   `json:"strategy"`
	Step      int      `json:"step,omitempty"` // 1-based
	Steps     int      `json:"steps"`
	Weight    float64  `json:"weight"`
	Verdict   *Verdict `json:"verdict,omitempty"`
}
