package flagstore

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestPersistenceRoundTrip reopens the state store in a new Service and
// checks that versions, environments, deployments and the ledger survive.
func TestPersistenceRoundTrip(t *testing.T) {
	env := Environment{Name: "prod", Monitors: []string{"errors", "latency"}, RollbackWindow: 48 * time.Hour,
		OnInsufficientData: RollbackOnInsufficientData}
	f := newFixture(t, env)
	f.deploy(1, AllAtOnce, t0)
	f.eval(t0.Add(10 * time.Minute))
	f.deploy(2, Linear20PercentEvery6Minutes, t0.Add(time.Hour))
	f.eval(t0.Add(time.Hour + 13*time.Minute))

	wantStatus, _ := f.svc.Status("prod")
	wantDeps, _ := f.svc.Deployments("prod")
	wantVersions := f.svc.Versions()
	_, wantOn := f.share(2000)
	wantChanges := f.changes()

	f.open() // a new Service on the same file
	gotStatus, err := f.svc.Status("prod")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotStatus.Environment, env) || gotStatus.Version != wantStatus.Version ||
		gotStatus.Latest.State != Deploying || gotStatus.Latest.Percent != 40 {
		t.Errorf("status after reopen = %+v, want %+v", gotStatus, wantStatus)
	}
	gotDeps, _ := f.svc.Deployments("prod")
	for i := range gotDeps {
		if !gotDeps[i].StartedAt.Equal(wantDeps[i].StartedAt) || !gotDeps[i].CompletedAt.Equal(wantDeps[i].CompletedAt) {
			t.Errorf("deployment %d times differ", i)
		}
		gotDeps[i].StartedAt, gotDeps[i].CompletedAt = wantDeps[i].StartedAt, wantDeps[i].CompletedAt
	}
	if !reflect.DeepEqual(gotDeps, wantDeps) {
		t.Errorf("deployments after reopen:\n got %+v\nwant %+v", gotDeps, wantDeps)
	}
	gotVersions := f.svc.Versions()
	if len(gotVersions) != len(wantVersions) || string(gotVersions[1].Content) != string(wantVersions[1].Content) ||
		gotVersions[1].Description != "kill=true" || !gotVersions[1].CreatedAt.Equal(t0) {
		t.Errorf("versions after reopen = %+v", gotVersions)
	}
	// The same entities are on the new version: stickiness survives a restart.
	if _, on := f.share(2000); !reflect.DeepEqual(on, wantOn) {
		t.Errorf("entities on the new version changed across the restart: %d vs %d", len(on), len(wantOn))
	}
	if got := f.changes(); len(got) != len(wantChanges) {
		t.Errorf("ledger has %d entries, want %d", len(got), len(wantChanges))
	}
	// And the controller carries on.
	f.eval(t0.Add(time.Hour + 30*time.Minute))
	if d := f.latest(); d.State != Baking {
		t.Errorf("after reopen and Eval: %s", d.State)
	}
	// Every ledger entry is a flag entry for the environment's subject.
	for _, c := range f.changes() {
		if c.Kind != "flag" || c.Subject != "shop/prod/flags" || c.Actor == "" || c.Reason == "" || len(c.Detail) == 0 {
			t.Errorf("ledger entry %+v", c)
		}
	}
}

// failingStore fails writes on demand; a fake because a failing disk
// cannot be arranged here.
type failingStore struct {
	Store
	fail bool
}

func (s *failingStore) SaveDeployment(ctx context.Context, d Deployment, cs ...Change) error {
	if s.fail {
		return errors.New("disk I/O error")
	}
	return s.Store.SaveDeployment(ctx, d, cs...)
}

// TestRollbackWhileStoreFails: an alarm rolls back at once even when the
// store cannot be written; the rollback is stored by a later Eval.
func TestRollbackWhileStoreFails(t *testing.T) {
	f := newFixture(t, Environment{Monitors: []string{"errors"}})
	fs := &failingStore{Store: f.store}
	svc, err := New(Config{App: "shop", Profile: "flags", DefaultEnvironment: "prod", Logger: quiet}, fs)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	f.deploy(1, AllAtOnce, t0)
	f.eval(t0.Add(10 * time.Minute))
	f.deploy(2, AllAtOnce, t0.Add(time.Hour))
	fs.fail = true
	if err := svc.Eval(t.Context(), t0.Add(time.Hour+11*time.Minute)); err == nil {
		t.Fatal("Eval with a failing store succeeded")
	}
	if d := f.latest(); d.State != Baking {
		t.Fatalf("state %s advanced without being stored", d.State)
	}
	err = svc.Fire(t.Context(), alarmTransition("errors", t0.Add(time.Hour+12*time.Minute)))
	if err == nil || !strings.Contains(err.Error(), "stored later") {
		t.Fatalf("Fire = %v", err)
	}
	if v, _ := svc.Bool("kill", "anyone"); v {
		t.Fatal("rollback not applied while the store fails")
	}
	fs.fail = false
	f.eval(t0.Add(time.Hour + 13*time.Minute))
	stored, _ := f.store.Deployments(t.Context(), "prod")
	if got := stored[len(stored)-1].State; got != RolledBack {
		t.Errorf("stored state = %s, want ROLLED_BACK", got)
	}
	cs := f.changes()
	if c := cs[len(cs)-1]; c.Action != ActionRollback || c.Actor != "alarm/errors" {
		t.Errorf("last ledger entry = %+v, want the stored rollback", c)
	}
}
