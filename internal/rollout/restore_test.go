package rollout

import (
	"encoding/json"
	"strings"
	"testing"
)

// A status kept across a restart comes back: a live one ends rolled back
// with a ledger entry, an ended one as it was; a new rollout may start.
func TestRestoreAfterRestart(t *testing.T) {
	e := newEnv(t, nil)
	live, err := e.ctrl.Start(bg, spec("linear:25%:1m"), t0)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(live) // what the daemon keeps
	if err != nil {
		t.Fatal(err)
	}
	var kept Status
	if err := json.Unmarshal(raw, &kept); err != nil {
		t.Fatal(err)
	}

	e2 := newEnv(t, nil)
	st, err := e2.ctrl.Restore(bg, kept, t0.Add(sec(90)))
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateRolledBack || st.CandidatePercent != 0 || !strings.Contains(st.Reason, "restarted") {
		t.Fatalf("restored: %s at %v%%: %s", st.State, st.CandidatePercent, st.Reason)
	}
	if st.ID != live.ID || len(st.History) <= len(live.History) {
		t.Errorf("restored id %s history %d (was %s, %d)", st.ID, len(st.History), live.ID, len(live.History))
	}
	if got := strings.Join(e2.ledger.actions(), ","); got != "rollback" {
		t.Errorf("ledger after restore: %s", got)
	}
	if got := fmtSplits(e2.splits.list()); got != "[]" {
		t.Errorf("restore touched the gateway: %s", got)
	}
	if _, err := e2.ctrl.Restore(bg, kept, t0.Add(sec(91))); err == nil {
		t.Error("a second restore of the same route was accepted")
	}
	// An ended rollout restores unchanged, and the route is free.
	e3 := newEnv(t, nil)
	st3, err := e3.ctrl.Restore(bg, st, t0.Add(sec(95)))
	if err != nil || st3.State != StateRolledBack || len(e3.ledger.actions()) != 0 {
		t.Fatalf("restore of an ended rollout: %v %s %v", err, st3.State, e3.ledger.actions())
	}
	if _, err := e3.ctrl.Start(bg, spec("AllAtOnce"), t0.Add(sec(96))); err != nil {
		t.Fatalf("start after restore: %v", err)
	}
}
