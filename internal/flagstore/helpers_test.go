package flagstore

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"holdfast/internal/alarm"
	"holdfast/internal/state"
)

var quiet = slog.New(slog.DiscardHandler)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const killDoc = `{"version": "1",
 "flags": {"kill": {"name": "Kill switch", "description": "Routes orders to the new cluster when on.",
   "attributes": {"target": {"constraints": {"type": "string", "enum": ["old", "new"], "required": true}}}}},
 "values": {"kill": {"enabled": %v, "target": %q}}}`

func killContent(enabled bool) []byte {
	target := "old"
	if enabled {
		target = "new"
	}
	return []byte(fmt.Sprintf(killDoc, enabled, target))
}

type fixture struct {
	t     testing.TB
	svc   *Service
	store *StateStore
	path  string
}

// newFixture returns a Service on a real state store (SQLite) with environment
// "prod" monitoring alarm "errors", and versions 1 (kill off) and 2 (on).
func newFixture(t testing.TB, env Environment) *fixture {
	t.Helper()
	f := &fixture{t: t, path: t.TempDir()}
	f.open()
	ctx := context.Background()
	if env.Name == "" {
		env.Name = "prod"
	}
	if err := f.svc.PutEnvironment(ctx, env, "test", t0); err != nil {
		t.Fatal(err)
	}
	for i, on := range []bool{false, true} {
		v, err := f.svc.CreateVersion(ctx, killContent(on), fmt.Sprintf("kill=%v", on), "test", t0)
		if err != nil {
			t.Fatal(err)
		}
		if v.Number != i+1 {
			t.Fatalf("version number = %d, want %d", v.Number, i+1)
		}
	}
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	db, err := state.Open(context.Background(), f.path)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { db.Close() })
	st := NewStateStore(db, "shop", "flags")
	svc, err := New(Config{App: "shop", Profile: "flags", DefaultEnvironment: "prod", Logger: quiet}, st)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := svc.Load(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.svc, f.store = svc, st
}

func (f *fixture) deploy(version int, s Strategy, now time.Time) Deployment {
	f.t.Helper()
	d, err := f.svc.StartDeployment(context.Background(),
		DeployRequest{Environment: "prod", Version: version, Strategy: s, Description: "test", Actor: "alice"}, now)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *fixture) eval(now time.Time) {
	f.t.Helper()
	if err := f.svc.Eval(context.Background(), now); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) latest() Deployment {
	f.t.Helper()
	st, err := f.svc.Status("prod")
	if err != nil || st.Latest == nil {
		f.t.Fatalf("status: %v %v", st, err)
	}
	return *st.Latest
}

func (f *fixture) fire(name string, to alarm.State, at time.Time) {
	f.t.Helper()
	if err := f.svc.Fire(context.Background(), alarm.Transition{
		Alarm: name, From: alarm.StateOK, To: to, Reason: "threshold crossed: 7 errors > 2", Time: at}); err != nil {
		f.t.Fatal(err)
	}
}

// share is the fraction (in %) of n entities that see the flag on, and the
// set of those that do.
func (f *fixture) share(n int) (float64, map[int]bool) {
	on := map[int]bool{}
	for i := range n {
		if v, known := f.svc.Bool("kill", fmt.Sprintf("client-%d", i)); known && v {
			on[i] = true
		}
	}
	return 100 * float64(len(on)) / float64(n), on
}

func (f *fixture) changes() []Change {
	f.t.Helper()
	cs, err := f.store.Changes(context.Background(), "shop/prod/flags", 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	// oldest first
	for i, j := 0, len(cs)-1; i < j; i, j = i+1, j-1 {
		cs[i], cs[j] = cs[j], cs[i]
	}
	return cs
}

func alarmTransition(name string, at time.Time) alarm.Transition {
	return alarm.Transition{Alarm: name, From: alarm.StateOK, To: alarm.StateAlarm, Reason: "threshold crossed", Time: at}
}
